package policy

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

func guardedPolicy(t testing.TB) *Policy {
	return testPolicy(t, config.Policy{
		Rules: []config.Rule{
			{Name: "dba-anything", When: config.When{Groups: []string{"dba"}}, Action: "allow"},
			{Name: "no-drops", When: config.When{SQL: []string{"drop", "truncate"}}, Action: "block"},
			{Name: "bulk-writes", When: config.When{SQL: []string{"delete", "update"}, WithoutWhere: true}, Action: "review"},
			{Name: "no-file-read", When: config.When{Functions: []string{"pg_read_file", "pg_ls_dir", "lo_export", "load_file"}}, Action: "block"},
			{Name: "no-copy-program", When: config.When{CopyProgram: true}, Action: "block"},
			{Name: "audit-readonly", When: config.When{Tables: []string{"audit.*"}, SQL: []string{"write"}}, Action: "block", Message: "the audit schema is read-only"},
			{Name: "ci-no-ddl", When: config.When{Identities: []string{"ci"}, SQL: []string{"ddl"}}, Action: "review"},
			{Name: "rm-rf", When: config.When{Command: config.StringList{"rm -rf *"}}, Action: "block"},
			{Name: "sleepers", When: config.When{Regex: `(?i)pg_sleep\(\s*[0-9]{3,}`}, Action: "block"},
		},
	})
}

func TestRuleMatching(t *testing.T) {
	p := guardedPolicy(t)
	ci := Subject{Target: "db", Identity: "ci", Groups: []string{"bots"}}
	dba := Subject{Target: "db", Identity: "dana", Groups: []string{"dba"}}
	cases := []struct {
		sub    Subject
		d      Dialect
		sql    string
		action Action
		rule   string
	}{
		{alice, Postgres, "SELECT * FROM users WHERE id = 1", Allow, ""},
		{alice, Postgres, "DROP TABLE users", Block, "no-drops"},
		{alice, Postgres, "drop table if exists x", Block, "no-drops"},
		{alice, Postgres, "TRUNCATE t", Block, "no-drops"},
		{dba, Postgres, "DROP TABLE users", Allow, "dba-anything"},
		{alice, Postgres, "DELETE FROM users", Review, "bulk-writes"},
		{alice, Postgres, "DELETE FROM users WHERE id = 1", Allow, ""},
		{alice, Postgres, "UPDATE users SET a = 1", Review, "bulk-writes"},
		{alice, Postgres, "WITH x AS (DELETE FROM users RETURNING 1) SELECT 1", Review, "bulk-writes"},
		{alice, Postgres, "EXPLAIN ANALYZE DELETE FROM users", Review, "bulk-writes"},
		{alice, Postgres, "EXPLAIN DELETE FROM users", Allow, ""},
		{alice, Postgres, "PREPARE p AS DELETE FROM users", Review, "bulk-writes"},
		{alice, Postgres, "SELECT pg_read_file('/etc/passwd')", Block, "no-file-read"},
		{alice, Postgres, "SELECT x FROM (SELECT pg_catalog.pg_ls_dir('.') x) s", Block, "no-file-read"},
		{alice, Postgres, "COPY t FROM PROGRAM 'id'", Block, "no-copy-program"},
		{alice, Postgres, "COPY t FROM STDIN", Allow, ""},
		{alice, Postgres, "INSERT INTO audit.log VALUES (1)", Block, "audit-readonly"},
		{alice, Postgres, "SELECT * FROM audit.log", Allow, ""},
		{ci, Postgres, "CREATE TABLE t (a int)", Review, "ci-no-ddl"},
		{alice, Postgres, "CREATE TABLE t (a int)", Allow, ""},
		{alice, Postgres, "SELECT pg_sleep(1000)", Block, "sleepers"},
		{alice, Postgres, "SELECT pg_sleep(1)", Allow, ""},
		// Every statement is judged; the strictest wins.
		{alice, Postgres, "SELECT 1; DROP TABLE users", Block, "no-drops"},
		{alice, Postgres, "DELETE FROM a; DROP TABLE b; SELECT 1", Block, "no-drops"},
		{alice, Postgres, "SELECT 1; DELETE FROM a", Review, "bulk-writes"},
		// Unparseable: blocked, since the policy blocks things.
		{alice, Postgres, "DROP TABEL users", Block, unparseableRule},
		{alice, Postgres, "SELECT 1; SELEC 2", Block, unparseableRule},
		// MySQL, same rules.
		{alice, MySQL, "DROP TABLE users", Block, "no-drops"},
		{alice, MySQL, "/*!40000 DROP TABLE users */", Block, "no-drops"},
		{alice, MySQL, "SELECT 1; /*! DROP TABLE t */", Block, "no-drops"},
		{alice, MySQL, "SELECT LOAD_FILE('/etc/passwd')", Block, "no-file-read"},
		{alice, MySQL, "DELETE FROM users", Review, "bulk-writes"},
		{alice, MySQL, "PREPARE s FROM 'DELETE FROM users'", Review, "bulk-writes"},
		{alice, MySQL, "PREPARE s FROM @q", Block, unparseableRule},
		{alice, MySQL, "SELECT * FROM users WHERE id = 1", Allow, ""},
	}
	for _, c := range cases {
		got := p.CheckSQL(c.d, c.sub, c.sql)
		if got.Action != c.action || got.Rule != c.rule {
			t.Errorf("%s %q: got %v/%q, want %v/%q", c.sub.Identity, c.sql, got.Action, got.Rule, c.action, c.rule)
		}
		if got.Action != Allow && (got.Message == "" || (got.Rule != "" && got.Rule != unparseableRule && !strings.Contains(got.Message, got.Rule) && got.Rule != "audit-readonly")) {
			t.Errorf("%q: message %q does not name the rule", c.sql, got.Message)
		}
		if strings.Contains(got.Message, "passwd") {
			t.Errorf("%q: message leaks statement text: %q", c.sql, got.Message)
		}
	}
}

func TestRuleCustomMessage(t *testing.T) {
	p := guardedPolicy(t)
	d := p.CheckSQL(Postgres, alice, "DELETE FROM audit.log WHERE id = 1")
	if d.Message != "the audit schema is read-only" {
		t.Fatalf("message %q", d.Message)
	}
}

func TestDefaultAndUnparseableActions(t *testing.T) {
	allowAll := testPolicy(t, config.Policy{})
	if d := allowAll.CheckSQL(Postgres, alice, "SELEC garbage"); d.Action != Allow || d.Rule != unparseableRule {
		t.Errorf("allow-only policy: unparseable got %v/%q, want allow", d.Action, d.Rule)
	}
	strict := testPolicy(t, config.Policy{Default: "block", Rules: []config.Rule{
		{Name: "reads", When: config.When{SQL: []string{"select"}}, Action: "allow"},
	}})
	if d := strict.CheckSQL(Postgres, alice, "SELECT 1"); d.Action != Allow || d.Rule != "reads" {
		t.Errorf("got %v/%q", d.Action, d.Rule)
	}
	if d := strict.CheckSQL(Postgres, alice, "INSERT INTO t VALUES (1)"); d.Action != Block || d.Rule != "" || !strings.Contains(d.Message, "no rule allows") {
		t.Errorf("default block: got %v/%q %q", d.Action, d.Rule, d.Message)
	}
	if d := strict.CheckSQL(Postgres, alice, "SELEC 1"); d.Action != Block {
		t.Errorf("default-block policy must block unparseable, got %v", d.Action)
	}
	review := testPolicy(t, config.Policy{Unparseable: "review", Rules: []config.Rule{
		{Name: "x", When: config.When{SQL: []string{"drop"}}, Action: "block"},
	}})
	if d := review.CheckSQL(Postgres, alice, "SELEC 1"); d.Action != Review || d.Rule != unparseableRule {
		t.Errorf("unparseable: review got %v/%q", d.Action, d.Rule)
	}
	var nilPolicy *Policy
	if d := nilPolicy.CheckSQL(Postgres, alice, "DROP TABLE x"); d.Action != Allow || d.Mask != nil {
		t.Errorf("nil policy: %+v", d)
	}
	if d := testPolicy(t, config.Policy{}).CheckSQL(Postgres, alice, ""); d.Action != Allow {
		t.Errorf("empty text: %v", d.Action)
	}
}

func TestSubjectConditions(t *testing.T) {
	p := testPolicy(t, config.Policy{Rules: []config.Rule{
		{Name: "prod-only", When: config.When{Targets: []string{"prod"}, SQL: []string{"delete"}}, Action: "block"},
		{Name: "interns", When: config.When{Groups: []string{"interns"}}, Action: "review"},
	}})
	if d := p.CheckSQL(Postgres, Subject{Target: "prod"}, "DELETE FROM t WHERE a = 1"); d.Rule != "prod-only" {
		t.Errorf("target match: %q", d.Rule)
	}
	if d := p.CheckSQL(Postgres, Subject{Target: "staging"}, "DELETE FROM t WHERE a = 1"); d.Rule != "" {
		t.Errorf("target mismatch: %q", d.Rule)
	}
	if d := p.CheckSQL(Postgres, Subject{Groups: []string{"x", "interns"}}, "SELECT 1"); d.Action != Review {
		t.Errorf("group match: %v", d.Action)
	}
}

func TestNamePatterns(t *testing.T) {
	cases := []struct {
		pat, name string
		want      bool
	}{
		{"users", "users", true},
		{"users", "app.users", true},
		{"app.users", "app.users", true},
		{"app.users", "users", true}, // search_path: fail closed
		{"app.users", "other.users", false},
		{"audit.*", "audit.log", true},
		{"audit.*", "log", false},
		{"pg_*", "pg_read_file", true},
		{"pg_*", "pg_catalog.pg_ls_dir", true},
		{"users", "users2", false},
	}
	for _, c := range cases {
		np, err := parseNamePattern(c.pat)
		if err != nil {
			t.Fatal(err)
		}
		if got := np.match(c.name); got != c.want {
			t.Errorf("%q ~ %q = %v", c.pat, c.name, got)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		pc  config.Policy
		key string
	}{
		{config.Policy{Default: "review"}, "policies.p.default"},
		{config.Policy{Lineage: "maybe"}, "policies.p.lineage"},
		{config.Policy{Unparseable: "ignore"}, "policies.p.unparseable"},
		{config.Policy{Rules: []config.Rule{{Action: "block"}}}, "policies.p.rules[0].name"},
		{config.Policy{Rules: []config.Rule{{Name: "a", Action: "deny"}}}, "policies.p.rules[0].action"},
		{config.Policy{Rules: []config.Rule{{Name: "a", Action: "block", When: config.When{SQL: []string{"selekt"}}}}}, "policies.p.rules[0].when.sql[0]"},
		{config.Policy{Rules: []config.Rule{{Name: "a", Action: "block", When: config.When{Regex: "("}}}}, "policies.p.rules[0].when.regex"},
		{config.Policy{Rules: []config.Rule{{Name: "a", Action: "block", When: config.When{Tables: []string{"[x"}}}}}, "policies.p.rules[0].when.tables[0]"},
		{config.Policy{Masks: []config.Mask{{Columns: []string{"a.b.c.d"}, Method: "redact"}}}, "policies.p.masks[0].columns[0]"},
		{config.Policy{Masks: []config.Mask{{Columns: []string{"a"}, Method: "scramble"}}}, "policies.p.masks[0].method"},
		{config.Policy{Masks: []config.Mask{{Columns: []string{"a"}, Method: "hash"}}}, "policies.p.masks[0].method"},
		{config.Policy{Masks: []config.Mask{{Detect: []string{"ssn"}, Method: "redact"}}}, "policies.p.masks[0].detect[0]"},
		{config.Policy{Masks: []config.Mask{{Method: "redact"}}}, "policies.p.masks[0]"},
	}
	for _, c := range cases {
		cfg := &config.Config{
			Targets:  []config.Target{{Name: "db", Protocol: "postgres", Policy: "p"}},
			Policies: map[string]config.Policy{"p": c.pc},
		}
		_, err := NewSet(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), c.key) {
			t.Errorf("%+v: error %v, want one naming %s", c.pc, err, c.key)
		}
	}
	_, err := NewSet(&config.Config{Targets: []config.Target{{Name: "db", Policy: "missing"}}})
	if err == nil || !strings.Contains(err.Error(), "targets[0].policy") {
		t.Errorf("missing policy: %v", err)
	}
}

func TestSetSharesPolicies(t *testing.T) {
	cfg := &config.Config{
		Targets: []config.Target{
			{Name: "a", Protocol: "postgres", Policy: "p"},
			{Name: "b", Protocol: "mysql", Policy: "p"},
			{Name: "c", Protocol: "postgres"},
		},
		Policies: map[string]config.Policy{"p": {}},
	}
	s, err := NewSet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.For("a") == nil || s.For("a") != s.For("b") || s.For("c") != nil || s.For("nope") != nil {
		t.Fatal("targets do not share the compiled policy")
	}
	var none *Set
	if none.For("a") != nil {
		t.Fatal("nil set")
	}
}
