package identity

import (
	"crypto/subtle"

	"golang.org/x/crypto/ssh"
)

// PublicKey authenticates user by an SSH public key listed in the
// identity's ssh_keys. The keys are compared in their wire form, so a
// comment or options in the config do not matter. Unknown user and unknown
// key are the same ErrBadCredentials.
//
// SSH user certificates (identity.ssh_user_ca) are not handled here yet.
func (a *Authenticator) PublicKey(user string, key ssh.PublicKey) (*Identity, error) {
	if key == nil {
		return nil, ErrBadCredentials
	}
	s, ok := a.static[user]
	if !ok {
		return nil, ErrBadCredentials
	}
	offered := key.Marshal()
	for _, line := range s.cfg.SSHKeys {
		known, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			// A broken config line must not lock the identity out of its
			// other keys; config validation is where it should be reported.
			continue
		}
		k := known.Marshal()
		if len(k) == len(offered) && subtle.ConstantTimeCompare(k, offered) == 1 {
			return s.identity("ssh-key"), nil
		}
	}
	return nil, ErrBadCredentials
}
