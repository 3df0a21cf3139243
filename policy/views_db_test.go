package policy

import (
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// TestMySQLCurrentDatabase: unqualified MySQL names resolve against the
// session's current database (Subject.Database, a USE earlier in the text,
// a view's own schema inside its definition); unknown = any schema.
func TestMySQLCurrentDatabase(t *testing.T) {
	p := testPolicy(t, config.Policy{Masks: []config.Mask{{Columns: []string{"crm.users.email"}, Method: "redact"}}})
	views := NewMySQLViews([]ViewDef{
		{Schema: "crm", Name: "contacts", Definition: "select `crm`.`users`.`email` AS `email` from `crm`.`users`"},
		{Schema: "crm", Name: "bare", Definition: "select email from users"},
		{Schema: "shop", Name: "contacts", Definition: "select `shop`.`users`.`email` AS `email` from `shop`.`users`"},
	})
	cases := []struct {
		db, sql string
		masked  bool
		viaView bool // names a view: only checked with the snapshot
	}{
		{"shop", "SELECT email FROM users", false, false},
		{"crm", "SELECT email FROM users", true, false},
		{"shop", "SELECT email FROM users", false, false}, // the cache keeps databases apart
		{"CRM", "SELECT email FROM users", true, false},
		{"", "SELECT email FROM users", true, false}, // unknown database: any schema
		{"shop", "SELECT email FROM crm.users", true, false},
		{"crm", "SELECT email FROM shop.users", false, false},
		{"shop", "SELECT u.email FROM users u JOIN crm.users c ON c.id = u.id", false, false},
		{"shop", "SELECT * FROM (SELECT email FROM users) t", false, false},
		{"crm", "SELECT * FROM (SELECT email FROM users) t", true, false},
		{"shop", "USE crm; SELECT email FROM users", true, false},
		{"crm", "USE shop; SELECT email FROM users", false, false},
		{"shop", "SELECT email FROM contacts", false, true},
		{"crm", "SELECT email FROM contacts", true, true},
		{"shop", "SELECT email FROM crm.contacts", true, true},
		{"crm", "SELECT email FROM shop.contacts", false, true},
		{"shop", "SELECT email FROM crm.bare", true, true}, // the view's schema, not the session's
		{"shop", "USE crm; SELECT email FROM contacts", true, true},
		{"", "SELECT email FROM contacts", true, true}, // unknown database: fail closed
	}
	for _, withViews := range []bool{true, false} {
		for _, c := range cases {
			if c.viaView && !withViews {
				continue
			}
			sub := Subject{Target: "db", Identity: "alice", Database: c.db}
			if withViews {
				sub.Views = views
			}
			d := p.CheckSQL(MySQL, sub, c.sql)
			if d.Action != Allow {
				t.Errorf("db %q %q: %v %q", c.db, c.sql, d.Action, d.Message)
				continue
			}
			got := false
			if rm := d.Mask.Columns(textFields("email")); rm != nil {
				got = len(rm.MaskRow([][]byte{[]byte("a@b.c")})) == 1
			}
			if got != c.masked {
				t.Errorf("db %q %q (views %v): masked %v, want %v", c.db, c.sql, withViews, got, c.masked)
			}
		}
	}
}

// TestMySQLCurrentDatabaseWrites: laundering checks resolve the written
// table against the current database too.
func TestMySQLCurrentDatabaseWrites(t *testing.T) {
	p := testPolicy(t, config.Policy{Masks: []config.Mask{{Columns: []string{"crm.users.email"}, Method: "redact"}}})
	for _, c := range []struct {
		db, sql string
		want    Action
	}{
		{"crm", "INSERT INTO copies (email) SELECT email FROM users", Block},
		{"shop", "INSERT INTO copies (email) SELECT email FROM users", Allow},
		{"crm", "INSERT INTO users (email) SELECT email FROM users", Allow}, // into a masked column
		{"shop", "INSERT INTO users (email) SELECT email FROM crm.users", Block},
		{"shop", "USE crm; INSERT INTO copies (email) SELECT email FROM users", Block},
	} {
		d := p.CheckSQL(MySQL, Subject{Target: "db", Identity: "alice", Database: c.db}, c.sql)
		if d.Action != c.want {
			t.Errorf("db %q %q: %v %q, want %v", c.db, c.sql, d.Action, d.Message, c.want)
		}
	}
}

func TestUseStatementDatabase(t *testing.T) {
	p := testPolicy(t, config.Policy{})
	d := p.CheckSQL(MySQL, Subject{Target: "db"}, "SELECT 1; USE `Other`; use third")
	var got []string
	for _, st := range d.Statements {
		if st.Kind == "use" {
			got = append(got, st.Database)
		}
	}
	if len(got) != 2 || got[0] != "Other" || got[1] != "third" {
		t.Fatalf("USE databases %q (%+v)", got, d.Statements)
	}
}
