package identity_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/testenv"
)

func startOIDC(t *testing.T) *testenv.OIDCProvider {
	t.Helper()
	p, err := testenv.StartOIDC()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func oidcYAML(issuer string) string {
	return fmt.Sprintf(`
identities:
  - {name: carol, kind: service, groups: [ci], targets: [appdb]}
identity:
  oidc:
    - {issuer: %s, audience: sluice, name_claim: preferred_username, groups_claim: groups}
`, issuer)
}

func mustToken(t *testing.T, p *testenv.OIDCProvider, claims map[string]any) string {
	t.Helper()
	tok, err := p.Token(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func validClaims(name string) map[string]any {
	return map[string]any{
		"sub": "user-" + name, "preferred_username": name, "aud": "sluice",
		"groups": []string{"developers", "oncall"}, "exp": time.Now().Add(time.Hour),
	}
}

func with(c map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestOIDCPassword(t *testing.T) {
	p := startOIDC(t)
	other := startOIDC(t) // a real issuer the gateway does not trust
	a, _, logs := testAuth(t, oidcYAML(p.Issuer), nil, noRateLimit)
	ctx := context.Background()

	good := mustToken(t, p, validClaims("dave"))
	id, err := a.Password(ctx, "dave", good)
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	if id.Name != "dave" || id.Method != "oidc" || id.Kind != identity.Person ||
		!slices.Equal(id.Groups, []string{"developers", "oncall"}) || id.Expiry.IsZero() {
		t.Fatalf("identity = %+v", id)
	}
	if time.Until(id.Expiry) < 50*time.Minute {
		t.Fatalf("expiry %v not taken from exp", id.Expiry)
	}

	// A configured identity of the same name decides kind and targets and adds groups.
	id, err = a.Password(ctx, "carol", mustToken(t, p, validClaims("carol")))
	if err != nil {
		t.Fatal(err)
	}
	if id.Kind != identity.Service || !slices.Equal(id.Targets, []string{"appdb"}) || !id.InGroup("ci") || !id.InGroup("developers") {
		t.Fatalf("merged identity = %+v", id)
	}

	tampered := []byte(good)
	mid := strings.IndexByte(good, '.') + 5
	if tampered[mid] == 'A' {
		tampered[mid] = 'B'
	} else {
		tampered[mid] = 'A'
	}
	cases := []struct {
		name, user, token string
		want              error
	}{
		{"expired", "dave", mustToken(t, p, with(validClaims("dave"), "exp", time.Now().Add(-time.Hour))), identity.ErrTokenExpired},
		{"no exp", "dave", mustToken(t, p, with(validClaims("dave"), "exp", nil)), identity.ErrTokenExpired},
		{"wrong audience", "dave", mustToken(t, p, with(validClaims("dave"), "aud", "someone-else")), identity.ErrBadCredentials},
		{"iss claim of another issuer", "dave", mustToken(t, p, with(validClaims("dave"), "iss", "https://evil.example")), identity.ErrBadCredentials},
		{"signed by an untrusted issuer", "dave", mustToken(t, other, validClaims("dave")), identity.ErrBadCredentials},
		{"untrusted issuer claiming ours", "dave", mustToken(t, other, with(validClaims("dave"), "iss", p.Issuer)), identity.ErrBadCredentials},
		{"tampered payload", "dave", string(tampered), identity.ErrBadCredentials},
		{"nbf in the future", "dave", mustToken(t, p, with(validClaims("dave"), "nbf", time.Now().Add(time.Hour))), identity.ErrBadCredentials},
		{"user is not the name claim", "erin", good, identity.ErrBadCredentials},
		{"no name claim", "dave", mustToken(t, p, with(validClaims("dave"), "preferred_username", nil)), identity.ErrBadCredentials},
		{"not a JWT", "dave", "abc.def", identity.ErrBadCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Password(ctx, tc.user, tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, %v; want %v", id, err, tc.want)
			}
			if strings.Contains(err.Error(), "eyJ") {
				t.Fatalf("error text contains token material: %q", err)
			}
		})
	}
	if strings.Contains(logs.String(), good[:40]) {
		t.Fatal("audit log contains a token")
	}
}

// TestOIDCKeyRotation: a token signed with a key the JWKS does not list yet
// is refused; once the issuer publishes it, the next attempt refetches the
// JWKS (unknown kid) and succeeds. Old keys dropped from the JWKS keep
// working from the cache only until a refetch.
func TestOIDCKeyRotation(t *testing.T) {
	p := startOIDC(t)
	a, _, _ := testAuth(t, oidcYAML(p.Issuer), nil)
	ctx := context.Background()

	if _, err := a.Password(ctx, "dave", mustToken(t, p, validClaims("dave"))); err != nil {
		t.Fatal(err)
	}
	fetches := p.JWKSFetches()
	if _, err := a.Password(ctx, "dave", mustToken(t, p, validClaims("dave"))); err != nil {
		t.Fatal(err)
	}
	if p.JWKSFetches() != fetches {
		t.Fatalf("JWKS refetched for a known key (%d -> %d): not cached", fetches, p.JWKSFetches())
	}

	if _, err := p.Rotate(false); err != nil {
		t.Fatal(err)
	}
	unpublished := mustToken(t, p, validClaims("dave"))
	if _, err := a.Password(ctx, "dave", unpublished); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("token with an unknown kid: got %v, want refused", err)
	}
	p.Publish()
	p.DropOldKeys()
	// go-oidc coalesces JWKS fetches: an attempt made while the previous
	// (failed) attempt's fetch is still being torn down shares that fetch's
	// old key set. The next attempt after it fetches the new one.
	var err error
	for i := 0; i < 20; i++ {
		if _, err = a.Password(ctx, "dave", unpublished); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("after the key was published: %v", err)
	}
	if p.JWKSFetches() <= fetches {
		t.Fatal("unknown kid did not refetch the JWKS")
	}
}

// TestOIDCProviderDownAtStart: building the Authenticator never contacts
// the IdP; logins fail with ErrIdentityProviderUnavailable while it is down
// (retried at most every few seconds) and work once it is back.
func TestOIDCProviderDownAtStart(t *testing.T) {
	p := startOIDC(t)
	p.SetDown(true)
	clock := newFakeClock()
	a, _, _ := testAuth(t, oidcYAML(p.Issuer), clock)
	ctx := context.Background()
	tok := mustToken(t, p, validClaims("dave"))
	if _, err := a.Password(ctx, "dave", tok); !errors.Is(err, identity.ErrIdentityProviderUnavailable) {
		t.Fatalf("IdP down: got %v", err)
	}
	p.SetDown(false)
	// Within the retry spacing the failure is remembered, not re-fetched.
	if _, err := a.Password(ctx, "dave", tok); !errors.Is(err, identity.ErrIdentityProviderUnavailable) {
		t.Fatalf("within retry spacing: got %v", err)
	}
	clock.Advance(10 * time.Second)
	if _, err := a.Password(ctx, "dave", tok); err != nil {
		t.Fatalf("IdP back: %v", err)
	}
}

func TestOIDCConfigErrors(t *testing.T) {
	for _, yaml := range []string{
		"identity:\n  oidc:\n    - {issuer: http://127.0.0.1:1}\n",
		"identity:\n  oidc:\n    - {audience: x}\n",
	} {
		full := "data_dir: " + t.TempDir() + "\n" + yaml
		cfg, err := parseConfig(full)
		if err != nil {
			continue // rejected by config validation: also fine
		}
		if _, err := identity.New(cfg); err == nil {
			t.Fatalf("config accepted without issuer/audience:\n%s", yaml)
		}
	}
}
