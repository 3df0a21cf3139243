// Package identity turns what a client presented (a user name and a token, an
// SSH key or certificate) into a Sluice identity, or a clear refusal. Engines
// call it and never parse tokens themselves.
//
// Credentials, and the decisions taken about them:
//
//   - Static tokens from identities[] (constant-time over SHA-256).
//   - OIDC JWTs from identity.oidc[] issuers, presented as the password. The
//     user name given must equal the mapped name claim; there is no wildcard
//     user such as "oidc", so the session, policy and audit trail always name
//     the person the client said it was. Discovery is lazy (first use, retried
//     every few seconds while the IdP is down), so the gateway starts without it.
//   - Gateway tokens (slu1.…) signed with identity.token_key, issued by
//     `sluice token issue`, revocable through a list in data_dir.
//   - SSH user certificates signed by identity.ssh_user_ca (sshcert.go).
//
// For OIDC, gateway tokens and certificates, a configured identity of the same
// name still decides kind and targets and adds its groups.
//
// Failed attempts are rate-limited per client address and per name with an
// exponential backoff (ratelimit.go) and logged as audit events, never with
// the secret. Error values are safe to show to clients; the reason behind a
// refusal goes only to the audit log.
package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

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
	// TokenID is the gateway token's id (jti) when Method is
	// "gateway-token", empty otherwise. It is not a secret: it names the
	// token in the revocation list, so sessions opened with a token can be
	// ended when it is revoked (WatchRevocations).
	TokenID string
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

// Authenticator checks credentials against the configured identities,
// OIDC issuers, gateway tokens and SSH user CAs.
type Authenticator struct {
	static   map[string]*staticIdentity
	oidc     []*oidcIssuer
	tokenKey []byte
	revoked  *revocations
	sshCAs   []ssh.PublicKey
	// maxAfterExpiry is identity.max_session_after_expiry; nil = no limit.
	maxAfterExpiry *time.Duration

	now     func() time.Time
	log     *slog.Logger
	limiter *limiter
}

// Options are the Authenticator's dependencies; zero values get defaults.
type Options struct {
	// Now is the clock (tokens, certificates, rate limit). Default time.Now.
	Now func() time.Time
	// Log receives audit events for refused attempts. Default slog.Default().
	Log *slog.Logger
	// HTTPClient fetches OIDC discovery and JWKS. Default: 10s timeout.
	HTTPClient *http.Client
	// RateLimit tunes the failed-auth backoff. Default DefaultRateLimit.
	RateLimit RateLimit
}

// New builds an Authenticator from the config with default Options.
func New(cfg *config.Config) (*Authenticator, error) {
	return NewWithOptions(cfg, Options{})
}

// NewWithOptions builds an Authenticator from the config. It never contacts
// an identity provider: OIDC discovery happens on first use.
func NewWithOptions(cfg *config.Config, opts Options) (*Authenticator, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	a := &Authenticator{
		static:  map[string]*staticIdentity{},
		now:     opts.Now,
		log:     opts.Log,
		limiter: newLimiter(opts.RateLimit, opts.Now),
		revoked: newRevocations(cfg.DataDir),
	}
	if k := cfg.Identity.TokenKey.Reveal(); k != "" {
		if len(k) < minTokenKeyLen {
			return nil, fmt.Errorf("identity.token_key: must be at least %d characters", minTokenKeyLen)
		}
		a.tokenKey = []byte(k)
	}
	for i, c := range cfg.Identity.OIDC {
		o, err := newOIDCIssuer(i, c, opts.HTTPClient, opts.Now)
		if err != nil {
			return nil, err
		}
		a.oidc = append(a.oidc, o)
	}
	cas, err := parseUserCAs(cfg.Identity.SSHUserCA)
	if err != nil {
		return nil, err
	}
	a.sshCAs = cas
	if d := cfg.Identity.MaxSessionAfterExpiry; d != nil {
		v := d.Duration
		a.maxAfterExpiry = &v
	}
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

// mergeStatic applies a configured identity of the same name to an identity
// that authenticated another way (OIDC, gateway token, SSH certificate): the
// config decides kind and target restrictions, and its groups are added.
func mergeStatic(id *Identity, s *staticIdentity) {
	if s.cfg.Kind != "" {
		id.Kind = Kind(s.cfg.Kind)
	}
	for _, g := range s.cfg.Groups {
		if !slices.Contains(id.Groups, g) {
			id.Groups = append(id.Groups, g)
		}
	}
	id.Targets = slices.Clone(s.cfg.Targets)
}

// Password authenticates a user name plus a secret presented as a password:
// a static token (constant-time over hashes), a gateway token (slu1.…) or an
// OIDC JWT. For tokens the user name must equal the name the token carries
// (the mapped name claim for OIDC); there is no wildcard user name.
//
// Attempts are rate-limited per client address (ContextWithClientAddr) and
// per user: while limited, a *RateLimitedError is returned without looking
// at the secret. Refusals are ErrBadCredentials, ErrTokenExpired,
// ErrTokenRevoked, ErrIdentityProviderUnavailable or ErrRateLimited (test
// with errors.Is); their text is fit for the client, and the reason is
// logged as an audit event.
func (a *Authenticator) Password(ctx context.Context, user, secret string) (*Identity, error) {
	return a.attempt(ctx, user, "password", func() (*Identity, error) {
		return a.checkPassword(ctx, user, secret)
	})
}

func (a *Authenticator) checkPassword(ctx context.Context, user, secret string) (*Identity, error) {
	if id, ok := a.checkStatic(user, secret); ok {
		return id, nil
	}
	var (
		id  *Identity
		err error
	)
	switch {
	case strings.HasPrefix(secret, gatewayTokenPrefix):
		id, err = a.verifyGatewayToken(secret)
	case len(a.oidc) > 0 && looksLikeJWT(secret):
		id, err = a.verifyOIDC(ctx, secret)
		if err == nil {
			if s, ok := a.static[id.Name]; ok {
				mergeStatic(id, s)
			}
		}
	default:
		return nil, refuse(ErrBadCredentials, "unknown identity or wrong static token")
	}
	if err != nil {
		return nil, err
	}
	if id.Name != user {
		return nil, refuse(ErrBadCredentials, "%s token names %q, presented as user %q", id.Method, id.Name, user)
	}
	return id, nil
}

// checkStatic compares secret with user's static token in constant time.
func (a *Authenticator) checkStatic(user, secret string) (*Identity, bool) {
	s, ok := a.static[user]
	h := sha256.Sum256([]byte(secret))
	if !ok || !s.hasToken {
		// Compare anyway so timing does not reveal which names exist.
		var zero [32]byte
		subtle.ConstantTimeCompare(h[:], zero[:])
		return nil, false
	}
	if subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) != 1 {
		return nil, false
	}
	return s.identity("token"), true
}

// Bearer identifies the caller of the admin API from a bearer token: a
// gateway token or an OIDC JWT (the admin token itself is the admin API's
// business). The name comes from the token. Rate-limited per client
// address like Password.
func (a *Authenticator) Bearer(ctx context.Context, token string) (*Identity, error) {
	return a.attempt(ctx, "", "bearer", func() (*Identity, error) {
		switch {
		case strings.HasPrefix(token, gatewayTokenPrefix):
			return a.verifyGatewayToken(token)
		case len(a.oidc) > 0 && looksLikeJWT(token):
			id, err := a.verifyOIDC(ctx, token)
			if err == nil {
				if s, ok := a.static[id.Name]; ok {
					mergeStatic(id, s)
				}
			}
			return id, err
		}
		return nil, refuse(ErrBadCredentials, "bearer token is neither a gateway token nor a JWT from a configured issuer")
	})
}

// SessionDeadline is when a session of id must end because its credential
// expired: Expiry plus identity.max_session_after_expiry. ok is false when
// sessions may outlive the credential (no expiry, or the switch unset).
func (a *Authenticator) SessionDeadline(id *Identity) (deadline time.Time, ok bool) {
	if a.maxAfterExpiry == nil || id == nil || id.Expiry.IsZero() {
		return time.Time{}, false
	}
	return id.Expiry.Add(*a.maxAfterExpiry), true
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
