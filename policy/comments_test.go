package policy

import (
	"strings"
	"testing"
)

func TestStripComments(t *testing.T) {
	for _, c := range []struct {
		d        Dialect
		in, want string
	}{
		{Postgres, "SELECT 1 -- from users\nFROM t", "SELECT 1  \nFROM t"},
		{Postgres, "SELECT /* users /* nested */ email */ 1", "SELECT   1"},
		{Postgres, "SELECT '--' || email FROM users", "SELECT '--' || email FROM users"},               // in a string: not a comment
		{Postgres, "SELECT 'it''s -- ' || email FROM users", "SELECT 'it''s -- ' || email FROM users"}, // doubled quote
		{Postgres, `SELECT E'\' -- ' || email FROM users`, `SELECT E'\' -- ' || email FROM users`},     // E'' escapes
		{Postgres, `SELECT '\' -- x`, `SELECT '\'  `},                                                  // standard strings do not
		{Postgres, "EXECUTE $q$ SELECT email /* x */ FROM users $q$", "EXECUTE $q$ SELECT email /* x */ FROM users $q$"},
		{Postgres, "SELECT $1 -- users", "SELECT $1  "}, // a parameter, not a dollar quote
		{Postgres, `SELECT "a--b" FROM t`, `SELECT "a--b" FROM t`},
		{Postgres, "SELECT 1 /* unterminated users", "SELECT 1  "},
		{MySQL, "RETURN 1 # users\n", "RETURN 1  \n"},
		{MySQL, "RETURN 1 -- users", "RETURN 1  "},
		{MySQL, "RETURN 1--2", "RETURN 1--2"}, // MySQL: "--" needs a space to start a comment
		{MySQL, "RETURN /*! (SELECT email FROM users) */ 1", "RETURN /*! (SELECT email FROM users) */ 1"},
		{MySQL, `RETURN CONCAT('\' # ', email) FROM users`, `RETURN CONCAT('\' # ', email) FROM users`},
		{MySQL, "RETURN 1 /* users /* */ email */", "RETURN 1   email */"}, // MySQL comments do not nest
		{Postgres, "no comments at all", "no comments at all"},
	} {
		if got := stripComments(c.in, c.d); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

// A body that mentions a masked table only in a comment reads nothing
// masked; one whose string holds "--" before real code still does.
func TestRoutineCommentsDoNotMask(t *testing.T) {
	p := emailPolicy(t)
	views := NewViews(nil).WithFuncs([]FuncDef{
		{Schema: "public", Name: "tally", Body: "-- unlike users, this reads orders\nSELECT count(*) FROM orders /* not users */"},
		{Schema: "public", Name: "sneaky", Body: "SELECT '--' || email FROM users WHERE id = $1"},
	})
	sub := alice
	sub.Views = views
	if d := p.CheckSQL(Postgres, sub, "SELECT tally()"); d.Mask != nil && plansMayMask(d.Mask.lin, d.Mask.plans) || d.Mask != nil && d.Mask.all != nil {
		t.Fatalf("a comment naming users masked tally(): %+v", d.Mask)
	}
	d := p.CheckSQL(Postgres, sub, "SELECT sneaky(1)")
	rm := d.Mask.Columns(textFields("sneaky"))
	row := [][]byte{[]byte("--a@b.c")}
	if rm == nil || len(rm.MaskRow(row)) == 0 || strings.Contains(string(row[0]), "a@b.c") {
		t.Fatalf("sneaky() not masked: %q", row[0])
	}
}

func FuzzStripComments(f *testing.F) {
	for _, s := range []string{"SELECT 1 -- x\n", "/* /* */ */", `E'\'--'`, "$a$ -- $a$", "#'", "/*!", "'", "$", "--"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, mysql bool) {
		if out := stripComments(s, fuzzDialect(mysql)); len(out) > len(s) {
			t.Fatalf("stripComments grew %q to %q", s, out)
		}
	})
}
