package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Gateway tokens are short-lived credentials minted by `sluice token issue`
// for CI jobs and AI agents, used as the DSN or SSH password:
//
//	slu1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>
//
// The MAC key is derived from identity.token_key, so the gateway verifies
// a token by its signature and stores nothing but a revocation list.
const gatewayTokenPrefix = "slu1."

// maxTokenLen bounds what is decoded from an untrusted secret.
const maxTokenLen = 8 << 10

// minTokenKeyLen is the shortest identity.token_key accepted.
const minTokenKeyLen = 16

// TokenClaims is what a gateway token says.
type TokenClaims struct {
	Name     string   `json:"sub"`
	Groups   []string `json:"grp,omitempty"`
	Kind     Kind     `json:"knd,omitempty"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	ID       string   `json:"jti"`
	// Unlisted marks a token issued for a name that is not a configured
	// identity (sluice token issue --allow-unlisted). Without it, the name
	// must still be configured when the token is used.
	Unlisted bool `json:"unl,omitempty"`
}

// ExpiresAt is the token's exp as a time.
func (c *TokenClaims) ExpiresAt() time.Time { return time.Unix(c.Expiry, 0) }

var errMalformedToken = errors.New("malformed gateway token")

// tokenMACKey derives the MAC key, so token_key is never used directly as a
// key for anything else that might come to share it.
func tokenMACKey(tokenKey []byte) []byte {
	m := hmac.New(sha256.New, tokenKey)
	m.Write([]byte("sluice gateway token v1"))
	return m.Sum(nil)
}

// NewTokenID returns a random token id (jti).
func NewTokenID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	// The first character then comes from A-Z a-f, never "-": an id is
	// passed on command lines (`sluice token revoke ID`), where a leading
	// "-" reads as a flag. 127 random bits remain.
	b[0] &= 0x7f
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SignToken serialises and signs claims with token_key.
func SignToken(tokenKey []byte, c TokenClaims) (string, error) {
	if len(tokenKey) < minTokenKeyLen {
		return "", fmt.Errorf("identity.token_key must be at least %d characters", minTokenKeyLen)
	}
	if c.Name == "" || c.ID == "" || c.Expiry <= c.IssuedAt {
		return "", errors.New("token needs a name, an id and an expiry after its issue time")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("token claims: %w", err)
	}
	signed := gatewayTokenPrefix + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, tokenMACKey(tokenKey))
	m.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// ParseToken checks a gateway token's signature and decodes its claims. It
// does not judge expiry or revocation (VerifyToken does); `sluice token
// revoke TOKEN` uses it to find the id.
func ParseToken(tokenKey []byte, token string) (*TokenClaims, error) {
	if len(token) > maxTokenLen || !strings.HasPrefix(token, gatewayTokenPrefix) {
		return nil, errMalformedToken
	}
	dot := strings.LastIndexByte(token, '.')
	if dot < len(gatewayTokenPrefix) {
		return nil, errMalformedToken
	}
	signed, sigText := token[:dot], token[dot+1:]
	sig, err := base64.RawURLEncoding.DecodeString(sigText)
	if err != nil || len(sig) != sha256.Size {
		return nil, errMalformedToken
	}
	m := hmac.New(sha256.New, tokenMACKey(tokenKey))
	m.Write([]byte(signed))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return nil, errors.New("gateway token signature does not verify")
	}
	payload, err := base64.RawURLEncoding.DecodeString(signed[len(gatewayTokenPrefix):])
	if err != nil {
		return nil, errMalformedToken
	}
	var c TokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedToken, err)
	}
	if c.Name == "" || c.ID == "" {
		return nil, fmt.Errorf("%w: no sub or jti", errMalformedToken)
	}
	return &c, nil
}

// IssueRequest is what `sluice token issue` asks for.
type IssueRequest struct {
	Name   string
	TTL    time.Duration
	Groups []string
	// AllowUnlisted issues for a name that is not a configured identity.
	AllowUnlisted bool
}

// IssueToken mints a gateway token for a configured identity (or any name
// with AllowUnlisted). The identity's kind comes from the config.
func (a *Authenticator) IssueToken(req IssueRequest) (string, *TokenClaims, error) {
	if len(a.tokenKey) == 0 {
		return "", nil, errors.New("identity.token_key is not set: gateway tokens are disabled")
	}
	if req.TTL <= 0 {
		return "", nil, errors.New("--ttl must be positive")
	}
	kind := Person
	s, listed := a.static[req.Name]
	switch {
	case listed:
		if s.cfg.Kind != "" {
			kind = Kind(s.cfg.Kind)
		}
	case !req.AllowUnlisted:
		return "", nil, fmt.Errorf("identity %q is not configured under identities (use --allow-unlisted to issue anyway)", req.Name)
	}
	if !namePattern(req.Name) {
		return "", nil, fmt.Errorf("%q is not a valid identity name", req.Name)
	}
	jti, err := NewTokenID()
	if err != nil {
		return "", nil, err
	}
	now := a.now()
	c := TokenClaims{
		Name: req.Name, Groups: req.Groups, Kind: kind,
		IssuedAt: now.Unix(), Expiry: now.Add(req.TTL).Unix(), ID: jti,
		Unlisted: !listed,
	}
	tok, err := SignToken(a.tokenKey, c)
	if err != nil {
		return "", nil, err
	}
	return tok, &c, nil
}

// namePattern mirrors the config's identity name rule, so an issued token
// names something an engine can route (alice+web1 splits on '+').
func namePattern(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '_' || r == '.' || r == '-'))
		if !ok {
			return false
		}
	}
	return true
}

// verifyGatewayToken checks signature, expiry, revocation and that the
// name is (still) configured, and builds the identity.
func (a *Authenticator) verifyGatewayToken(token string) (*Identity, error) {
	if len(a.tokenKey) == 0 {
		return nil, refuse(ErrBadCredentials, "gateway token presented but identity.token_key is not set")
	}
	c, err := ParseToken(a.tokenKey, token)
	if err != nil {
		return nil, refuse(ErrBadCredentials, "gateway token: %v", err)
	}
	exp := c.ExpiresAt()
	if !a.now().Before(exp) {
		return nil, refuse(ErrTokenExpired, "gateway token %s for %q expired at %s", c.ID, c.Name, exp.UTC().Format(time.RFC3339))
	}
	revoked, err := a.revoked.isRevoked(c.ID)
	if err != nil {
		// Fail closed: an unreadable revocation list must not let revoked tokens in.
		return nil, refuse(ErrBadCredentials, "gateway token %s: revocation list: %v", c.ID, err)
	}
	if revoked {
		return nil, refuse(ErrTokenRevoked, "gateway token %s for %q is revoked", c.ID, c.Name)
	}
	id := &Identity{Name: c.Name, Kind: c.Kind, Method: "gateway-token", Expiry: exp, TokenID: c.ID, Groups: append([]string(nil), c.Groups...)}
	if id.Kind == "" {
		id.Kind = Person
	}
	s, listed := a.static[c.Name]
	if !listed && !c.Unlisted {
		return nil, refuse(ErrBadCredentials, "gateway token %s names %q, which is no longer configured", c.ID, c.Name)
	}
	if listed {
		// The config stays the authority for kind, groups and target
		// restrictions, so editing it affects tokens already issued.
		mergeStatic(id, s)
	}
	return id, nil
}
