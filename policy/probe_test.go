package policy

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// probePolicy is maskPolicy with masked_filters: block, and a rule that
// explicitly allows one lookup.
func probePolicy(t testing.TB) *Policy {
	return testPolicy(t, config.Policy{
		MaskedFilters: "block",
		Rules: []config.Rule{{Name: "lookup-by-email", Action: "allow",
			When: config.When{Regex: `^SELECT id FROM users WHERE email = \$1$`}}},
		Masks: []config.Mask{
			{Columns: []string{"users.email"}, Method: "email"},
			{Columns: []string{"*.ssn"}, Method: "partial", Keep: 4},
		},
	})
}

func TestMaskedFilters(t *testing.T) {
	p := probePolicy(t)
	cases := []struct {
		d       Dialect
		sql     string
		clause  string // "" = not blocked
		allowed bool   // allowed by the explicit rule
	}{
		{Postgres, "SELECT count(*) FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{Postgres, "SELECT id FROM users u WHERE lower(u.email) = 'x'", "WHERE", false},
		{Postgres, "SELECT id FROM users WHERE id IN (SELECT id FROM users WHERE email > 'm')", "WHERE", false},
		{Postgres, "SELECT 1 WHERE EXISTS (SELECT 1 FROM users WHERE email = 'a@b.c')", "WHERE", false},
		{Postgres, "SELECT id FROM orders WHERE (SELECT email FROM users LIMIT 1) LIKE 'a%'", "WHERE", false},
		{Postgres, "SELECT o.id FROM orders o JOIN users u ON u.email = o.note", "JOIN", false},
		{Postgres, "SELECT id FROM users JOIN people USING (ssn)", "JOIN USING", false},
		{Postgres, "SELECT id FROM users ORDER BY email", "ORDER BY", false},
		{Postgres, "SELECT id, email AS e FROM users ORDER BY e", "ORDER BY", false},
		{Postgres, "SELECT id, email FROM users ORDER BY 2", "ORDER BY", false},
		{Postgres, "SELECT left(email, 1), count(*) FROM users GROUP BY 1", "GROUP BY", false},
		{Postgres, "SELECT count(*) FROM users GROUP BY email HAVING count(*) > 1", "GROUP BY", false},
		{Postgres, "SELECT count(*) FROM users HAVING max(email) > 'm'", "HAVING", false},
		{Postgres, "SELECT DISTINCT ON (email) id FROM users", "DISTINCT ON", false},
		{Postgres, "SELECT id FROM users UNION SELECT id FROM users ORDER BY 1", "", false},
		{Postgres, "WITH x AS (SELECT id FROM users WHERE email LIKE 'a%') SELECT count(*) FROM x", "WHERE", false},
		{Postgres, "SELECT count(*) FROM (SELECT email AS e FROM users) s WHERE s.e LIKE 'a%'", "WHERE", false},
		{Postgres, "UPDATE users SET name = 'x' WHERE email LIKE 'a%'", "WHERE", false},
		{Postgres, "DELETE FROM people WHERE ssn LIKE '1%'", "WHERE", false},
		{Postgres, "SELECT id INTO t FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{Postgres, "CREATE TABLE t AS SELECT id FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{Postgres, "CREATE VIEW v AS SELECT id FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{Postgres, "DECLARE c CURSOR FOR SELECT id FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{Postgres, "EXPLAIN ANALYZE SELECT id FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{Postgres, "EXPLAIN SELECT id FROM users WHERE email = 'a@b.c'", "WHERE", false}, // row estimates
		{Postgres, "EXPLAIN INSERT INTO t SELECT email FROM users", "", false},           // planned, not run
		{MySQL, "EXPLAIN SELECT id FROM users WHERE email = 'a@b.c'", "WHERE", false},
		{Postgres, "PREPARE q AS SELECT id FROM users WHERE email = $1", "WHERE", false},
		{Postgres, "SELECT id, row_number() OVER w FROM users WINDOW w AS (ORDER BY email)", "WINDOW", false},
		// A constraint or unique index fails or not by the values: an oracle.
		{Postgres, "ALTER TABLE users ADD CONSTRAINT c CHECK (email < 'm')", "a constraint", false},
		{Postgres, "CREATE UNIQUE INDEX ON users (substr(email, 1, 1))", "a unique index", false},
		{Postgres, "CREATE INDEX ON users (id) WHERE email LIKE 'a%'", "an index predicate", false},
		{Postgres, "CREATE INDEX ON users (email)", "", false},
		{Postgres, "ALTER TABLE users ADD CONSTRAINT c CHECK (name <> '')", "", false},
		{MySQL, "ALTER TABLE users ADD CONSTRAINT c CHECK (email < 'm')", "a constraint", false},
		{MySQL, "CREATE UNIQUE INDEX u ON users ((LEFT(email, 1)))", "a unique index", false},
		{MySQL, "ALTER TABLE users ADD UNIQUE (email)", "a constraint", false},
		{MySQL, "CREATE INDEX i ON users (email)", "", false},
		// Reading masked columns, or filtering on clean ones, is fine.
		{Postgres, "SELECT email FROM users WHERE id = 1", "", false},
		{Postgres, "SELECT id, email FROM users ORDER BY id", "", false},
		{Postgres, "SELECT u.email FROM users u JOIN orders o ON o.uid = u.id WHERE o.total > 10", "", false},
		{Postgres, "UPDATE users SET email = 'x' WHERE id = 1", "", false},
		{Postgres, "SELECT count(*) FROM orders WHERE note LIKE 'a%' GROUP BY 1", "", false},
		{Postgres, "SELECT * FROM orders ORDER BY id", "", false},        // *.ssn could be any table's; id is not ssn
		{Postgres, "SELECT * FROM people ORDER BY 2", "ORDER BY", false}, // position 2 could be ssn
		{Postgres, "SELECT * FROM people ORDER BY ssn", "ORDER BY", false},
		// The explicit rule wins, as for laundering.
		{Postgres, "SELECT id FROM users WHERE email = $1", "", true},
		// MySQL.
		{MySQL, "SELECT count(*) FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{MySQL, "SELECT o.id FROM orders o JOIN users u ON u.email = o.note", "JOIN", false},
		{MySQL, "SELECT id FROM users JOIN people USING (ssn)", "JOIN USING", false},
		{MySQL, "SELECT id, email FROM users ORDER BY 2", "ORDER BY", false},
		{MySQL, "SELECT id, email AS e FROM users ORDER BY e", "ORDER BY", false},
		{MySQL, "SELECT count(*) FROM users GROUP BY email", "GROUP BY", false},
		{MySQL, "SELECT count(*) FROM users HAVING max(email) > 'm'", "HAVING", false},
		{MySQL, "(SELECT id FROM users) UNION (SELECT id FROM people) ORDER BY 1", "", false},
		{MySQL, "UPDATE users SET name = 'x' WHERE email LIKE 'a%'", "WHERE", false},
		{MySQL, "DELETE FROM people WHERE ssn LIKE '1%' ORDER BY id LIMIT 1", "WHERE", false},
		{MySQL, "SELECT id FROM users WHERE email LIKE 'a%' INTO OUTFILE '/tmp/x'", "WHERE", false},
		{MySQL, "CREATE VIEW v AS SELECT id FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{MySQL, "INSERT INTO t SELECT id FROM users WHERE email LIKE 'a%'", "WHERE", false},
		{MySQL, "PREPARE s FROM 'SELECT id FROM users WHERE email = ?'", "WHERE", false},
		{MySQL, "SELECT email FROM users WHERE id = 1", "", false},
		{MySQL, "SELECT u.email FROM users u JOIN orders o ON o.uid = u.id", "", false},
	}
	for _, c := range cases {
		d := p.CheckSQL(c.d, alice, c.sql)
		switch {
		case c.clause == "":
			if d.Action != Allow || (c.allowed && d.Rule != "lookup-by-email") {
				t.Errorf("%v %q: %v %q %q, want allowed", c.d, c.sql, d.Action, d.Rule, d.Message)
			}
		case d.Action != Block || d.Rule != "masked_filters":
			t.Errorf("%v %q: %v %q %q, want blocked by masked_filters", c.d, c.sql, d.Action, d.Rule, d.Message)
		case !strings.Contains(d.Message, "in "+c.clause+" ("):
			t.Errorf("%v %q: message %q, want clause %s", c.d, c.sql, d.Message, c.clause)
		}
	}
}

// Without masked_filters: block (the default), filters are not judged.
func TestMaskedFiltersOffByDefault(t *testing.T) {
	p := maskPolicy(t, "mask")
	for _, sql := range []string{
		"SELECT count(*) FROM users WHERE email LIKE 'a%'",
		"SELECT id FROM users ORDER BY email",
	} {
		if d := p.CheckSQL(Postgres, alice, sql); d.Action != Allow {
			t.Errorf("%q: %v %q", sql, d.Action, d.Message)
		}
	}
}

// A database view's own filter on a masked column is its owner's, not the
// client's probe; filtering on a view's masked column is the client's.
func TestMaskedFiltersThroughViews(t *testing.T) {
	p := probePolicy(t)
	sub := alice
	sub.Views = NewViews([]ViewDef{
		{Schema: "public", Name: "staff", Definition: "SELECT id, email FROM users WHERE email LIKE '%@corp.example'"},
	})
	cases := []struct {
		sql     string
		blocked bool
	}{
		{"SELECT id FROM staff", false},
		{"SELECT id, email FROM staff WHERE id > 3", false},
		{"SELECT count(*) FROM staff WHERE email LIKE 'a%'", true},
		{"SELECT id FROM staff s ORDER BY s.email", true},
	}
	for _, c := range cases {
		d := p.CheckSQL(Postgres, sub, c.sql)
		if got := d.Action == Block && d.Rule == "masked_filters"; got != c.blocked || (!got && d.Action != Allow) {
			t.Errorf("%q: %v %q %q, want blocked=%v", c.sql, d.Action, d.Rule, d.Message, c.blocked)
		}
	}
}
