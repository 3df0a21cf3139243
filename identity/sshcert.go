package identity

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// parseUserCAs reads identity.ssh_user_ca (authorized_keys lines).
func parseUserCAs(lines []string) ([]ssh.PublicKey, error) {
	var out []ssh.PublicKey
	for i, line := range lines {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("identity.ssh_user_ca[%d]: %w", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// SSHCertificate authenticates user by an OpenSSH user certificate signed
// by one of identity.ssh_user_ca. It is SSHCertificateContext without a
// client address, so a certificate restricted by source-address is refused.
func (a *Authenticator) SSHCertificate(user string, cert *ssh.Certificate) (*Identity, error) {
	return a.SSHCertificateContext(context.Background(), user, cert)
}

// SSHCertificateContext authenticates user by an OpenSSH user certificate:
// it must be a user certificate, signed by a configured user CA, valid now
// (valid after/before), list user among its principals (a certificate
// without principals is refused, although OpenSSH treats it as "any"), and
// carry no critical option the gateway does not enforce. source-address is
// enforced against the client address in ctx (ContextWithClientAddr);
// force-command and unknown options are refused. Failures are rate-limited
// and audited like passwords.
//
// The identity's kind, groups and targets come from the configured identity
// of that name when there is one; otherwise it is a person with no groups.
func (a *Authenticator) SSHCertificateContext(ctx context.Context, user string, cert *ssh.Certificate) (*Identity, error) {
	return a.attempt(ctx, user, "ssh-cert", func() (*Identity, error) {
		return a.checkSSHCertificate(ctx, user, cert)
	})
}

func (a *Authenticator) checkSSHCertificate(ctx context.Context, user string, cert *ssh.Certificate) (*Identity, error) {
	if cert == nil {
		return nil, refuse(ErrBadCredentials, "ssh certificate: none")
	}
	if len(a.sshCAs) == 0 {
		return nil, refuse(ErrBadCredentials, "ssh certificate offered but identity.ssh_user_ca is empty")
	}
	if cert.CertType != ssh.UserCert {
		return nil, refuse(ErrBadCredentials, "ssh certificate %q is a host certificate", cert.KeyId)
	}
	if !a.isUserCA(cert.SignatureKey) {
		return nil, refuse(ErrBadCredentials, "ssh certificate %q: signed by an unknown CA (%s)", cert.KeyId, ssh.FingerprintSHA256(cert.SignatureKey))
	}
	if len(cert.ValidPrincipals) == 0 {
		return nil, refuse(ErrBadCredentials, "ssh certificate %q lists no principals", cert.KeyId)
	}
	if src, ok := cert.CriticalOptions["source-address"]; ok {
		if err := checkSourceAddress(ClientAddr(ctx), src); err != nil {
			return nil, refuse(ErrBadCredentials, "ssh certificate %q: %v", cert.KeyId, err)
		}
	}
	if !certValidAt(cert, a.now()) {
		return nil, refuse(ErrCertificateExpired, "ssh certificate %q: outside its validity window", cert.KeyId)
	}
	checker := ssh.CertChecker{
		Clock: a.now,
		// source-address was checked above; anything else (force-command,
		// verify-required) the gateway cannot honour, so it is refused.
		SupportedCriticalOptions: []string{"source-address"},
	}
	if err := checker.CheckCert(user, cert); err != nil {
		return nil, refuse(ErrBadCredentials, "ssh certificate %q: %v", cert.KeyId, err)
	}
	id := &Identity{Name: user, Kind: Person, Method: "ssh-cert"}
	if cert.ValidBefore != ssh.CertTimeInfinity && cert.ValidBefore <= uint64(1<<62) {
		id.Expiry = time.Unix(int64(cert.ValidBefore), 0)
	}
	if s, ok := a.static[user]; ok {
		mergeStatic(id, s)
	}
	return id, nil
}

// certValidAt applies the validity window (CheckCert does too; this gives
// the client its own message for it).
func certValidAt(cert *ssh.Certificate, now time.Time) bool {
	t := now.Unix()
	if t < 0 || uint64(t) < cert.ValidAfter {
		return false
	}
	return cert.ValidBefore == ssh.CertTimeInfinity || uint64(t) < cert.ValidBefore
}

func (a *Authenticator) isUserCA(k ssh.PublicKey) bool {
	if k == nil {
		return false
	}
	got := k.Marshal()
	for _, ca := range a.sshCAs {
		want := ca.Marshal()
		if len(want) == len(got) && subtle.ConstantTimeCompare(want, got) == 1 {
			return true
		}
	}
	return false
}

// checkSourceAddress enforces a certificate's source-address option: a
// comma-separated list of addresses or CIDRs the client must come from.
func checkSourceAddress(clientAddr, allowed string) error {
	if clientAddr == "" {
		return fmt.Errorf("source-address restricted, client address unknown")
	}
	host := clientAddr
	if h, _, err := net.SplitHostPort(clientAddr); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("source-address restricted, client address %q is not an IP", clientAddr)
	}
	for _, s := range strings.Split(allowed, ",") {
		s = strings.TrimSpace(s)
		if _, n, err := net.ParseCIDR(s); err == nil {
			if n.Contains(ip) {
				return nil
			}
			continue
		}
		if a := net.ParseIP(s); a != nil && a.Equal(ip) {
			return nil
		}
	}
	return fmt.Errorf("client %s not in source-address %q", host, allowed)
}
