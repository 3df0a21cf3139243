package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/sluice-gw/sluice/config"
)

const (
	// oidcClockSkew is how far past exp a token is still accepted (nbf is
	// given go-oidc's own 5 minutes).
	oidcClockSkew = 30 * time.Second
	// oidcRetryEvery spaces discovery attempts while the IdP is down, so a
	// burst of logins does not become a burst of requests to it.
	oidcRetryEvery = 5 * time.Second
	// oidcDiscoveryTimeout bounds one discovery request.
	oidcDiscoveryTimeout = 5 * time.Second
)

// oidcIssuer is one configured issuer. Its provider (discovery document +
// go-oidc's RemoteKeySet, which caches the JWKS and refetches it when a
// token names an unknown key id) is created on first use, not at gateway
// start, so an IdP outage never stops the gateway from starting.
type oidcIssuer struct {
	cfg    config.OIDCIssuer
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	lastTry  time.Time
	lastErr  error
}

func newOIDCIssuer(i int, c config.OIDCIssuer, client *http.Client, now func() time.Time) (*oidcIssuer, error) {
	key := fmt.Sprintf("identity.oidc[%d]", i)
	if c.Issuer == "" {
		return nil, fmt.Errorf("%s.issuer: required", key)
	}
	if c.Audience == "" {
		return nil, fmt.Errorf("%s.audience: required (the client id or audience tokens are issued for)", key)
	}
	if c.NameClaim == "" {
		c.NameClaim = "sub"
	}
	return &oidcIssuer{cfg: c, client: client, now: now}, nil
}

// verifierFor discovers the issuer once; failures are retried at most
// every oidcRetryEvery and reported as ErrIdentityProviderUnavailable.
func (o *oidcIssuer) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	now := o.now()
	if !o.lastTry.IsZero() && now.Sub(o.lastTry) < oidcRetryEvery {
		return nil, refuse(ErrIdentityProviderUnavailable, "oidc %s: discovery failed %v ago: %v", o.cfg.Issuer, now.Sub(o.lastTry).Round(time.Second), o.lastErr)
	}
	o.lastTry = now
	// The provider keeps this context for later JWKS fetches (go-oidc uses
	// it as configuration): detach it from the connection that happened to
	// trigger discovery, and bound only this first request.
	base := oidc.ClientContext(context.WithoutCancel(ctx), o.client)
	dctx, cancel := context.WithTimeout(base, oidcDiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		o.lastErr = err
		return nil, refuse(ErrIdentityProviderUnavailable, "oidc %s: discovery: %v", o.cfg.Issuer, err)
	}
	// NewProvider's key set captured dctx; give it the undeadlined context.
	keys := oidc.NewRemoteKeySet(base, jwksURL(p))
	o.verifier = oidc.NewVerifier(o.cfg.Issuer, keys, &oidc.Config{
		ClientID:             o.cfg.Audience,
		SupportedSigningAlgs: signingAlgs(p),
		Now:                  func() time.Time { return o.now().Add(-oidcClockSkew) },
	})
	return o.verifier, nil
}

func jwksURL(p *oidc.Provider) string {
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	_ = p.Claims(&meta) // the provider parsed this document already
	return meta.JWKSURI
}

func signingAlgs(p *oidc.Provider) []string {
	var meta struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	_ = p.Claims(&meta)
	var out []string
	for _, a := range meta.Algs {
		if a != "none" && a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{oidc.RS256}
	}
	return out
}

// verifyOIDC checks a JWT against the issuer its (unverified) iss names,
// and maps the claims to an identity. The unverified iss only picks which
// configured issuer verifies; go-oidc checks it again after the signature.
func (a *Authenticator) verifyOIDC(ctx context.Context, token string) (*Identity, error) {
	iss, err := unverifiedIssuer(token)
	if err != nil {
		return nil, refuse(ErrBadCredentials, "oidc: %v", err)
	}
	var lastErr error
	for _, o := range a.oidc {
		if o.cfg.Issuer != iss {
			continue
		}
		id, err := o.verify(ctx, token)
		if err == nil {
			return id, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		return nil, refuse(ErrBadCredentials, "oidc: issuer %q is not configured", iss)
	}
	return nil, lastErr
}

func (o *oidcIssuer) verify(ctx context.Context, token string) (*Identity, error) {
	v, err := o.verifierFor(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := v.Verify(ctx, token)
	if err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return nil, refuse(ErrTokenExpired, "oidc %s: token expired at %s", o.cfg.Issuer, exp.Expiry.UTC().Format(time.RFC3339))
		}
		return nil, refuse(ErrBadCredentials, "oidc %s: %v", o.cfg.Issuer, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, refuse(ErrBadCredentials, "oidc %s: claims: %v", o.cfg.Issuer, err)
	}
	name, _ := claims[o.cfg.NameClaim].(string)
	if name == "" {
		return nil, refuse(ErrBadCredentials, "oidc %s: token has no string claim %q for the name", o.cfg.Issuer, o.cfg.NameClaim)
	}
	id := &Identity{Name: name, Kind: Person, Method: "oidc", Expiry: tok.Expiry}
	if o.cfg.GroupsClaim != "" {
		id.Groups = stringsClaim(claims[o.cfg.GroupsClaim])
	}
	return id, nil
}

// stringsClaim reads a claim that is a list of strings or a single string;
// anything else gives no groups.
func stringsClaim(v any) []string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// looksLikeJWT is a cheap shape test: three base64url segments.
func looksLikeJWT(s string) bool {
	if len(s) > maxTokenLen || strings.Count(s, ".") != 2 {
		return false
	}
	for _, seg := range strings.Split(s, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// unverifiedIssuer decodes the iss claim of a compact JWT without checking
// anything: it only selects which configured issuer will verify it.
func unverifiedIssuer(token string) (string, error) {
	if !looksLikeJWT(token) {
		return "", errors.New("not a compact JWT")
	}
	parts := strings.SplitN(token, ".", 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("jwt payload: %w", err)
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", fmt.Errorf("jwt payload: %w", err)
	}
	if c.Iss == "" {
		return "", errors.New("jwt has no iss")
	}
	return c.Iss, nil
}
