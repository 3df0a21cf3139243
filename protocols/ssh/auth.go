package ssh

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
)

// grantKey is the Permissions extension naming the grant an auth callback
// issued. Only the grant of the method that finally succeeded reaches
// Handle, so a key that was merely queried never becomes the identity.
const grantKey = "sluice-grant"

// grant is an authenticated identity routed to a target it may use.
type grant struct {
	id     *identity.Identity
	target *config.Target
}

// authState is one connection's authentication: the callbacks close over it.
type authState struct {
	ctx context.Context
	e   *Engine

	mu        sync.Mutex
	grants    map[string]grant
	bannered  map[string]bool // messages already shown, so retries do not repeat them
	lastError string          // metric label for a failed handshake
}

func newAuthState(ctx context.Context, e *Engine) *authState {
	return &authState{ctx: ctx, e: e, grants: map[string]grant{}, bannered: map[string]bool{}, lastError: "handshake"}
}

func (a *authState) serverConfig() *gossh.ServerConfig {
	sc := &gossh.ServerConfig{
		PublicKeyCallback: func(md gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			return a.authenticate(md.User(), func(name string) (*identity.Identity, error) {
				if cert, ok := key.(*gossh.Certificate); ok {
					// The identity package checks the signer against
					// identity.ssh_user_ca, the principal, validity and options.
					ctx := identity.ContextWithClientAddr(a.ctx, md.RemoteAddr().String())
					return a.e.deps.Auth.SSHCertificateContext(ctx, name, cert)
				}
				return a.e.deps.Auth.PublicKey(name, key)
			})
		},
		PasswordCallback: func(md gossh.ConnMetadata, pw []byte) (*gossh.Permissions, error) {
			return a.authenticate(md.User(), func(name string) (*identity.Identity, error) {
				return a.e.deps.Auth.Password(identity.ContextWithClientAddr(a.ctx, md.RemoteAddr().String()), name, string(pw))
			})
		},
		KeyboardInteractiveCallback: func(md gossh.ConnMetadata, ch gossh.KeyboardInteractiveChallenge) (*gossh.Permissions, error) {
			return a.authenticate(md.User(), func(name string) (*identity.Identity, error) {
				answers, err := ch("", "", []string{"Sluice token for " + name + ": "}, []bool{false})
				if err != nil {
					return nil, fmt.Errorf("keyboard-interactive: %w", err)
				}
				if len(answers) != 1 {
					return nil, identity.ErrBadCredentials
				}
				return a.e.deps.Auth.Password(identity.ContextWithClientAddr(a.ctx, md.RemoteAddr().String()), name, answers[0])
			})
		},
		MaxAuthTries:  6,
		ServerVersion: "SSH-2.0-Sluice",
		Config:        gossh.Config{Ciphers: preferredCiphers},
	}
	sc.AddHostKey(a.e.hostKey)
	return sc
}

// preferredCiphers leaves out chacha20-poly1305: Go has no assembly for it
// on amd64, and clients pick it first when offered. AES (GCM, or CTR with
// an encrypt-then-MAC SHA-2 MAC) runs on AES-NI at several times its speed.
var preferredCiphers = []string{
	"aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
}

// authenticate routes user (`identity+target`), checks the credential with
// check, and checks the identity may use the target. Routing and
// permission errors are shown to the client as a banner (once); a bad
// credential is not, because clients try several keys in turn.
func (a *authState) authenticate(user string, check func(name string) (*identity.Identity, error)) (*gossh.Permissions, error) {
	name, targetName, ok := splitUser(user)
	if !ok {
		return nil, a.refuse("routing", fmt.Sprintf("sluice: log in as identity+target, e.g. ssh alice+web1@gateway (got %q)\n", user))
	}
	id, err := check(name)
	if err != nil {
		if msg := identity.PublicMessage(err); msg != "" {
			// Expired, revoked, rate limited: the client is told, since
			// trying other keys or typing the token again will not help.
			return nil, a.refuse("refused", "sluice: "+msg+"\n")
		}
		a.setReason("credentials")
		return nil, fmt.Errorf("identity %q: %w", name, err)
	}
	t, found := a.e.cfg.Target(targetName)
	if !found || (t.Protocol != "ssh" && t.Protocol != "command") {
		return nil, a.refuse("unknown_target", fmt.Sprintf("sluice: unknown ssh target %q\n", targetName))
	}
	if err := identity.Allowed(id, t); err != nil {
		return nil, a.refuse("not_allowed", "sluice: "+err.Error()+"\n")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := strconv.Itoa(len(a.grants) + 1)
	a.grants[k] = grant{id: id, target: t}
	return &gossh.Permissions{Extensions: map[string]string{grantKey: k}}, nil
}

// refuse fails an attempt with a user-visible reason, shown once per connection.
func (a *authState) refuse(reason, msg string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastError = reason
	err := errors.New(strings.TrimSpace(msg))
	if a.bannered[msg] {
		return err
	}
	a.bannered[msg] = true
	return &gossh.BannerError{Err: err, Message: msg}
}

func (a *authState) setReason(r string) {
	a.mu.Lock()
	a.lastError = r
	a.mu.Unlock()
}

func (a *authState) failureReason() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastError
}

// granted returns the grant the successful auth method issued.
func (a *authState) granted(p *gossh.Permissions) (grant, bool) {
	if p == nil {
		return grant{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.grants[p.Extensions[grantKey]]
	return g, ok
}

// splitUser splits `identity+target`. The last '+' separates them, so an
// identity name cannot contain one but the split is unambiguous anyway.
func splitUser(user string) (name, target string, ok bool) {
	i := strings.LastIndexByte(user, '+')
	if i <= 0 || i == len(user)-1 {
		return "", "", false
	}
	return user[:i], user[i+1:], true
}
