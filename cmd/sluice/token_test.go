package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
)

// runTokenCLI runs the root command keeping stdout (the token) apart from stderr.
func runTokenCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func writeTokenConfig(t *testing.T) string {
	return writeConfig(t, `
identities:
  - {name: ci-deploy, kind: service, groups: [ci], targets: [appdb]}
identity:
  token_key: cli-test-token-key-0123456789
`)
}

// writeConfig writes a config with a fresh data_dir followed by body and
// returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte("data_dir: "+filepath.Join(dir, "data")+body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTokenIssueAndRevoke(t *testing.T) {
	cfgPath := writeTokenConfig(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	issue := func() (string, string) {
		out, errOut, err := runTokenCLI(t, "token", "issue", "--identity", "ci-deploy", "--ttl", "1h", "--group", "deployers", "--config", cfgPath)
		if err != nil {
			t.Fatalf("issue: %v\n%s", err, errOut)
		}
		tok := strings.TrimSpace(out)
		m := regexp.MustCompile(`token id (\S+) for ci-deploy \(service\), expires `).FindStringSubmatch(errOut)
		if !strings.HasPrefix(tok, "slu1.") || strings.Contains(tok, "\n") || m == nil {
			t.Fatalf("issue printed %q / %q", out, errOut)
		}
		return tok, m[1]
	}
	tok1, _ := issue()
	tok2, jti2 := issue()

	id, err := auth.Password(ctx, "ci-deploy", tok1)
	if err != nil || !id.InGroup("deployers") || !id.InGroup("ci") || id.Kind != identity.Service {
		t.Fatalf("issued token: %+v %v", id, err)
	}

	// Revoke by the token itself, and by id.
	out, _, err := runTokenCLI(t, "token", "revoke", tok1, "--config", cfgPath)
	if err != nil || !strings.Contains(out, "revoked token") {
		t.Fatalf("revoke by token: %v %q", err, out)
	}
	if _, err := auth.Password(ctx, "ci-deploy", tok1); !errors.Is(err, identity.ErrTokenRevoked) {
		t.Fatalf("after revoke by token: %v", err)
	}
	if _, err := auth.Password(ctx, "ci-deploy", tok2); err != nil {
		t.Fatalf("the other token: %v", err)
	}
	if _, _, err := runTokenCLI(t, "token", "revoke", jti2, "--config", cfgPath); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Password(ctx, "ci-deploy", tok2); !errors.Is(err, identity.ErrTokenRevoked) {
		t.Fatalf("after revoke by id: %v", err)
	}
	// Ids from earlier releases could start with "-": they go after "--".
	if out, errOut, err := runTokenCLI(t, "token", "revoke", "--config", cfgPath, "--", "-7rJg5WqCprufY-MJnNX4w"); err != nil || !strings.Contains(out, "revoked token -7rJg5WqCprufY-MJnNX4w") {
		t.Fatalf("revoke an id starting with -: %v %q %q", err, out, errOut)
	}
}

func TestTokenUsageErrors(t *testing.T) {
	cfgPath := writeTokenConfig(t)
	cases := [][]string{
		{"token", "issue", "--ttl", "1h", "--config", cfgPath},
		{"token", "issue", "--identity", "ci-deploy"},
		{"token", "issue", "--identity", "nobody", "--config", cfgPath},
		{"token", "issue", "--identity", "ci-deploy", "--ttl", "-1h", "--config", cfgPath},
		{"token", "issue", "--identity", "ci-deploy", "--config", filepath.Join(t.TempDir(), "missing.yaml")},
		{"token", "revoke", "not a jti", "--config", cfgPath},
		{"token", "revoke", "slu1.forged.AAAA", "--config", cfgPath},
		{"token", "revoke", "--config", cfgPath},
	}
	for _, args := range cases {
		_, _, err := runTokenCLI(t, args...)
		if err == nil || !isUsage(err) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	out, _, err := runTokenCLI(t, "token", "issue", "--identity", "agent-1", "--allow-unlisted", "--ttl", "5m", "--config", cfgPath)
	if err != nil || !strings.HasPrefix(out, "slu1.") {
		t.Fatalf("--allow-unlisted: %v %q", err, out)
	}
}
