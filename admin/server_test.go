package admin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/session"
)

const testAdminToken = "admin-secret-token"

type testGateway struct {
	srv    *httptest.Server
	store  *session.Store
	broker *policy.Broker
	auth   *identity.Authenticator
}

// newTestGateway serves the admin API over a real session store (temp dir)
// and a real broker. alice is a developer, rita a reviewer.
func newTestGateway(t testing.TB, approvals config.Approvals) *testGateway {
	t.Helper()
	cfg := &config.Config{
		Admin: config.Admin{Listen: "127.0.0.1:0", Token: testAdminToken},
		Identities: []config.Identity{
			{Name: "alice", Token: "alice-token", Groups: []string{"developers"}},
			{Name: "rita", Token: "rita-token", Groups: []string{"reviewers"}},
			{Name: "bob", Token: "bob-token", Groups: []string{"developers"}},
		},
		Approvals: approvals,
		Identity:  config.IdentitySources{TokenKey: "admin-test-token-key-0123456789"},
	}
	auth, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.OpenStore(filepath.Join(t.TempDir(), "data"), session.Options{FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	broker := policy.NewBroker(cfg.Approvals, policy.BrokerOptions{})
	t.Cleanup(broker.Close)
	h := New(Deps{Config: cfg, Store: store, Broker: broker, Metrics: metrics.New(), Auth: auth})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testGateway{srv: srv, store: store, broker: broker, auth: auth}
}

func (g *testGateway) submit(t testing.TB, identity string) policy.ApprovalRequest {
	t.Helper()
	req, err := g.broker.Submit(policy.ApprovalRequest{Session: "s1", Protocol: "postgres", Target: "appdb",
		Identity: identity, Statement: "DELETE FROM users", Rule: "bulk-writes"})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func apiStatus(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func TestAuthRequired(t *testing.T) {
	g := newTestGateway(t, config.Approvals{})
	for _, path := range []string{"/api/sessions", "/api/sessions/x", "/api/approvals"} {
		for _, authz := range []string{"", "Bearer wrong", "Bearer ", "Basic " + "YWxpY2U6d3Jvbmc="} {
			req, _ := http.NewRequest(http.MethodGet, g.srv.URL+path, nil)
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"error"`) {
				t.Errorf("%s with %q: %d %s, want 401 JSON", path, authz, resp.StatusCode, body)
			}
		}
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(g.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200 without credentials", path, resp.StatusCode)
		}
	}
	if _, err := NewClient(g.srv.URL, "wrong").Approvals(context.Background()); apiStatus(err) != 401 {
		t.Errorf("client with wrong token: %v", err)
	}
	// An empty configured admin token must not let an empty Bearer in: covered by "Bearer " above.
}

func TestApproveFlowThroughClient(t *testing.T) {
	g := newTestGateway(t, config.Approvals{Reviewers: config.Reviewers{Groups: []string{"reviewers"}}})
	ctx := context.Background()
	req := g.submit(t, "alice")
	woke := make(chan policy.Outcome, 1)
	go func() { woke <- g.broker.Wait(ctx, req.ID) }()

	rita := NewIdentityClient(g.srv.URL, "rita", "rita-token")
	list, err := rita.Approvals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Pending) != 1 || list.Pending[0].ID != req.ID || list.Pending[0].Statement != "DELETE FROM users" {
		t.Fatalf("pending = %+v", list.Pending)
	}
	out, err := rita.Approve(ctx, req.ID, "ticket 42", "")
	if err != nil {
		t.Fatal(err)
	}
	if !out.Approved || out.Reviewer != "rita" || out.Reason != "ticket 42" {
		t.Fatalf("outcome = %+v", out)
	}
	select {
	case w := <-woke:
		if !w.Approved || w.Reviewer != "rita" {
			t.Fatalf("waiter got %+v", w)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken")
	}
	if _, err := rita.Deny(ctx, req.ID, "", ""); apiStatus(err) != http.StatusConflict {
		t.Fatalf("second decision: %v, want 409", err)
	}
	if _, err := rita.Approve(ctx, "nosuchid", "", ""); apiStatus(err) != http.StatusNotFound || !IsNotFound(err) {
		t.Fatalf("unknown id: %v, want 404", err)
	}
	list, err = NewClient(g.srv.URL, testAdminToken).Approvals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Pending) != 0 || len(list.Recent) != 1 || list.Recent[0].Outcome.Reviewer != "rita" {
		t.Fatalf("after decision: %+v", list)
	}
}

func TestAdminTokenMustNameReviewer(t *testing.T) {
	g := newTestGateway(t, config.Approvals{Reviewers: config.Reviewers{Groups: []string{"reviewers"}}})
	ctx := context.Background()
	admin := NewClient(strings.TrimPrefix(g.srv.URL, "http://")+"/", testAdminToken)
	req := g.submit(t, "alice")
	if _, err := admin.Deny(ctx, req.ID, "no", ""); apiStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "--as") {
		t.Fatalf("admin without as: %v, want 400 naming --as", err)
	}
	// Acting as the requester is still self-approval.
	if _, err := admin.Approve(ctx, req.ID, "", "alice"); apiStatus(err) != http.StatusForbidden {
		t.Fatalf("admin as requester: %v, want 403", err)
	}
	out, err := admin.Deny(ctx, req.ID, "not now", "oncall-oscar")
	if err != nil || out.Approved || out.Reviewer != "oncall-oscar" {
		t.Fatalf("admin deny: %+v, %v", out, err)
	}
}

func TestSelfApprovalRefused(t *testing.T) {
	g := newTestGateway(t, config.Approvals{})
	ctx := context.Background()
	req := g.submit(t, "alice")
	alice := NewIdentityClient(g.srv.URL, "alice", "alice-token")
	_, err := alice.Approve(ctx, req.ID, "", "")
	if apiStatus(err) != http.StatusForbidden || !strings.Contains(err.Error(), "own") {
		t.Fatalf("self approval: %v, want 403", err)
	}
	// Naming someone else does not help an identity.
	if _, err := alice.Approve(ctx, req.ID, "", "bob"); apiStatus(err) != http.StatusBadRequest {
		t.Fatalf("identity using as: %v, want 400", err)
	}
	if len(g.broker.Pending()) != 1 {
		t.Fatal("request no longer pending")
	}
	// With no reviewers configured, another identity may approve.
	if _, err := NewIdentityClient(g.srv.URL, "bob", "bob-token").Approve(ctx, req.ID, "", ""); err != nil {
		t.Fatalf("bob approves: %v", err)
	}
}

func TestNonReviewerRefused(t *testing.T) {
	g := newTestGateway(t, config.Approvals{Reviewers: config.Reviewers{Groups: []string{"reviewers"}}})
	ctx := context.Background()
	req := g.submit(t, "alice")
	bob := NewIdentityClient(g.srv.URL, "bob", "bob-token")
	if _, err := bob.Approve(ctx, req.ID, "", ""); apiStatus(err) != http.StatusForbidden || !strings.Contains(err.Error(), "reviewer") {
		t.Fatalf("non-reviewer: %v, want 403", err)
	}
	if _, err := bob.Deny(ctx, req.ID, "", ""); apiStatus(err) != http.StatusForbidden {
		t.Fatalf("non-reviewer deny: %v, want 403", err)
	}
	// Non-reviewers may not read sessions either; reviewers may.
	if _, err := bob.Sessions(ctx, session.Filter{}); apiStatus(err) != http.StatusForbidden {
		t.Fatalf("non-reviewer sessions: %v, want 403", err)
	}
	if _, err := NewIdentityClient(g.srv.URL, "rita", "rita-token").Sessions(ctx, session.Filter{}); err != nil {
		t.Fatalf("reviewer sessions: %v", err)
	}
}

func TestSessionsEndpoints(t *testing.T) {
	g := newTestGateway(t, config.Approvals{})
	ctx := context.Background()
	s, err := g.store.Open(ctx, session.Info{Protocol: "postgres", Target: "appdb", Identity: "alice", ClientAddr: "127.0.0.1:5555"}, session.Recording{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := g.store.Open(ctx, session.Info{Protocol: "ssh", Target: "web1", Identity: "bob", ClientAddr: "127.0.0.1:5556",
		AuthMethod: "gateway-token", CredentialID: "tok-bob"}, session.Recording{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(session.StatusOK, nil)
	if err := s.LogQuery(session.QueryEvent{Time: time.Now(), Statement: "select 42", Decision: "allow", Rows: 1}); err != nil {
		t.Fatal(err)
	}
	c := NewClient(g.srv.URL, testAdminToken)

	all, err := c.Sessions(ctx, session.Filter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("Sessions: %d, %v", len(all), err)
	}
	only, err := c.Sessions(ctx, session.Filter{Target: "appdb", Since: time.Now().Add(-time.Hour), Limit: 5})
	if err != nil || len(only) != 1 || only[0].ID != s.ID() {
		t.Fatalf("filtered: %+v, %v", only, err)
	}
	byToken, err := c.Sessions(ctx, session.Filter{CredentialID: "tok-bob"})
	if err != nil || len(byToken) != 1 || byToken[0].ID != other.ID() {
		t.Fatalf("by credential: %+v, %v", byToken, err)
	}
	rec, err := c.Session(ctx, s.ID())
	if err != nil || rec.Identity != "alice" {
		t.Fatalf("Session: %+v, %v", rec, err)
	}
	if _, err := c.Session(ctx, "nope"); !IsNotFound(err) {
		t.Fatalf("unknown session: %v", err)
	}
	killed, err := c.Kill(ctx, s.ID(), "testing kill")
	if err != nil || !killed {
		t.Fatalf("Kill: %v, %v", killed, err)
	}
	select {
	case <-s.Context().Done():
		var ke *session.KilledError
		if !errors.As(context.Cause(s.Context()), &ke) || ke.Reason != "testing kill" {
			t.Fatalf("cause = %v", context.Cause(s.Context()))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session not cancelled by kill")
	}
	s.Close(session.StatusKilled, nil)
	if _, err := c.Kill(ctx, "nope", ""); !IsNotFound(err) {
		t.Fatalf("kill unknown: %v", err)
	}
	// Identities may not kill.
	if _, err := NewIdentityClient(g.srv.URL, "alice", "alice-token").Kill(ctx, other.ID(), ""); apiStatus(err) != http.StatusForbidden {
		t.Fatalf("identity kill: %v", err)
	}
	cast, err := c.Cast(ctx, s.ID())
	if err != nil {
		t.Fatalf("Cast: %v", err)
	}
	castText, err := io.ReadAll(cast)
	cast.Close()
	header, _, _ := strings.Cut(string(castText), "\n")
	if err != nil || !strings.Contains(header, `"version":2`) || !strings.Contains(string(castText), "(1 rows)") {
		t.Fatalf("cast (%v):\n%s", err, castText)
	}
	if _, err := c.Cast(ctx, "nope"); !IsNotFound(err) {
		t.Fatalf("cast of unknown session: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/api/sessions?limit=abc", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad limit: %d", resp.StatusCode)
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, New(Deps{})) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if err := Serve(context.Background(), "not-an-address", nil); err == nil {
		t.Fatal("Serve on a bad address: want error")
	}
}

// TestGatewayTokenBearerDecidesAsItsIdentity: a reviewer holding an issued
// gateway token (no admin token) approves, and is recorded as the reviewer.
func TestGatewayTokenBearerDecidesAsItsIdentity(t *testing.T) {
	g := newTestGateway(t, config.Approvals{Timeout: config.Duration{Duration: time.Minute}, Reviewers: config.Reviewers{Groups: []string{"reviewers"}}})
	tok, _, err := g.auth.IssueToken(identity.IssueRequest{Name: "rita", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	req := g.submit(t, "alice")
	c := NewClient(g.srv.URL, tok)
	out, err := c.Approve(context.Background(), req.ID, "looks fine", "")
	if err != nil {
		t.Fatalf("approve with a gateway token: %v", err)
	}
	if !out.Approved || out.Reviewer != "rita" {
		t.Fatalf("outcome %+v: the reviewer must be the token's identity", out)
	}
	if _, err := NewClient(g.srv.URL, tok+"x").Approvals(context.Background()); apiStatus(err) != 401 {
		t.Fatalf("tampered token: %v", err)
	}
}
