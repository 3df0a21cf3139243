package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const minimal = `
data_dir: /tmp/x
identities:
  - {name: alice, token: "${ALICE_TOKEN}", groups: [developers]}
targets:
  - name: appdb
    protocol: postgres
    listen: 127.0.0.1:15432
    upstream: {address: 127.0.0.1:5432, user: app, password: "${PW}"}
`

func TestParseExpandsEnvInsideValues(t *testing.T) {
	cfg, err := Parse([]byte(minimal), "s.yaml", env(map[string]string{"ALICE_TOKEN": "t#1: x", "PW": "p'w\"d"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Identities[0].Token.Reveal(); got != "t#1: x" {
		t.Fatalf("token = %q: a '#' or ': ' in an env value must stay part of the value", got)
	}
	if got := cfg.Targets[0].Upstream.Password.Reveal(); got != `p'w"d` {
		t.Fatalf("password = %q", got)
	}
	if cfg.Approvals.Timeout.Duration != DefaultApprovalTimeout || cfg.Targets[0].Upstream.TLS.Mode != "disable" {
		t.Fatalf("defaults not filled: %+v", cfg.Approvals)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	for _, out := range []string{s.String(), s.GoString()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret printed: %q", out)
		}
	}
}

func TestParseErrors(t *testing.T) {
	vars := env(map[string]string{"ALICE_TOKEN": "a", "PW": "b"})
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", minimal + "\nlisten_addr: x\n", `s.yaml:11: listen_addr: unknown key`},
		{"unknown nested key with line", strings.Replace(minimal, "user: app", "usr: app", 1), `s.yaml:9: targets[0].upstream.usr: unknown key (did you mean "user"?)`},
		{"unset env var names it", strings.Replace(minimal, "${PW}", "${NOPE}", 1), "environment variable NOPE is not set"},
		{"env default", strings.Replace(minimal, "${PW}", "${NOPE:-}", 1), ""},
		{"bad protocol", strings.Replace(minimal, "protocol: postgres", "protocol: oracle", 1), `targets[0].protocol: "oracle" is not one of`},
		{"bad duration", minimal + "approvals: {timeout: soon}\n", `"soon" is not a duration`},
		{"undefined policy", strings.Replace(minimal, "protocol: postgres", "protocol: postgres\n    policy: nope", 1), `policy "nope" is not defined`},
		{"iam without tls", strings.Replace(minimal, `password: "${PW}"`, "aws_rds_iam: {region: us-east-1}", 1), "aws_rds_iam sends a token and needs TLS"},
		{"duplicate identity", strings.Replace(minimal, "identities:\n", "identities:\n  - {name: alice, token: x}\n", 1), `identity "alice" is listed twice`},
		{"admin without token", minimal + "admin: {listen: 127.0.0.1:9080}\n", "admin.token: the admin API needs a token"},
		{"bad token_sha256", strings.Replace(minimal, `token: "${ALICE_TOKEN}"`, "token_sha256: abc", 1), "token_sha256: must be 64 hex"},
		{"rule without name", minimal + "policies:\n  p:\n    rules:\n      - {when: {sql: [drop]}, action: block}\n", "every rule needs a name"},
		{"bad action", minimal + "policies:\n  p:\n    rules:\n      - {name: r, when: {sql: [drop]}, action: nuke}\n", `"nuke" is not allow, block or review`},
		{"bad mask method", minimal + "policies:\n  p:\n    masks:\n      - {columns: [a.b], method: scramble}\n", `"scramble" is not redact`},
		{"unknown detector", minimal + "policies:\n  p:\n    masks:\n      - {detect: [ssn], method: redact}\n", `unknown detector "ssn"`},
		{"bad lineage", minimal + "policies:\n  p:\n    lineage: ignore\n", `policies.p.lineage: "ignore" is not mask or block`},
		{"bad masked_filters", minimal + "policies:\n  p:\n    masked_filters: mask\n", `policies.p.masked_filters: "mask" is not allow or block`},
		{"masked_filters", minimal + "policies:\n  p:\n    masked_filters: block\n", ""},
		{"account", strings.Replace(minimal, `password: "${PW}"}`, `password: "${PW}", accounts: [{groups: [ro], user: reader, password: x}]}`, 1), ""},
		{"account without user", strings.Replace(minimal, `password: "${PW}"}`, `password: "${PW}", accounts: [{groups: [ro], password: x}]}`, 1), "targets[0].upstream.accounts[0].user: required"},
		{"account for nobody", strings.Replace(minimal, `password: "${PW}"}`, `password: "${PW}", accounts: [{user: reader, password: x}]}`, 1), "accounts[0]: name the identities or groups"},
		{"account iam without tls", strings.Replace(minimal, `password: "${PW}"}`, `password: "${PW}", accounts: [{groups: [ro], user: r, aws_rds_iam: {region: eu-west-1}}]}`, 1), "accounts[0].aws_rds_iam: aws_rds_iam sends a token and needs TLS"},
		{"account on ssh", minimal + "  - {name: web1, protocol: ssh, upstream: {address: 'h:22', user: deploy, key_file: k, known_hosts: kh, accounts: [{groups: [ro], user: x}]}}\n", ""},
		{"ssh account with password", minimal + "  - {name: web1, protocol: ssh, upstream: {address: 'h:22', user: deploy, key_file: k, known_hosts: kh, accounts: [{groups: [ro], user: x, password: p}]}}\n", "targets[1].upstream.accounts[0]: an ssh account has a user and a key_file"},
		{"database account with key", strings.Replace(minimal, `password: "${PW}"}`, `password: "${PW}", accounts: [{groups: [ro], user: r, key_file: k}]}`, 1), "accounts[0].key_file: is for ssh targets"},
		{"empty file", "", "config is empty"},
		{"bad ssh key", strings.Replace(minimal, `groups: [developers]}`, `groups: [developers], ssh_keys: ["ssh-ed25519 notbase64"]}`, 1), "identities[0].ssh_keys[0]: not an authorized_keys line"},
		{"bad user CA", minimal + "identity: {ssh_user_ca: [nope]}\n", "identity.ssh_user_ca[0]: not a public key line"},
		{"ssh target without known_hosts", minimal + "  - {name: web1, protocol: ssh, upstream: {address: 'h:22', user: deploy, key_file: k}}\n", "targets[1].upstream.known_hosts: required for an ssh target"},
		{"short seal key", minimal + "recording: {seal_key: short}\n", "recording.seal_key: must be at least 16 characters"},
		{"seal key", minimal + "recording: {seal_key: 0123456789abcdef}\n", ""},
		{"seal key per target", strings.Replace(minimal, "protocol: postgres", "protocol: postgres\n    recording: {seal_key: 0123456789abcdef}", 1), "targets[0].recording.seal_key: the seal key is gateway-wide"},
		{"yaml syntax", "targets: [", "s.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "s.yaml", vars)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRecordingFor(t *testing.T) {
	cfg, err := Parse([]byte(minimal+"recording: {omit_params: true}\n"), "s.yaml", env(map[string]string{"ALICE_TOKEN": "a", "PW": "b"}))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.RecordingFor(&cfg.Targets[0]); !r.OmitParams || r.FlushInterval.Duration != time.Second {
		t.Fatalf("global recording not applied: %+v", r)
	}
	cfg.Targets[0].Recording = &Recording{FailOpen: true}
	if r := cfg.RecordingFor(&cfg.Targets[0]); r.OmitParams || !r.FailOpen || r.FlushInterval.Duration != time.Second {
		t.Fatalf("target override: %+v", r)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("targets: [{name: x, protocol: ssh, upstream: {address: a:1}}]"))
	f.Add([]byte("policies: {p: {rules: [{name: r, action: block, when: {regex: '('}}]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		Parse(data, "f.yaml", env(map[string]string{"ALICE_TOKEN": "a", "PW": "b"}))
	})
}

// TestBareReferencesInFlowMappings: the config shape in DESIGN.md writes
// `{password: ${PW}}`, which YAML alone cannot parse, and `port: ${N}`
// should become a number when N holds one.
func TestBareReferencesInFlowMappings(t *testing.T) {
	yaml := `
identities:
  - {name: alice, token: ${ALICE_TOKEN}, groups: [developers]}   # comment with ${NOT_A_REF}
limits: {max_connections: ${MAXC}, handshake_timeout: 5s}
targets:
  - name: shop
    protocol: mysql
    listen: 127.0.0.1:13306
    upstream: {address: 127.0.0.1:3306, user: shop, password: ${SHOP_DB_PASSWORD}}
  - name: appdb
    protocol: postgres
    listen: 127.0.0.1:15432
    upstream:
      address: 127.0.0.1:5432
      user: app
      password: "prefix-${APP_PW}"
      database: ${DB:-app}
`
	cfg, err := Parse([]byte(yaml), "f.yaml", env(map[string]string{
		"ALICE_TOKEN": "t}{,#x", "MAXC": "42", "SHOP_DB_PASSWORD": "123", "APP_PW": "null"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Identities[0].Token.Reveal(); got != "t}{,#x" {
		t.Errorf("token %q", got)
	}
	if cfg.Limits.MaxConnections != 42 {
		t.Errorf("max_connections %d: a number from the environment stays a number", cfg.Limits.MaxConnections)
	}
	if got := cfg.Targets[0].Upstream.Password.Reveal(); got != "123" {
		t.Errorf("numeric password %q", got)
	}
	if got := cfg.Targets[1].Upstream.Password.Reveal(); got != "prefix-null" {
		t.Errorf("quoted reference %q", got)
	}
	if cfg.Targets[1].Upstream.Database != "app" {
		t.Errorf("default %q", cfg.Targets[1].Upstream.Database)
	}
	// Error lines still point at the right line after quoting.
	_, err = Parse([]byte("targets:\n  - {name: a, protocol: postgres, listen: ${L}, upstream: {address: ${A}, usr: x}}\n"), "f.yaml",
		env(map[string]string{"L": "127.0.0.1:1", "A": "h:1"}))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:2: targets[0].upstream.usr: unknown key") {
		t.Errorf("error position: %v", err)
	}
	// A password that reads as null stays the string.
	cfg, err = Parse([]byte("identities:\n  - {name: a, token: ${T}}\n"), "f.yaml", env(map[string]string{"T": "null"}))
	if err != nil || cfg.Identities[0].Token.Reveal() != "null" {
		t.Errorf("null-looking token: %v %v", err, cfg)
	}
}

func TestAccountFor(t *testing.T) {
	tgt := &Target{Upstream: Upstream{User: "app", Password: "pw", Accounts: []UpstreamAccount{
		{Identities: []string{"ci-bot"}, User: "ci", Password: "c"},
		{Groups: []string{"contractors", "auditors"}, User: "reader", Password: "r"},
		{Groups: []string{"auditors"}, User: "never", Password: "n"}, // an earlier entry wins
	}}}
	for _, c := range []struct {
		identity string
		groups   []string
		want     string
	}{
		{"ci-bot", nil, "ci"},
		{"ci-bot", []string{"auditors"}, "ci"},
		{"eve", []string{"developers", "auditors"}, "reader"},
		{"alice", []string{"developers"}, "app"},
		{"alice", nil, "app"},
	} {
		if got := tgt.AccountFor(c.identity, c.groups); got.User != c.want {
			t.Errorf("%s %v: %q, want %q", c.identity, c.groups, got.User, c.want)
		}
	}
	if a := tgt.AccountFor("alice", nil); a.Password.Reveal() != "pw" {
		t.Fatal("the default account lost its password")
	}
}
