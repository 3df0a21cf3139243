package identity_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/identity"
)

const tokenYAML = `
identities:
  - {name: ci-deploy, kind: service, groups: [ci], targets: [appdb]}
  - {name: alice, token: alice-static-token, groups: [developers]}
identity:
  token_key: ` + testTokenKey + `
`

func TestGatewayTokenIssueVerify(t *testing.T) {
	clock := newFakeClock()
	a, _, _ := testAuth(t, tokenYAML, clock, noRateLimit)
	ctx := context.Background()

	tok, claims, err := a.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour, Groups: []string{"deployers"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "slu1.") || claims.ID == "" || claims.Kind != identity.Service {
		t.Fatalf("token %q claims %+v", tok, claims)
	}
	id, err := a.Password(ctx, "ci-deploy", tok)
	if err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if id.Method != "gateway-token" || id.Kind != identity.Service || !slices.Equal(id.Targets, []string{"appdb"}) ||
		!id.InGroup("ci") || !id.InGroup("deployers") || !id.Expiry.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("identity = %+v", id)
	}
	// The static token still works beside gateway tokens.
	if _, err := a.Password(ctx, "alice", "alice-static-token"); err != nil {
		t.Fatal(err)
	}

	other, _, _ := testAuth(t, strings.Replace(tokenYAML, testTokenKey, "another-key-abcdefghijklmnop", 1), clock, noRateLimit)
	forged, _, err := other.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	body, sig, _ := strings.Cut(tok[len("slu1."):], ".")
	upgraded := "slu1." + strings.Replace(body, "c", "d", 1) + "." + sig

	cases := []struct {
		name, user, token string
		want              error
	}{
		{"other user", "alice", tok, identity.ErrBadCredentials},
		{"signed with another key", "ci-deploy", forged, identity.ErrBadCredentials},
		{"payload edited", "ci-deploy", upgraded, identity.ErrBadCredentials},
		{"truncated", "ci-deploy", tok[:len(tok)-3], identity.ErrBadCredentials},
		{"prefix only", "ci-deploy", "slu1.", identity.ErrBadCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.Password(ctx, tc.user, tc.token); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	clock.Advance(time.Hour)
	_, err = a.Password(ctx, "ci-deploy", tok)
	if !errors.Is(err, identity.ErrTokenExpired) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: got %v", err)
	}
}

func TestGatewayTokenRevocation(t *testing.T) {
	clock := newFakeClock()
	a, cfg, logs := testAuth(t, tokenYAML, clock, noRateLimit)
	ctx := context.Background()
	tok, c1, err := a.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	keep, _, err := a.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Password(ctx, "ci-deploy", tok); err != nil {
		t.Fatal(err)
	}
	// What `sluice token revoke` does, while this Authenticator is running.
	if err := identity.Revoke(cfg.DataDir, c1.ID, c1.ExpiresAt(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = a.Password(ctx, "ci-deploy", tok)
	if !errors.Is(err, identity.ErrTokenRevoked) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked token: got %v", err)
	}
	if _, err := a.Bearer(ctx, tok); !errors.Is(err, identity.ErrTokenRevoked) {
		t.Fatalf("revoked token as bearer: got %v", err)
	}
	if _, err := a.Password(ctx, "ci-deploy", keep); err != nil {
		t.Fatalf("another token of the same identity: %v", err)
	}
	// Revoking twice is fine; a second id is added beside the first.
	if err := identity.Revoke(cfg.DataDir, c1.ID, c1.ExpiresAt(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := identity.Revoke(cfg.DataDir, "other-id", time.Time{}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Password(ctx, "ci-deploy", tok); !errors.Is(err, identity.ErrTokenRevoked) {
		t.Fatalf("after rewrite: %v", err)
	}
	// A corrupt list fails closed.
	path := filepath.Join(cfg.DataDir, identity.RevocationFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Password(ctx, "ci-deploy", keep); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("corrupt revocation list: got %v, want refused", err)
	}
	if !strings.Contains(logs.String(), "revocation list") {
		t.Fatalf("audit log does not say why:\n%s", indent(logs.String()))
	}
}

func TestGatewayTokenIssueRules(t *testing.T) {
	clock := newFakeClock()
	a, _, _ := testAuth(t, tokenYAML, clock, noRateLimit)
	if _, _, err := a.IssueToken(identity.IssueRequest{Name: "mallory", TTL: time.Hour}); err == nil {
		t.Fatal("issued for an unconfigured identity")
	}
	if _, _, err := a.IssueToken(identity.IssueRequest{Name: "bad name", TTL: time.Hour, AllowUnlisted: true}); err == nil {
		t.Fatal("issued for an invalid name")
	}
	if _, _, err := a.IssueToken(identity.IssueRequest{Name: "ci-deploy"}); err == nil {
		t.Fatal("issued with no ttl")
	}
	tok, _, err := a.IssueToken(identity.IssueRequest{Name: "agent-7", TTL: time.Minute, AllowUnlisted: true, Groups: []string{"agents"}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Password(context.Background(), "agent-7", tok)
	if err != nil || id.Kind != identity.Person || !slices.Equal(id.Groups, []string{"agents"}) {
		t.Fatalf("unlisted token: %+v, %v", id, err)
	}

	// A listed identity later removed from the config loses its tokens.
	listed, _, err := a.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := testAuth(t, "identity:\n  token_key: "+testTokenKey+"\n", clock, noRateLimit)
	if _, err := b.Password(context.Background(), "ci-deploy", listed); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("token of a removed identity: %v", err)
	}

	noKey, _, _ := testAuth(t, "identities: [{name: x}]\n", clock)
	if _, _, err := noKey.IssueToken(identity.IssueRequest{Name: "x", TTL: time.Hour}); err == nil {
		t.Fatal("issued without token_key")
	}
	if _, err := parseAndNew(t, "identity:\n  token_key: short\n"); err == nil {
		t.Fatal("short token_key accepted")
	}
}

func TestBearer(t *testing.T) {
	p := startOIDC(t)
	clock := newFakeClock()
	a, _, _ := testAuth(t, tokenYAML+"  oidc:\n    - {issuer: "+p.Issuer+", audience: sluice, groups_claim: groups}\n", clock, noRateLimit)
	ctx := context.Background()
	tok, _, err := a.IssueToken(identity.IssueRequest{Name: "alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Bearer(ctx, tok)
	if err != nil || id.Name != "alice" || !id.InGroup("developers") {
		t.Fatalf("gateway token bearer: %+v %v", id, err)
	}
	jwt := mustToken(t, p, map[string]any{"sub": "rita", "aud": "sluice", "groups": []string{"reviewers"}, "exp": time.Now().Add(time.Hour)})
	id, err = a.Bearer(ctx, jwt)
	if err != nil || id.Name != "rita" || id.Method != "oidc" || !id.InGroup("reviewers") {
		t.Fatalf("oidc bearer: %+v %v", id, err)
	}
	for _, bad := range []string{"", "alice-static-token", "slu1.x.y", jwt[:len(jwt)-4] + "AAAA"} {
		if _, err := a.Bearer(ctx, bad); !errors.Is(err, identity.ErrBadCredentials) {
			t.Fatalf("bearer %q: got %v", bad, err)
		}
	}
}

func TestSessionDeadline(t *testing.T) {
	a, _, _ := testAuth(t, "identity:\n  max_session_after_expiry: 15m\n", nil)
	exp := time.Unix(1_700_000_000, 0)
	if d, ok := a.SessionDeadline(&identity.Identity{Expiry: exp}); !ok || !d.Equal(exp.Add(15*time.Minute)) {
		t.Fatalf("deadline %v %v", d, ok)
	}
	if _, ok := a.SessionDeadline(&identity.Identity{}); ok {
		t.Fatal("deadline for a credential that does not expire")
	}
	b, _, _ := testAuth(t, "", nil)
	if _, ok := b.SessionDeadline(&identity.Identity{Expiry: exp}); ok {
		t.Fatal("deadline without max_session_after_expiry")
	}
}

func parseAndNew(t *testing.T, yaml string) (*identity.Authenticator, error) {
	cfg, err := parseConfig("data_dir: " + t.TempDir() + "\n" + yaml)
	if err != nil {
		return nil, err
	}
	return identity.New(cfg)
}

// Token ids go on command lines: none may start with "-" (a flag to the CLI).
func TestNewTokenIDNeverLooksLikeAFlag(t *testing.T) {
	for range 2000 {
		id, err := identity.NewTokenID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || id[0] == '-' || id[0] == '_' {
			t.Fatalf("token id %q", id)
		}
	}
}
