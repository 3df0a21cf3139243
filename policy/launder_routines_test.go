package policy

import (
	"strings"
	"testing"
)

func TestViewsAndRoutinesOverMaskedColumnsAreLaundering(t *testing.T) {
	p := maskPolicy(t, "mask")
	sub := Subject{Target: "db", Identity: "alice"}
	blocked := []string{
		"CREATE VIEW v AS SELECT email FROM users",
		"CREATE OR REPLACE TEMP VIEW v AS SELECT upper(u.email) AS e FROM users u",
		"CREATE VIEW v AS SELECT * FROM users",
		"CREATE FUNCTION pg_temp.ff() RETURNS SETOF text AS 'SELECT email FROM users' LANGUAGE sql",
		"CREATE FUNCTION f() RETURNS text LANGUAGE sql RETURN (SELECT email FROM users LIMIT 1)",
		"CREATE FUNCTION f() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT email FROM users LIMIT 1; END",
		"CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT email FROM users LIMIT 1); END $$",
		"DO $$ BEGIN RAISE NOTICE '%', (SELECT string_agg(email, ',') FROM users); END $$",
		"CREATE MATERIALIZED VIEW mv AS SELECT email FROM users",
	}
	for _, sql := range blocked {
		d := p.CheckSQL(Postgres, sub, sql)
		if d.Action != Block || !strings.Contains(d.Message, "masks do not apply") {
			t.Errorf("%q: got %v %q, want a laundering block", sql, d.Action, d.Message)
		}
	}
	allowed := []string{
		"CREATE VIEW v AS SELECT id, name FROM users",
		"CREATE FUNCTION f() RETURNS int AS 'SELECT count(*)::int FROM orders' LANGUAGE sql",
		"CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN 'emailer'; END $$",
		"DO $$ BEGIN RAISE NOTICE 'hello'; END $$",
	}
	for _, sql := range allowed {
		if d := p.CheckSQL(Postgres, sub, sql); d.Action != Allow {
			t.Errorf("%q: got %v %q, want allow", sql, d.Action, d.Message)
		}
	}
}
