package identity

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

const fuzzKey = "fuzz-token-key-0123456789"

// FuzzParseToken feeds arbitrary bytes to the gateway-token decoder: it must
// never panic, and whatever it accepts must carry a name and an id.
func FuzzParseToken(f *testing.F) {
	c := TokenClaims{Name: "ci", Groups: []string{"a"}, Kind: Service, IssuedAt: 1, Expiry: 2, ID: "jti"}
	good, err := SignToken([]byte(fuzzKey), c)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, good[:len(good)-2], "slu1.", "slu1..", "slu1.e30.AAAA", "slu1.bnVsbA." + strings.Repeat("A", 43), "eyJ.a.b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := ParseToken([]byte(fuzzKey), tok)
		if err != nil {
			return
		}
		if got.Name == "" || got.ID == "" {
			t.Fatalf("accepted claims without name or id: %+v", got)
		}
	})
}

// FuzzPasswordSecret runs the whole password path on arbitrary secrets
// (static, gateway-token and JWT shapes): no panic, and nothing but a
// refusal for anything that is not the configured token.
func FuzzPasswordSecret(f *testing.F) {
	cfg := &config.Config{
		Identities: []config.Identity{{Name: "alice", Token: "alice-token"}},
		Identity: config.IdentitySources{
			TokenKey: fuzzKey,
			// Discovery against a closed port fails fast: the JWT path is
			// exercised up to issuer selection and the unavailable refusal.
			OIDC: []config.OIDCIssuer{{Issuer: "http://127.0.0.1:1", Audience: "sluice"}},
		},
	}
	a, err := NewWithOptions(cfg, Options{Log: slog.New(slog.DiscardHandler), RateLimit: RateLimit{Threshold: 1 << 30}})
	if err != nil {
		f.Fatal(err)
	}
	// A fixed expiry, far ahead: fuzzing re-runs this setup in each worker
	// process, and a token made from time.Now() would differ between them
	// (the coordinator's seed then fails the worker's own check).
	good, _ := SignToken([]byte(fuzzKey), TokenClaims{Name: "alice", IssuedAt: 1, Expiry: 4102444800, ID: "x"}) // 2100-01-01
	for _, s := range []string{"alice-token", good, "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwOi8vZXZpbCJ9.c2ln", "a.b.c", "slu1.x", ""} {
		f.Add("alice", s)
	}
	f.Fuzz(func(t *testing.T, user, secret string) {
		id, err := a.Password(context.Background(), user, secret)
		if err == nil && id.Name != user {
			t.Fatalf("authenticated %q as %q", user, id.Name)
		}
		if err == nil && secret != "alice-token" && secret != good {
			t.Fatalf("accepted secret %q for %q", secret, user)
		}
	})
}

// FuzzUnverifiedIssuer: the pre-verification JWT peek never panics.
func FuzzUnverifiedIssuer(f *testing.F) {
	for _, s := range []string{"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwOi8veCJ9.c2ln", "a.b.c", "..", "a.eyJ9.c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		iss, err := unverifiedIssuer(s)
		if err == nil && iss == "" {
			t.Fatal("empty issuer accepted")
		}
	})
}
