package policy

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// testPolicy compiles one policy named "p" for target "db".
func testPolicy(t testing.TB, pc config.Policy) *Policy {
	t.Helper()
	cfg := &config.Config{
		Targets:  []config.Target{{Name: "db", Protocol: "postgres", Policy: "p"}},
		Policies: map[string]config.Policy{"p": pc},
	}
	set, err := NewSet(cfg)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	p := set.For("db")
	if p == nil {
		t.Fatal("no policy for target db")
	}
	return p
}

// maskPolicy masks users.email (email), *.ssn (partial), bare secret
// (redact) and hashes accounts.iban.
func maskPolicy(t testing.TB, lineage string) *Policy {
	return testPolicy(t, config.Policy{
		Lineage: lineage,
		HashKey: "k3y",
		Masks: []config.Mask{
			{Columns: []string{"users.email"}, Method: "email"},
			{Columns: []string{"*.ssn"}, Method: "partial", Keep: 4},
			{Columns: []string{"secret"}, Method: "redact"},
			{Columns: []string{"accounts.iban"}, Method: "hash"},
		},
	})
}

func textFields(names ...string) []Field {
	fs := make([]Field, len(names))
	for i, n := range names {
		fs[i] = Field{Name: n, Type: TypeText, Size: -1}
	}
	return fs
}

var alice = Subject{Target: "db", Protocol: "postgres", Identity: "alice", Groups: []string{"developers"}}

// lineageCase is a statement and a part of the lineage refusal it must
// get ("" = allowed).
type lineageCase struct {
	d       Dialect
	sql     string
	blocked string
}

func wantLineageBlocks(t *testing.T, p *Policy, cases []lineageCase) {
	t.Helper()
	for _, c := range cases {
		d := p.CheckSQL(c.d, alice, c.sql)
		if c.blocked == "" {
			if d.Action != Allow {
				t.Errorf("%v %q: %v %q, want allowed", c.d, c.sql, d.Action, d.Message)
			}
			continue
		}
		if d.Action != Block || d.Rule != "lineage" || !strings.Contains(d.Message, c.blocked) {
			t.Errorf("%v %q: %v %q %q, want a lineage block: %s", c.d, c.sql, d.Action, d.Rule, d.Message, c.blocked)
		}
	}
}
