package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func writeCheckConfig(t *testing.T) string {
	return writeConfig(t, `
identities:
  - {name: alice, token: a, groups: [developers]}
  - {name: root-bot, token: r, groups: [admins]}
targets:
  - name: appdb
    protocol: postgres
    listen: 127.0.0.1:0
    policy: guarded
    upstream: {address: 127.0.0.1:5432, user: app, password: x}
  - name: shop
    protocol: mysql
    listen: 127.0.0.1:1
    policy: guarded
    upstream: {address: 127.0.0.1:3306, user: app, password: x}
  - name: box
    protocol: command
    policy: guarded
    command: [bash]
policies:
  guarded:
    rules:
      - {name: admins-drop, when: {sql: [drop], groups: [admins]}, action: allow}
      - {name: no-drops, when: {sql: [drop]}, action: block}
      - {name: no-rm-rf, when: {command: "rm -rf *"}, action: block}
    masks:
      - {columns: [users.email], method: email}
`)
}

func TestCheckShowsDecisions(t *testing.T) {
	cfg := writeCheckConfig(t)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--target", "appdb", "--as", "alice", "DROP TABLE users"},
			[]string{"action:  block", "rule:    no-drops", "statement 1: drop (tables: users)"}},
		{[]string{"--target", "appdb", "--as", "root-bot", "DROP TABLE users"},
			[]string{"action:  allow", "rule:    admins-drop"}},
		{[]string{"--target", "appdb", "--as", "alice", "--group", "admins", "DROP TABLE users"},
			[]string{"action:  allow", "rule:    admins-drop"}},
		{[]string{"--target", "appdb", "--as", "alice", "SELECT id, email, lower(email) AS e FROM users"},
			[]string{"action:  allow", "results: masked where they derive", "  id: clean\n", "  email: email (users.email)",
				"  e: redact (users.email)", "errors:  values from masked columns hidden"}},
		{[]string{"--target", "appdb", "--as", "alice", "SELECT id FROM orders"},
			[]string{"action:  allow", "results: not masked"}},
		{[]string{"--target", "shop", "--as", "alice", "INSERT INTO archive SELECT email FROM users"},
			[]string{"action:  block", "rule:    lineage", "users.email -> archive"}},
		{[]string{"--target", "box", "--as", "alice", "sudo rm -fr /"},
			[]string{"action:  block", "rule:    no-rm-rf"}},
	}
	for _, c := range cases {
		out, errOut, err := runTokenCLI(t, append([]string{"check", "--config", cfg}, c.args...)...)
		if err != nil {
			t.Fatalf("%v: %v %s", c.args, err, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	out, _, err := runTokenCLI(t, "check", "--config", cfg, "--target", "appdb", "--as", "alice", "--json", "DROP TABLE users")
	var res checkResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Action != "block" || res.Rule != "no-drops" {
		t.Fatalf("json: %v %s", err, out)
	}
	// Usage errors exit 2.
	for _, args := range [][]string{
		{"check", "--config", cfg, "--target", "nope", "--as", "alice", "SELECT 1"},
		{"check", "--config", cfg, "--target", "appdb", "SELECT 1"},
		{"check", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "--target", "appdb", "--as", "alice", "SELECT 1"},
	} {
		_, _, err := runTokenCLI(t, args...)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
