package identity_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/identity"
)

// TestWatchRevocations runs the watcher loop as the gateway does: the
// identity from a gateway token carries its id, a revocation is reported
// once, and the watcher returns when its context ends.
func TestWatchRevocations(t *testing.T) {
	a, cfg, _ := testAuth(t, `
identities: [{name: ci-deploy, kind: service, token: static-secret-token}]
identity: {token_key: `+testTokenKey+`}
`, nil)
	tok, claims, err := a.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := a.Password(ctx, "ci-deploy", tok)
	if err != nil || id.TokenID != claims.ID || id.Method != "gateway-token" {
		t.Fatalf("gateway token identity: %+v %v", id, err)
	}
	if id, err := a.Password(ctx, "ci-deploy", "static-secret-token"); err != nil || id.TokenID != "" {
		t.Fatalf("static token identity: %+v %v", id, err)
	}

	wctx, cancel := context.WithCancel(ctx)
	reports := make(chan []string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.WatchRevocations(wctx, 5*time.Millisecond, func(ids []string) { reports <- ids })
	}()
	if err := identity.Revoke(cfg.DataDir, claims.ID, claims.ExpiresAt(), time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case ids := <-reports:
		if !slices.Equal(ids, []string{claims.ID}) {
			t.Fatalf("reported %q, want %q", ids, claims.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("revocation not reported")
	}
	time.Sleep(50 * time.Millisecond) // ten more looks
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher did not return after cancel")
	}
	if len(reports) != 0 {
		t.Fatalf("reported again: %q", <-reports)
	}
}
