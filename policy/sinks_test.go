package policy

import (
	"testing"
)

// A masked value passed to a session variable, a notification, a lock key
// or another database leaves the masks behind: refused as laundering.
func TestSinksAreLaundering(t *testing.T) {
	p := maskPolicy(t, "mask")
	wantLineageBlocks(t, p, []lineageCase{
		{Postgres, "SELECT set_config('x.v', email, false) FROM users", "-> set_config())"},
		{Postgres, "SELECT pg_notify('c', email) FROM users", "-> pg_notify())"},
		{Postgres, "SELECT 1 FROM users WHERE set_config('x.v', email, false) IS NOT NULL", "-> set_config())"},
		{Postgres, "SELECT count(*) FROM users GROUP BY pg_catalog.set_config('x.v', email, true)", "-> pg_catalog.set_config())"},
		{Postgres, "SELECT pg_advisory_lock(ascii(email)) FROM users", "-> pg_advisory_lock())"},
		{Postgres, "SELECT dblink_exec('db', 'insert into t values (' || quote_literal(email) || ')') FROM users", "-> dblink_exec())"},
		{Postgres, "SELECT lo_from_bytea(0, convert_to(email, 'UTF8')) FROM users", "-> lo_from_bytea())"},
		{Postgres, "SELECT o.id FROM orders o JOIN users u ON pg_notify('c', u.email) IS NULL", "-> pg_notify())"},
		{Postgres, "SELECT set_config('x.v', name, false) FROM users", ""},
		{Postgres, "SELECT pg_notify('c', 'x')", ""},
		{Postgres, "SELECT pg_advisory_lock(id) FROM users", ""},
		{MySQL, "SET @v = (SELECT email FROM users LIMIT 1)", "-> @v)"},
		{MySQL, "SELECT @v := email FROM users", "-> @v)"},
		{MySQL, "SELECT id FROM users WHERE (@v := email) IS NOT NULL", "-> @v)"},
		{MySQL, "DO (SELECT @v := email FROM users LIMIT 1)", "-> @v)"},
		{MySQL, "SET @@session.sql_mode = (SELECT email FROM users LIMIT 1)", "-> @@sql_mode)"},
		{MySQL, "SELECT GET_LOCK(email, 0) FROM users", "-> get_lock())"},
		{MySQL, "SELECT @r := @r + 1, name FROM users", ""},
		{MySQL, "SET @v = 1", ""},
	})
}
