package policy

import (
	"testing"
	"unicode/utf8"

	"github.com/sluice-gw/sluice/config"
)

func TestNormalizeKey(t *testing.T) {
	cases := []struct {
		d    Dialect
		in   string
		want string
		ok   bool
	}{
		{Postgres, "SELECT * FROM t WHERE aid = 123", "SELECT * FROM t WHERE aid = ?", true},
		{Postgres, "select  a,\n\tb from t where x='it''s'", "select a, b from t where x=?", true},
		{Postgres, "SELECT 1.5e-3, .5, 0x1F, 1_000", "SELECT ?, ?, ?, ?", true},
		{Postgres, "SELECT E'a\\'b' || 'c'", "SELECT E? || ?", true},
		{Postgres, "SELECT 'a\\'", "", false}, // standard_conforming_strings decides
		{Postgres, "SELECT $$a ' b$$, $tag$x$$y$tag$", "SELECT ?, ?", true},
		{Postgres, "SELECT $1, $2 FROM t", "SELECT $1, $2 FROM t", true},
		{Postgres, `SELECT "we""ird" FROM "T"`, `SELECT "we""ird" FROM "T"`, true},
		{Postgres, "SELECT 1 -- comment 'x\nFROM t", "SELECT ? FROM t", true},
		{Postgres, "SELECT /* a /* nested */ still */ 1", "SELECT ?", true},
		{Postgres, "SELECT /* unterminated", "", false},
		{Postgres, "SELECT 'unterminated", "", false},
		{Postgres, "SELECT $a$ unterminated", "", false},
		{Postgres, "SELECT a1, t2.c3 FROM t4", "SELECT a1, t2.c3 FROM t4", true},
		{Postgres, "SELECT B'101', X'ff'", "SELECT B?, X?", true},
		{Postgres, "SELECT a$1 FROM t", "SELECT a$1 FROM t", true},
		{Postgres, "SELECT 1--2\n", "SELECT ?", true},
		{MySQL, "SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?", true},
		{MySQL, "SELECT 1--1", "SELECT ?--?", true},             // not a comment in MySQL
		{MySQL, "SELECT 1 -- c\n", "SELECT ? -- c\n", true},     // kept verbatim, with its line break
		{MySQL, "SELECT 1 # c 'x\n", "SELECT ? # c 'x\n", true}, // kept verbatim, with its line break
		{MySQL, "/*!40000 DROP TABLE t */ SELECT 2", "/*!40000 DROP TABLE t */ SELECT ?", true},
		{MySQL, `SELECT "email" FROM t`, `SELECT "email" FROM t`, true}, // ANSI_QUOTES may make it a column
		{MySQL, "SELECT `a``b` FROM t", "SELECT `a``b` FROM t", true},
		{MySQL, "SELECT 'a\\'b'", "", false},
		{MySQL, "SELECT /* a /* b */ 1", "SELECT /* a /* b */ ?", true}, // MySQL comments do not nest
	}
	for _, c := range cases {
		got, ok := normalizeKey(nil, c.in, c.d)
		if ok != c.ok || (ok && string(got) != c.want) {
			t.Errorf("%q: got %q ok=%v, want %q ok=%v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestNormalizedCacheSound: texts that share a key must get the same
// decision, and texts whose literals change the verdict must not share one.
func TestNormalizedCacheSound(t *testing.T) {
	p := guardedPolicy(t) // has a regex rule: the normalized cache is off
	if d := p.CheckSQL(Postgres, alice, "SELECT pg_sleep(1)"); d.Action != Allow {
		t.Fatal(d.Action)
	}
	if d := p.CheckSQL(Postgres, alice, "SELECT pg_sleep(5000)"); d.Action != Block {
		t.Fatalf("regex rule bypassed through the normalized cache: %v", d.Action)
	}

	q := maskPolicy(t, "mask")
	first := q.CheckSQL(Postgres, alice, "SELECT email FROM users WHERE id = 1")
	second := q.CheckSQL(Postgres, alice, "SELECT email FROM users WHERE id = 2")
	if first.Mask == nil || first.Mask != second.Mask {
		t.Fatal("literal-equivalent texts should share the cached plan")
	}
	if q.cache[Postgres].norm.len() == 0 {
		t.Fatal("normalized cache unused")
	}
	// EXPLAIN (ANALYZE 0) vs (ANALYZE 1): a literal decides whether the
	// statement runs.
	r := testPolicy(t, config3())
	if d := r.CheckSQL(Postgres, alice, "EXPLAIN (ANALYZE 0) DELETE FROM t"); d.Action != Allow {
		t.Fatalf("ANALYZE 0: %v", d.Action)
	}
	if d := r.CheckSQL(Postgres, alice, "EXPLAIN (ANALYZE 1) DELETE FROM t"); d.Action != Block {
		t.Fatalf("ANALYZE 1 reused the ANALYZE 0 decision: %v", d.Action)
	}
	// MySQL comments are code: different comments never share a key.
	if d := r.CheckSQL(MySQL, alice, "SELECT 1 /*!99999 , 2 */"); d.Action != Allow {
		t.Fatalf("mysql: %v", d.Action)
	}
	if d := r.CheckSQL(MySQL, alice, "SELECT 1; /*! DELETE FROM t */"); d.Action != Block {
		t.Fatalf("mysql executable comment: %v", d.Action)
	}
	// A line comment ends at its line break: a text that is all comment
	// must not lend its decision to the same words with the break (found
	// by FuzzNormalizeKey: the break was keyed as a space).
	for _, c := range []struct{ comment, code string }{{"# c DELETE FROM t", "# c\nDELETE FROM t"}, {"-- c DELETE FROM t", "-- c\nDELETE FROM t"}} {
		if d := r.CheckSQL(MySQL, alice, c.comment); d.Action != Allow {
			t.Fatalf("%q: %v", c.comment, d.Action)
		}
		if d := r.CheckSQL(MySQL, alice, c.code); d.Action != Block {
			t.Fatalf("%q took the comment-only text's decision: %v", c.code, d.Action)
		}
	}
}

func FuzzNormalizeKey(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM t WHERE a = 1", "SELECT E'\\''", "SELECT $$x$$", "SELECT $a$ $b$ $a$",
		"/* /* */ */ SELECT 1", "SELECT 'a''b'", `SELECT "x""y"`, "SELECT 1e+5, .5", "-- x\nSELECT 1",
		"SELECT `a` # x", "/*!50000 SELECT 1 */", "SELECT 0x1f", "SELECT 'unterminated", "$", "''", "\x00",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, mysql bool) {
		d := fuzzDialect(mysql)
		key, ok := normalizeKey(nil, s, d)
		if !ok {
			return
		}
		// The key is stable: normalizing it again changes nothing but
		// placeholders (literals are gone, so it must lex cleanly).
		again, ok2 := normalizeKey(nil, string(key), d)
		if !ok2 {
			t.Fatalf("key %q of %q does not re-lex", key, s)
		}
		if utf8.ValidString(s) && !utf8.Valid(key) {
			t.Fatalf("key of valid UTF-8 %q is invalid: %q", s, key)
		}
		_ = again
	})
}

// config3 blocks deletes, with no regex rule (so the normalized cache is on).
func config3() config.Policy {
	return config.Policy{Rules: []config.Rule{
		{Name: "no-delete", When: config.When{SQL: []string{"delete"}}, Action: "block"},
	}}
}

// fuzzDialect maps a fuzzed bool to a dialect.
func fuzzDialect(mysql bool) Dialect {
	if mysql {
		return MySQL
	}
	return Postgres
}
