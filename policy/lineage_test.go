package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// bypassCase: a statement, the result columns the server would describe,
// and the columns that must come back masked. This is the regression suite
// of masking bypasses; add every new one here.
type bypassCase struct {
	d      Dialect
	sql    string
	fields []string
	masked []string
}

var bypassSuite = []bypassCase{
	// Postgres: direct, aliases, expressions.
	{Postgres, "SELECT email FROM users", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT id, name FROM users", []string{"id", "name"}, nil},
	{Postgres, "SELECT email AS e FROM users", []string{"e"}, []string{"e"}},
	{Postgres, "SELECT email e FROM public.users", []string{"e"}, []string{"e"}},
	{Postgres, "SELECT u.email FROM users u", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT upper(email) FROM users", []string{"upper"}, []string{"upper"}},
	{Postgres, "SELECT email || '' FROM users", []string{"?column?"}, []string{"?column?"}},
	{Postgres, "SELECT email::text FROM users", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT format('%s', email) FROM users", []string{"format"}, []string{"format"}},
	{Postgres, "SELECT coalesce(email, '') FROM users", []string{"coalesce"}, []string{"coalesce"}},
	{Postgres, "SELECT CASE WHEN true THEN email END FROM users", []string{"case"}, []string{"case"}},
	{Postgres, "SELECT substr(ssn, 1, 3) FROM people", []string{"substr"}, []string{"substr"}},
	// Whole-row references and aggregates.
	{Postgres, "SELECT row_to_json(u) FROM users u", []string{"row_to_json"}, []string{"row_to_json"}},
	{Postgres, "SELECT u FROM users u", []string{"u"}, []string{"u"}},
	{Postgres, "SELECT (u).email FROM users u", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT json_agg(u.*) FROM users u", []string{"json_agg"}, []string{"json_agg"}},
	{Postgres, "SELECT to_jsonb(t) FROM (SELECT email FROM users) t", []string{"to_jsonb"}, []string{"to_jsonb"}},
	{Postgres, "SELECT string_agg(email, ',') FROM users", []string{"string_agg"}, []string{"string_agg"}},
	{Postgres, "SELECT array_agg(email) FROM users", []string{"array_agg"}, []string{"array_agg"}},
	// Stars, expanded against the described fields.
	{Postgres, "SELECT * FROM users", []string{"id", "email", "name"}, []string{"email"}},
	{Postgres, "TABLE users", []string{"id", "email"}, []string{"email"}},
	{Postgres, "SELECT 1, *, 2 FROM users", []string{"?column?", "id", "email", "?column?"}, []string{"email"}},
	{Postgres, "SELECT * FROM users, orders", []string{"id", "email", "total", "id"}, []string{"email"}},
	{Postgres, "SELECT u.* FROM users u JOIN orders o ON o.uid = u.id", []string{"id", "email"}, []string{"email"}},
	{Postgres, "SELECT o.* FROM users u JOIN orders o ON o.uid = u.id", []string{"id", "total"}, nil},
	{Postgres, "SELECT e FROM users u(i, e)", []string{"e"}, []string{"e"}},
	// Subqueries, CTEs, set operations.
	{Postgres, "SELECT * FROM (SELECT email FROM users) s", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT * FROM (SELECT * FROM users) s", []string{"id", "email"}, []string{"email"}},
	{Postgres, "SELECT x FROM (SELECT email AS x FROM users) s", []string{"x"}, []string{"x"}},
	{Postgres, "SELECT s.* FROM (SELECT email AS x, id FROM users) s", []string{"x", "id"}, []string{"x"}},
	{Postgres, "SELECT upper FROM (SELECT upper(email) FROM users) s", []string{"upper"}, []string{"upper"}},
	{Postgres, "SELECT lower(x) FROM (SELECT upper(email) FROM users) s(x)", []string{"lower"}, []string{"lower"}},
	{Postgres, "WITH c AS (SELECT email FROM users) SELECT * FROM c", []string{"email"}, []string{"email"}},
	{Postgres, "WITH c(z) AS (SELECT email FROM users) SELECT z FROM c", []string{"z"}, []string{"z"}},
	{Postgres, "WITH RECURSIVE r AS (SELECT email FROM users UNION SELECT email FROM r) SELECT * FROM r", []string{"email"}, []string{"email"}},
	{Postgres, "WITH users AS (SELECT 1 AS email) SELECT email FROM users", []string{"email"}, nil},
	{Postgres, "SELECT name FROM users UNION SELECT email FROM users", []string{"name"}, []string{"name"}},
	{Postgres, "SELECT id FROM orders UNION ALL SELECT ssn FROM people", []string{"id"}, []string{"id"}},
	{Postgres, "SELECT 'x' UNION SELECT email FROM users WHERE id = 1", []string{"?column?"}, []string{"?column?"}},
	{Postgres, "SELECT (SELECT email FROM users LIMIT 1) AS x", []string{"x"}, []string{"x"}},
	{Postgres, "SELECT (SELECT string_agg(email, ',') FROM users u2 WHERE u2.id = u.id) FROM users u", []string{"string_agg"}, []string{"string_agg"}},
	{Postgres, "SELECT l.e FROM users u, LATERAL (SELECT u.email AS e) l", []string{"e"}, []string{"e"}},
	{Postgres, "SELECT v FROM unnest(ARRAY(SELECT email FROM users)) AS t(v)", []string{"v"}, []string{"v"}},
	{Postgres, "SELECT * FROM unnest(ARRAY(SELECT email FROM users)) AS t(v)", []string{"v"}, []string{"v"}},
	{Postgres, "VALUES ((SELECT email FROM users LIMIT 1))", []string{"column1"}, []string{"column1"}},
	// COPY and RETURNING.
	{Postgres, "COPY (SELECT email FROM users) TO STDOUT", []string{"email"}, []string{"email"}},
	{Postgres, "COPY users TO STDOUT", []string{"id", "email"}, []string{"email"}},
	{Postgres, "COPY users (id, email) TO STDOUT WITH (FORMAT text)", []string{"id", "email"}, []string{"email"}},
	{Postgres, "INSERT INTO users(email) VALUES ('a@b.c') RETURNING email", []string{"email"}, []string{"email"}},
	{Postgres, "UPDATE users SET name = 'x' WHERE id = 1 RETURNING *", []string{"id", "email", "name"}, []string{"email"}},
	{Postgres, "DELETE FROM users WHERE id = 1 RETURNING email AS gone", []string{"gone"}, []string{"gone"}},
	// Column rule shapes.
	{Postgres, "SELECT ssn FROM people", []string{"ssn"}, []string{"ssn"}},
	{Postgres, "SELECT p.ssn AS s FROM hr.people p", []string{"s"}, []string{"s"}},
	{Postgres, "SELECT t.secret FROM vault t", []string{"secret"}, []string{"secret"}},
	{Postgres, "SELECT iban FROM accounts", []string{"iban"}, []string{"iban"}},
	{Postgres, "SELECT email FROM customers", []string{"email"}, nil},
	{Postgres, "SELECT id FROM users WHERE email = 'x'", []string{"id"}, nil},
	{Postgres, "SELECT email FROM users u JOIN customers c ON true", []string{"email"}, []string{"email"}},
	// Rows we cannot see into: everything masked.
	{Postgres, "SELECT query_to_xml('select email from users', true, true, '')", []string{"query_to_xml"}, []string{"query_to_xml"}},
	{Postgres, "SELECT * FROM dblink('x', 'select email from users') AS t(e text)", []string{"e"}, []string{"e"}},
	{Postgres, "EXECUTE stmt1", []string{"a", "b"}, []string{"a", "b"}},
	{Postgres, "FETCH ALL FROM c1", []string{"a"}, []string{"a"}},
	{Postgres, "SELEC email FROM users", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT * FROM users u JOIN LATERAL (SELECT u.email AS x) l ON true", []string{"id", "email", "x"}, []string{"email", "x"}},
	{Postgres, "SELECT (u).* FROM users u", []string{"id", "email"}, []string{"id", "email"}}, // width unknown: all
	{Postgres, "SELECT (json_populate_record(null::users, row_to_json(u))).email FROM users u", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT j.email FROM (users JOIN orders USING (id)) AS j", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT t.email FROM (TABLE users) t", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT x.* FROM json_to_recordset((SELECT json_agg(u) FROM users u)) AS x(email text)", []string{"email"}, []string{"email"}},
	{Postgres, "SELECT (users.*)::text FROM users", []string{"users"}, []string{"users"}},
	{Postgres, "SELECT ARRAY(SELECT email FROM users)", []string{"array"}, []string{"array"}},
	{Postgres, "SELECT length(email) > 5 AS long FROM users", []string{"long"}, []string{"long"}},
	// Several statements: masked if any plan masks the position.
	{Postgres, "SELECT 1 AS a; SELECT email FROM users", []string{"email"}, []string{"email"}},

	// MySQL.
	{MySQL, "SELECT email FROM users", []string{"email"}, []string{"email"}},
	{MySQL, "SELECT id FROM users", []string{"id"}, nil},
	{MySQL, "SELECT `email` FROM `users`", []string{"email"}, []string{"email"}},
	{MySQL, "SELECT email AS e FROM users", []string{"e"}, []string{"e"}},
	{MySQL, "SELECT CONCAT(email, '') FROM users", []string{"CONCAT(email, '')"}, []string{"CONCAT(email, '')"}},
	{MySQL, "SELECT * FROM users", []string{"id", "email"}, []string{"email"}},
	{MySQL, "SELECT GROUP_CONCAT(email) FROM users", []string{"GROUP_CONCAT(email)"}, []string{"GROUP_CONCAT(email)"}},
	{MySQL, "SELECT * FROM (SELECT email FROM users) s", []string{"email"}, []string{"email"}},
	{MySQL, "SELECT x FROM (SELECT upper(email) AS x FROM users) s", []string{"x"}, []string{"x"}},
	{MySQL, "WITH c AS (SELECT email FROM users) SELECT * FROM c", []string{"email"}, []string{"email"}},
	{MySQL, "SELECT name FROM users UNION SELECT email FROM users", []string{"name"}, []string{"name"}},
	{MySQL, "/*!40000 SELECT email FROM users */", []string{"email"}, []string{"email"}},
	{MySQL, "SELECT u.email FROM users u JOIN orders o ON o.uid = u.id", []string{"email"}, []string{"email"}},
	{MySQL, "SELECT (SELECT email FROM users LIMIT 1) AS x", []string{"x"}, []string{"x"}},
	{MySQL, "SELECT JSON_OBJECT('e', email) FROM users", []string{"j"}, []string{"j"}},
	{MySQL, "SELECT upper(ssn) FROM people", []string{"upper(ssn)"}, []string{"upper(ssn)"}},
	{MySQL, "SELECT u.* FROM users u", []string{"id", "email"}, []string{"email"}},
	{MySQL, "EXECUTE s1", []string{"a"}, []string{"a"}},
	{MySQL, "SELECT * FROM users u JOIN orders o ON o.uid = u.id", []string{"id", "email", "id", "total"}, []string{"email"}},
	{MySQL, "SELECT e FROM (SELECT email AS e FROM users) AS s", []string{"e"}, []string{"e"}},
	{MySQL, "SELECT s.x FROM (SELECT ssn FROM people) AS s (x)", []string{"x"}, []string{"x"}},
	{MySQL, "SELECT IF(1, email, '') FROM users", []string{"IF(1, email, '')"}, []string{"IF(1, email, '')"}},
	{MySQL, "TABLE users", []string{"id", "email"}, []string{"email"}},
}

func TestLineageBypassSuite(t *testing.T) {
	p := maskPolicy(t, "mask")
	for _, c := range bypassSuite {
		d := p.CheckSQL(c.d, alice, c.sql)
		if d.Action == Block && d.Rule != unparseableRule {
			t.Errorf("%q: blocked (%s), want masked", c.sql, d.Message)
			continue
		}
		rm := d.Mask.Columns(textFields(c.fields...))
		got := rm.MaskedColumns()
		if !slices.Equal(got, c.masked) {
			t.Errorf("dialect %d %q: masked %v, want %v", c.d, c.sql, got, c.masked)
			continue
		}
		// The masked values really change, the others stay.
		vals := make([][]byte, len(c.fields))
		for i := range vals {
			vals[i] = []byte("alice@example.com-123456789")
		}
		rm.MaskRow(vals)
		for i, f := range c.fields {
			changed := string(vals[i]) != "alice@example.com-123456789"
			if changed != slices.Contains(c.masked, f) {
				t.Errorf("%q: column %s changed=%v", c.sql, f, changed)
			}
		}
	}
	if len(bypassSuite) < 40 {
		t.Fatalf("bypass suite shrank to %d cases", len(bypassSuite))
	}
}

func TestLineageBlockMode(t *testing.T) {
	p := maskPolicy(t, "block")
	for _, sql := range []string{
		"SELECT query_to_xml('select email from users', true, true, '')",
		"EXECUTE stmt1",
		"SELECT * FROM dblink('x', 'select 1') AS t(a int)",
	} {
		d := p.CheckSQL(Postgres, alice, sql)
		if d.Action != Block || d.Rule != "lineage" || !strings.Contains(d.Message, "cannot be checked") {
			t.Errorf("%q: got %v %q %q, want lineage block", sql, d.Action, d.Rule, d.Message)
		}
	}
	// Provable lineage is masked, not blocked.
	d := p.CheckSQL(Postgres, alice, "SELECT upper(email) FROM users")
	if d.Action != Allow || d.Mask == nil {
		t.Fatalf("got %v mask=%v", d.Action, d.Mask)
	}
}

func TestCleanStatementHasNoMask(t *testing.T) {
	p := maskPolicy(t, "mask")
	for _, sql := range []string{"SELECT 1", "SELECT id FROM orders", "BEGIN", "INSERT INTO users(email) VALUES ('x')"} {
		if d := p.CheckSQL(Postgres, alice, sql); d.Mask != nil {
			t.Errorf("%q: mask %+v, want nil (engines' fast path)", sql, d.Mask)
		}
	}
}

func TestColumnsMismatchMasksAll(t *testing.T) {
	p := maskPolicy(t, "mask")
	d := p.CheckSQL(Postgres, alice, "SELECT email, id FROM users")
	// A result that does not line up with the plan: fail closed.
	rm := d.Mask.Columns(textFields("a", "b", "c"))
	if got := rm.MaskedColumns(); len(got) != 3 {
		t.Fatalf("masked %v, want all three", got)
	}
}

func TestUndescribedResult(t *testing.T) {
	p := maskPolicy(t, "mask")
	rm := p.CheckSQL(Postgres, alice, "SELECT email FROM users").Mask.Columns(nil)
	row := [][]byte{[]byte("a@b.co"), []byte("1")}
	if names := rm.MaskRow(row); len(names) != 1 || row[0] != nil || row[1] != nil {
		t.Fatalf("undescribed masked result must be NULLed: %q %v", row, names)
	}
	det := testPolicy(t, config.Policy{Masks: []config.Mask{{Detect: []string{"email"}, Method: "redact"}}})
	rm = det.CheckSQL(Postgres, alice, "SELECT x FROM t").Mask.Columns(nil)
	row = [][]byte{[]byte("mail a@b.co"), []byte("1")}
	rm.MaskRow(row)
	if string(row[0]) != "mail ****" || string(row[1]) != "1" {
		t.Fatalf("detectors on undescribed rows: %q", row)
	}
}

// Plan shows people what the masks will do with each output column.
func TestResultMaskPlan(t *testing.T) {
	p := maskPolicy(t, "mask")
	d := p.CheckSQL(Postgres, alice, "SELECT id, email, upper(email) AS e, s.* FROM users, people s")
	got := d.Mask.Plan()
	want := []ColumnPlan{
		{Name: "id"},
		{Name: "email", Method: "email", Source: "users.email"},
		{Name: "e", Method: "redact", Source: "users.email"},
		{Star: true, Method: "partial", Source: "people.*"},
	}
	if len(got) != len(want) {
		t.Fatalf("plan %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if d := p.CheckSQL(Postgres, alice, "SELECT 1"); d.Mask.Plan() != nil {
		t.Fatalf("clean statement planned %+v", d.Mask.Plan())
	}
}
