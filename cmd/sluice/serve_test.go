package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeCheck(t *testing.T) {
	good := writeFile(t, "good.yaml", `
data_dir: `+t.TempDir()+`
identities: [{name: alice, token: t}]
policies:
  guarded:
    rules: [{name: no-drops, when: {sql: [drop]}, action: block}]
targets:
  - {name: appdb, protocol: postgres, listen: "127.0.0.1:0", policy: guarded, upstream: {address: "127.0.0.1:5432", user: app}}
`)
	out, err := runCLI(t, "serve", "--check", "--config", good)
	if err != nil || !strings.Contains(out, "ok (1 targets, 1 identities, 1 policies)") {
		t.Fatalf("check of a good config: %q %v", out, err)
	}

	cases := map[string]struct{ yaml, want string }{
		"unknown key":      {"targets: []\nlisten: x\n", "listen: unknown key"},
		"bad rule kind":    {"policies: {p: {rules: [{name: r, when: {sql: [dropp]}, action: block}]}}\ntargets: [{name: a, protocol: postgres, listen: '127.0.0.1:1', policy: p, upstream: {address: 'h:1', user: u}}]\n", "dropp"},
		"missing upstream": {"targets: [{name: a, protocol: postgres, listen: '127.0.0.1:1', upstream: {user: u}}]\n", "targets[0].upstream.address: required"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := runCLI(t, "serve", "--check", "--config", writeFile(t, "bad.yaml", c.yaml))
			if !isUsage(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want a usage error containing %q, got %v", c.want, err)
			}
		})
	}
	if _, err := runCLI(t, "serve"); !isUsage(err) {
		t.Fatalf("serve without --config: %v", err)
	}
	if _, err := runCLI(t, "serve", "--config", "/nonexistent.yaml"); !isUsage(err) || !strings.Contains(err.Error(), "/nonexistent.yaml") {
		t.Fatalf("missing file must be named: %v", err)
	}
}
