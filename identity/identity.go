// Package identity turns what a client presented (a user name and a token, an
// SSH key) into a Sluice identity, or a clear refusal. Engines call it and
// never parse tokens themselves.
package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluice-gw/sluice/config"
)

// Kind says whether an identity is a person or a service account.
type Kind string

// Identity kinds.
const (
	Person  Kind = "person"
	Service Kind = "service"
)

// Identity is an authenticated principal.
type Identity struct {
	Name   string
	Groups []string
	Kind   Kind
	// Method is how the identity authenticated: token, scram, oidc, gateway-token, ssh-key, ssh-cert.
	Method string
	// Expiry is when the credential expires; zero when it does not.
	Expiry time.Time
	// Targets restricts a service account to these targets; empty = any.
	Targets []string
}

// InGroup reports whether the identity is a member of group g.
func (id *Identity) InGroup(g string) bool { return slices.Contains(id.Groups, g) }

// ErrBadCredentials is returned for an unknown identity or a wrong secret.
// The two are deliberately indistinguishable to the client.
var ErrBadCredentials = errors.New("authentication failed: unknown identity or wrong token")

// NotAllowedError refuses an authenticated identity on a target.
type NotAllowedError struct{ Identity, Target string }

func (e *NotAllowedError) Error() string {
	return fmt.Sprintf("identity %q is not allowed to connect to target %q", e.Identity, e.Target)
}

type staticIdentity struct {
	cfg       config.Identity
	tokenHash [32]byte
	hasToken  bool
	// plain is the token itself when the config holds it, so SCRAM can be offered.
	plain string
}

// Authenticator checks credentials against the configured identities.
type Authenticator struct {
	static map[string]*staticIdentity
}

// New builds an Authenticator from the config.
func New(cfg *config.Config) (*Authenticator, error) {
	a := &Authenticator{static: map[string]*staticIdentity{}}
	for _, ci := range cfg.Identities {
		s := &staticIdentity{cfg: ci}
		switch {
		case ci.Token != "":
			s.tokenHash = sha256.Sum256([]byte(ci.Token.Reveal()))
			s.hasToken = true
			s.plain = ci.Token.Reveal()
		case ci.TokenSHA256 != "":
			b, err := hex.DecodeString(ci.TokenSHA256)
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("identity %q: bad token_sha256", ci.Name)
			}
			copy(s.tokenHash[:], b)
			s.hasToken = true
		}
		a.static[ci.Name] = s
	}
	return a, nil
}

func (s *staticIdentity) identity(method string) *Identity {
	return &Identity{
		Name:    s.cfg.Name,
		Groups:  slices.Clone(s.cfg.Groups),
		Kind:    Kind(s.cfg.Kind),
		Method:  method,
		Targets: slices.Clone(s.cfg.Targets),
	}
}

// Password authenticates a user name plus a secret presented as a password
// (a static token today). The comparison is constant-time over hashes.
func (a *Authenticator) Password(ctx context.Context, user, secret string) (*Identity, error) {
	s, ok := a.static[user]
	h := sha256.Sum256([]byte(secret))
	if !ok || !s.hasToken {
		// Compare anyway so timing does not reveal which names exist.
		var zero [32]byte
		subtle.ConstantTimeCompare(h[:], zero[:])
		return nil, ErrBadCredentials
	}
	if subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) != 1 {
		return nil, ErrBadCredentials
	}
	return s.identity("token"), nil
}

// PlainToken returns the static token for user when the config holds it in
// clear, so a protocol can run a challenge-response (SCRAM) against it
// instead of asking for the token in clear. ok is false otherwise.
func (a *Authenticator) PlainToken(user string) (token string, ok bool) {
	s, found := a.static[user]
	if !found || s.plain == "" {
		return "", false
	}
	return s.plain, true
}

// Verified returns the identity for user after a protocol has verified its
// secret itself (SCRAM). method names how.
func (a *Authenticator) Verified(user, method string) (*Identity, error) {
	s, ok := a.static[user]
	if !ok {
		return nil, ErrBadCredentials
	}
	return s.identity(method), nil
}

// Allowed checks that id may connect to target.
func Allowed(id *Identity, t *config.Target) error {
	if len(id.Targets) > 0 && !slices.Contains(id.Targets, t.Name) {
		return &NotAllowedError{Identity: id.Name, Target: t.Name}
	}
	if t.Allow == nil {
		return nil
	}
	if slices.Contains(t.Allow.Identities, id.Name) {
		return nil
	}
	for _, g := range t.Allow.Groups {
		if id.InGroup(g) {
			return nil
		}
	}
	return &NotAllowedError{Identity: id.Name, Target: t.Name}
}
