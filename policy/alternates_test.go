package policy

import "testing"

func TestAlternateReadings(t *testing.T) {
	g := guardedPolicy(t)
	cases := []struct {
		d      Dialect
		sql    string
		action Action
		rule   string
	}{
		// standard_conforming_strings=off: the DROP is code, not string.
		{Postgres, `SELECT 'a\'' ; DROP TABLE t; --'`, Block, "no-drops"},
		{Postgres, `SELECT 1 WHERE 'x' LIKE '%\_%'`, Allow, ""},
		{Postgres, `SELECT E'a\'b'`, Allow, ""},
		{Postgres, `SELECT 'C:\'`, Allow, ""}, // does not parse with scs=off: dropped
		// NO_BACKSLASH_ESCAPES: the DROP is code.
		{MySQL, `SELECT 'a\' ; DROP TABLE t; -- '`, Block, "no-drops"},
		{MySQL, `SELECT 'it\'s'`, Allow, ""},
	}
	for _, c := range cases {
		d := g.CheckSQL(c.d, alice, c.sql)
		if d.Action != c.action || d.Rule != c.rule {
			t.Errorf("%q: got %v/%q, want %v/%q", c.sql, d.Action, d.Rule, c.action, c.rule)
		}
	}

	// ANSI_QUOTES: "email" is the column, not a string.
	m := maskPolicy(t, "mask")
	d := m.CheckSQL(MySQL, alice, `SELECT "email" FROM users`)
	if got := d.Mask.Columns(textFields("email")).MaskedColumns(); len(got) != 1 {
		t.Fatalf("ANSI_QUOTES reading not masked: %v", got)
	}
	alt := false
	for _, s := range d.Statements {
		alt = alt || s.Alternate
	}
	if !alt {
		t.Fatal("alternate reading not recorded")
	}
}

func TestEscapeStringsRewrite(t *testing.T) {
	cases := []struct{ in, want string }{
		{`SELECT 'a\'' ; DROP TABLE t; --'`, `SELECT E'a\'' ; DROP TABLE t; --'`},
		{`SELECT 'plain', E'x\y', "q\"`, `SELECT 'plain', E'x\y', "q\"`},
		{`SELECT $$a\'$$, $1, '\\'`, `SELECT $$a\'$$, $1, E'\\'`},
		{`-- 'a\'` + "\n" + `SELECT 1`, `-- 'a\'` + "\n" + `SELECT 1`},
	}
	for _, c := range cases {
		got, _ := pgEscapeStringsRewrite(c.in)
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}
