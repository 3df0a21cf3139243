package policy

import (
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// emailPolicy masks users.email only, so statements on other tables read
// nothing masked.
func emailPolicy(t *testing.T) *Policy {
	return testPolicy(t, config.Policy{Masks: []config.Mask{{Columns: []string{"users.email"}, Method: "email"}}})
}

func TestErrorMaskWhen(t *testing.T) {
	p := emailPolicy(t)
	views := NewViews([]ViewDef{{Schema: "public", Name: "contacts", Definition: "SELECT id, email FROM users"}}).
		WithFuncs([]FuncDef{{Schema: "public", Name: "mail_of", Body: "SELECT email FROM users WHERE id = $1"},
			{Schema: "public", Name: "twice", Body: "SELECT $1 * 2"}})
	withViews := alice
	withViews.Views = views
	for _, c := range []struct {
		sql             string
		sub             Subject
		values, routine bool
	}{
		{"SELECT email::int FROM users", alice, true, false},
		{"SELECT id FROM users WHERE email::int = 1", alice, true, false},       // not in the output, still read
		{"INSERT INTO archive SELECT email FROM users", alice, true, false},     // a unique violation quotes it
		{"UPDATE users SET name = NULL WHERE id = 1", alice, true, false},       // "Failing row contains (...)"
		{"SELECT n::int FROM tickets", alice, false, false},                     // no masked table
		{"SELECT twice(2)", withViews, false, false},                            // a clean function
		{"SELECT mail_of(1)::int", withViews, true, true},                       // a function reading users.email
		{"SELECT * FROM contacts WHERE email::int = 0", withViews, true, false}, // a view over it
		{"SELECT id FROM contacts WHERE id = 'x'", withViews, true, false},      // the view names the table: enough
		{"EXECUTE stmt", alice, true, true},                                     // unknown lineage
		{"SELECT n FROM tickets WHERE n = 'x'", Subject{Target: "db"}, false, false},
		{"SELECT 1 WHERE mail_of(2) = 'x'", withViews, true, true}, // a routine read, only in WHERE
		{"CALL refresh()", alice, true, true},
	} {
		d := p.CheckSQL(Postgres, c.sub, c.sql)
		if got := d.Errors.Values(); got != c.values {
			t.Errorf("%s: values %v, want %v", c.sql, got, c.values)
		}
		if got := d.Errors != nil && d.Errors.routine; got != c.routine {
			t.Errorf("%s: routine %v, want %v", c.sql, got, c.routine)
		}
	}
	if d := testPolicy(t, config.Policy{}).CheckSQL(Postgres, alice, "SELECT email::int FROM users"); d.Errors != nil {
		t.Error("a policy without masks or detectors rewrites errors")
	}
	det := testPolicy(t, config.Policy{Masks: []config.Mask{{Detect: []string{"email"}, Method: "redact"}}})
	d := det.CheckSQL(Postgres, alice, "SELECT n::int FROM tickets")
	if d.Errors == nil || d.Errors.Values() {
		t.Fatalf("detectors only: %+v", d.Errors)
	}
	e := PGError{Code: "22P02", Message: `invalid input syntax for type integer: "bob@example.com"`}
	if !d.Errors.Postgres("SELECT n::int FROM tickets", &e) || e.Message != `invalid input syntax for type integer: "****"` {
		t.Fatalf("detector on an error: %q", e.Message)
	}
}

func TestErrorMaskPostgres(t *testing.T) {
	m := &ErrorMask{values: true}
	const stmt = `INSERT INTO archive SELECT email FROM users WHERE name = 'Robert' AND "Emial" IS NULL`
	for _, c := range []struct{ in, want PGError }{
		{
			PGError{Code: "22P02", Message: `invalid input syntax for type integer: "alice@example.com"`},
			PGError{Code: "22P02", Message: `invalid input syntax for type integer: "****"`},
		},
		{ // a value holding quotes is one value to the end
			PGError{Code: "22P02", Message: `invalid input syntax for type json: "say "hi" now"`, Detail: `Token "say" is invalid.`, Where: "JSON data, line 1: say \"hi\"...\nSQL function \"f\""},
			PGError{Code: "22P02", Message: `invalid input syntax for type json: "****"`, Detail: `Token "****" is invalid.`, Where: "JSON data, line 1: ****\nSQL function \"****\""},
		},
		{ // class 23: names stay, the key value and the failing row go
			PGError{Code: "23505", Message: `duplicate key value violates unique constraint "archive_email_key"`, Detail: `Key (email)=(alice@example.com) already exists.`},
			PGError{Code: "23505", Message: `duplicate key value violates unique constraint "archive_email_key"`, Detail: `Key (email)=(****) already exists.`},
		},
		{
			PGError{Code: "23502", Message: `null value in column "name" of relation "users" violates not-null constraint`, Detail: `Failing row contains (1, null, alice@example.com, (x)).`},
			PGError{Code: "23502", Message: `null value in column "name" of relation "users" violates not-null constraint`, Detail: `Failing row contains (****).`},
		},
		{ // what the client wrote stays: an identifier, a literal it typed
			PGError{Code: "42703", Message: `column "Emial" does not exist`, Hint: `Perhaps you meant to reference the column "users.email".`},
			PGError{Code: "42703", Message: `column "Emial" does not exist`, Hint: `Perhaps you meant to reference the column "users.email".`},
		},
		{
			PGError{Code: "22P02", Message: `invalid input syntax for type integer: "Robert"`},
			PGError{Code: "22P02", Message: `invalid input syntax for type integer: "Robert"`},
		},
		{ // a masked value cast to regclass comes back as a relation name
			PGError{Code: "42P01", Message: `relation "alice@example.com" does not exist`},
			PGError{Code: "42P01", Message: `relation "****" does not exist`},
		},
		{ // RAISE in a routine: its own words, withheld whole
			PGError{Code: "P0001", Message: "contact alice@example.com", Detail: "more", Where: "PL/pgSQL function f() line 3 at RAISE"},
			PGError{Code: "P0001", Message: withheld, Detail: "****", Where: "PL/pgSQL function f() line 3 at RAISE"},
		},
		{ // dynamic SQL with the value as a literal
			PGError{Code: "22P02", Message: `invalid input syntax for type integer: "x"`, InternalQuery: "SELECT 'alice@example.com'::int"},
			PGError{Code: "22P02", Message: `invalid input syntax for type integer: "****"`, InternalQuery: "SELECT '****'::int"},
		},
		{ // no quotes, nothing to hide
			PGError{Code: "22012", Message: "division by zero"},
			PGError{Code: "22012", Message: "division by zero"},
		},
		{ // a part of a longer word of the text is not the client's ("user" in "users")
			PGError{Code: "22007", Message: `invalid value "user" for "YYYY"`, Detail: "Value must be an integer."},
			PGError{Code: "22007", Message: `invalid value "****" for "****"`, Detail: "Value must be an integer."},
		},
		{ // RAISE with an ERRCODE of the routine's choosing
			PGError{Code: "22000", Message: "contact alice@example.com", Routine: "exec_stmt_raise"},
			PGError{Code: "22000", Message: withheld, Routine: "exec_stmt_raise"},
		},
		{ // RAISE NOTICE: 00000, free text
			PGError{Code: "00000", Message: "contact alice@example.com"},
			PGError{Code: "00000", Message: withheld},
		},
		{ // short values are hidden even when the text has them ("1" is in most texts)
			PGError{Code: "22P02", Message: `invalid input syntax for type boolean: "ab"`},
			PGError{Code: "22P02", Message: `invalid input syntax for type boolean: "****"`},
		},
		{ // unterminated quote: the rest is the value
			PGError{Code: "22P02", Message: `bad value "alice@example.com`},
			PGError{Code: "22P02", Message: `bad value "****`},
		},
	} {
		got := c.in
		changed := m.Postgres(stmt, &got)
		if got != c.want {
			t.Errorf("%+v:\n got %+v\nwant %+v", c.in, got, c.want)
		}
		if changed != (c.in != c.want) {
			t.Errorf("%+v: changed = %v", c.in, changed)
		}
	}
	// A statement that reads masked data through a routine: every message
	// may be the routine's words, whatever its code.
	routine := &ErrorMask{values: true, routine: true}
	e := PGError{Code: "22P02", Message: "no quotes, alice@example.com", Where: "PL/pgSQL function f() line 3"}
	if !routine.Postgres(stmt, &e) || e.Message != withheld {
		t.Fatalf("routine mode: %+v", e)
	}
	msg := "ada@example.com"
	if !routine.MySQL(stmt, 1000, "42000", &msg) || msg != withheld {
		t.Fatalf("routine mode, MySQL SIGNAL with MYSQL_ERRNO and a class-42 state: %q", msg)
	}
	var none *ErrorMask
	e = PGError{Code: "22P02", Message: `x: "y"`}
	if none.Postgres(stmt, &e) || e.Message != `x: "y"` {
		t.Fatal("a nil mask changed an error")
	}
}

func TestErrorMaskMySQL(t *testing.T) {
	m := &ErrorMask{values: true}
	const stmt = "INSERT INTO archive (email) SELECT email FROM users WHERE name = 'Robert'"
	for _, c := range []struct {
		code      uint16
		state     string
		in, want  string
		unchanged bool
	}{
		{1062, "23000", "Duplicate entry 'alice@example.com' for key 'email'", "Duplicate entry '****' for key 'email'", false},
		{1062, "23000", "Duplicate entry 'a-1' for key 'users_email_key'", "Duplicate entry '****' for key 'users_email_key'", false}, // an index name
		{1292, "22007", "Truncated incorrect INTEGER value: 'alice@example.com'", "Truncated incorrect INTEGER value: '****'", false},
		{1366, "22007", "Incorrect integer value: 'alice@example.com' for column `db`.`archive`.`n` at row 1", "Incorrect integer value: '****' for column `db`.`archive`.`n` at row 1", false},
		{1644, "45000", "contact is alice@example.com", withheld, false},
		{1146, "42S02", "Table 'db.archive' doesn't exist", "Table 'db.archive' doesn't exist", true}, // names
		{1054, "42S22", "Unknown column 'emial' in 'field list'", "Unknown column 'emial' in 'field list'", true},
		{1292, "22007", "Truncated incorrect INTEGER value: 'Robert'", "Truncated incorrect INTEGER value: 'Robert'", true},
		{1064, "42000", "You have an error in your SQL syntax", "You have an error in your SQL syntax", true},
	} {
		got := c.in
		changed := m.MySQL(stmt, c.code, c.state, &got)
		if got != c.want || changed == c.unchanged {
			t.Errorf("%d %q: got %q (changed %v), want %q", c.code, c.in, got, changed, c.want)
		}
	}
}

func FuzzErrorMask(f *testing.F) {
	f.Add("SELECT 1", "22P02", `invalid input syntax for type integer: "a"b"`)
	f.Add("x", "23505", "Key (a)=(b) already exists.")
	f.Add("", "P0001", `"`)
	f.Add(`""`, "42P01", `"":""`)
	m := &ErrorMask{values: true}
	f.Fuzz(func(t *testing.T, stmt, code, text string) {
		e := PGError{Code: code, Message: text, Detail: text, Hint: text, Where: text}
		m.Postgres(stmt, &e) // must not panic
		msg := text
		m.MySQL(stmt, 1062, code, &msg)
		if len(e.Message) > 4*len(text)+len(withheld) || len(msg) > 4*len(text)+len(withheld) {
			t.Fatalf("redaction grew the text: %q -> %q / %q", text, e.Message, msg)
		}
	})
}
