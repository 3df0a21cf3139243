package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/session"
)

const cliAdminToken = "cli-admin-token"

// approvalsGateway serves the real admin API over a real store and broker.
func approvalsGateway(t *testing.T) (*httptest.Server, *policy.Broker) {
	t.Helper()
	cfg := &config.Config{
		Admin:      config.Admin{Token: cliAdminToken},
		Identities: []config.Identity{{Name: "rita", Token: "rita-token", Groups: []string{"reviewers"}}},
		Approvals:  config.Approvals{Reviewers: config.Reviewers{Groups: []string{"reviewers"}}},
	}
	auth, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.OpenStore(filepath.Join(t.TempDir(), "data"), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	broker := policy.NewBroker(cfg.Approvals, policy.BrokerOptions{})
	t.Cleanup(broker.Close)
	srv := httptest.NewServer(admin.New(admin.Deps{Config: cfg, Store: store, Broker: broker, Auth: auth}))
	t.Cleanup(srv.Close)
	return srv, broker
}

// runApprovalsCLI runs the real root command and returns stdout and the exit code main would use.
func runApprovalsCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return out.String(), exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return out.String() + err.Error(), exitUsage
	}
	return out.String() + err.Error(), exitRuntime
}

func submitHeld(t *testing.T, b *policy.Broker, stmt string) policy.ApprovalRequest {
	t.Helper()
	r, err := b.Submit(policy.ApprovalRequest{Identity: "alice", Target: "appdb", Protocol: "postgres",
		Rule: "bulk-writes", Statement: stmt, Session: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestApprovalsCLI(t *testing.T) {
	srv, broker := approvalsGateway(t)
	t.Setenv(envAdminToken, cliAdminToken)
	first := submitHeld(t, broker, "DELETE FROM users\n\tWHERE true OR "+strings.Repeat("x = 1 OR ", 20)+"false")
	second := submitHeld(t, broker, "UPDATE accounts SET balance = 0")

	out, code := runApprovalsCLI(t, "approvals", "--admin", srv.URL)
	if code != exitOK {
		t.Fatalf("approvals: exit %d: %s", code, out)
	}
	for _, want := range []string{"ID", first.ID, second.ID, "alice", "appdb", "bulk-writes", "UPDATE accounts", "sluice approve ID"} {
		if !strings.Contains(out, want) {
			t.Errorf("approvals output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\tWHERE") {
		t.Errorf("statement not flattened to one line:\n%s", out)
	}

	// The admin token must name the reviewer: a usage error.
	if out, code := runApprovalsCLI(t, "approve", first.ID, "--admin", srv.URL); code != exitUsage || !strings.Contains(out, "--as") {
		t.Fatalf("approve without --as: exit %d: %s", code, out)
	}
	woke := make(chan policy.Outcome, 1)
	go func() { woke <- broker.Wait(context.Background(), first.ID) }()
	out, code = runApprovalsCLI(t, "approve", first.ID, "--admin", srv.URL, "--as", "oncall", "--reason", "ticket 7")
	if code != exitOK || !strings.Contains(out, "approved "+first.ID) {
		t.Fatalf("approve: exit %d: %s", code, out)
	}
	select {
	case o := <-woke:
		if !o.Approved || o.Reviewer != "oncall" || o.Reason != "ticket 7" {
			t.Fatalf("outcome %+v", o)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held statement not released")
	}
	// Deciding again is a runtime error (409), not a usage error.
	if out, code := runApprovalsCLI(t, "deny", first.ID, "--admin", srv.URL, "--as", "oncall"); code != exitRuntime || !strings.Contains(out, "already decided") {
		t.Fatalf("second decision: exit %d: %s", code, out)
	}

	// As an identity (no admin token), via the environment.
	t.Setenv(envAdminToken, "")
	t.Setenv(envIdentity, "rita")
	t.Setenv(envIdentityToken, "rita-token")
	out, code = runApprovalsCLI(t, "deny", second.ID, "--admin", srv.URL, "--reason", "not today", "--json")
	if code != exitOK {
		t.Fatalf("deny: exit %d: %s", code, out)
	}
	var o policy.Outcome
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Approved || o.Reviewer != "rita" {
		t.Fatalf("deny --json: %q (%v)", out, err)
	}

	out, code = runApprovalsCLI(t, "approvals", "--admin", srv.URL, "--json")
	if code != exitOK {
		t.Fatalf("approvals --json: exit %d: %s", code, out)
	}
	var list admin.ApprovalList
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Pending) != 0 || len(list.Recent) != 2 {
		t.Fatalf("approvals --json: %+v (%v)", list, err)
	}
	if out, _ := runApprovalsCLI(t, "approvals", "--admin", srv.URL); !strings.Contains(out, "No approval requests are waiting") || !strings.Contains(out, "denied") {
		t.Fatalf("empty table:\n%s", out)
	}
}

func TestApprovalsCLIConfigAndUsage(t *testing.T) {
	srv, broker := approvalsGateway(t)
	t.Setenv(envAdminToken, "")
	t.Setenv(envIdentity, "")
	t.Setenv(envIdentityToken, "")
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sluice.yaml")
	t.Setenv("TEST_ADMIN_TOKEN", cliAdminToken)
	cfgText := "data_dir: " + filepath.Join(dir, "data") + "\nadmin:\n  listen: 0.0.0.0:" + port + "\n  token: ${TEST_ADMIN_TOKEN}\n"
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	req := submitHeld(t, broker, "DROP TABLE users")
	out, code := runApprovalsCLI(t, "deny", req.ID, "--config", cfgPath, "--as", "oncall")
	if code != exitOK || !strings.Contains(out, "denied "+req.ID) {
		t.Fatalf("deny via --config: exit %d: %s", code, out)
	}

	cases := []struct {
		args []string
		want string
	}{
		{[]string{"approvals"}, "--config"},
		{[]string{"approve"}, "accepts 1 arg"},
		{[]string{"approve", "a", "b", "--admin", srv.URL}, "accepts 1 arg"},
		{[]string{"approve", "x", "--admin", srv.URL}, envAdminToken},
		{[]string{"approvals", "--config", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"deny", "x", "--bogus"}, "unknown flag"},
	}
	for _, c := range cases {
		out, code := runApprovalsCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, output %q; want exit 2 mentioning %q", c.args, code, out, c.want)
		}
	}
	// An unreachable gateway is a runtime error.
	t.Setenv(envAdminToken, "x")
	if out, code := runApprovalsCLI(t, "approvals", "--admin", "http://127.0.0.1:1"); code != exitRuntime {
		t.Fatalf("unreachable: exit %d: %s", code, out)
	}
}

func TestDialableAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:9080": "127.0.0.1:9080",
		"0.0.0.0:9080":   "127.0.0.1:9080",
		":9080":          "127.0.0.1:9080",
		"[::]:9080":      "127.0.0.1:9080",
		"gw.local:9080":  "gw.local:9080",
	} {
		if got := dialableAddr(in); got != want {
			t.Errorf("dialableAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
