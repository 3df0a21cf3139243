package policy

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

func TestCheckForward(t *testing.T) {
	p := testPolicy(t, config.Policy{Rules: []config.Rule{
		{Name: "no-metadata", When: config.When{Forward: config.StringList{"169.254.169.254:*"}}, Action: "block"},
		{Name: "dbs", When: config.When{Forward: config.StringList{"db.internal:5432", "10.0.0.*:3306"}, Groups: []string{"developers"}}, Action: "allow"},
		{Name: "admin-ports", When: config.When{Forward: config.StringList{"*:22"}}, Action: "review"},
		{Name: "no-drops", When: config.When{SQL: []string{"drop"}}, Action: "block"},
	}})
	dev := Subject{Target: "db", Identity: "alice", Groups: []string{"developers"}}
	other := Subject{Target: "db", Identity: "bob"}
	cases := []struct {
		sub  Subject
		dest string
		want Action
		rule string
	}{
		{dev, "db.internal:5432", Allow, "dbs"},
		{dev, "DB.INTERNAL:5432", Allow, "dbs"},
		{dev, "10.0.0.7:3306", Allow, "dbs"},
		{other, "db.internal:5432", Block, "no-forwarding"}, // group condition
		{dev, "db.internal:6543", Block, "no-forwarding"},
		{dev, "169.254.169.254:80", Block, "no-metadata"},
		{dev, "web2:22", Review, "admin-ports"},
		{dev, "malformed", Block, "no-forwarding"},
	}
	for _, c := range cases {
		d := p.CheckForward(c.sub, c.dest)
		if d.Action != c.want || d.Rule != c.rule {
			t.Errorf("%s as %s: got %v/%q, want %v/%q", c.dest, c.sub.Identity, d.Action, d.Rule, c.want, c.rule)
		}
	}
	if d := (*Policy)(nil).CheckForward(dev, "db.internal:5432"); d.Action != Block {
		t.Fatal("no policy: forwarding must be denied")
	}
	// Forward rules never match SQL: "DROP" is still judged by no-drops only,
	// and a plain SELECT is not caught by a forward rule without SQL parts.
	if d := p.CheckSQL(Postgres, dev, "SELECT 1"); d.Action != Allow {
		t.Fatalf("forward rule matched SQL: %+v", d)
	}
	_, err := NewSet(&config.Config{
		Targets:  []config.Target{{Name: "db", Protocol: "ssh", Policy: "p"}},
		Policies: map[string]config.Policy{"p": {Rules: []config.Rule{{Name: "x", When: config.When{Forward: config.StringList{"nohost"}}, Action: "allow"}}}},
	})
	if err == nil || !strings.Contains(err.Error(), "when.forward[0]") {
		t.Fatalf("bad pattern: %v", err)
	}
}
