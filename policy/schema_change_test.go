package policy

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// DDL that gives masked data a name the masks do not cover is refused;
// DDL that keeps it covered, or touches nothing masked, is not.
func TestSchemaChangesThatUnmask(t *testing.T) {
	p := maskPolicy(t, "mask") // users.email, *.ssn, secret, accounts.iban
	wantLineageBlocks(t, p, []lineageCase{
		{Postgres, "ALTER TABLE users RENAME COLUMN email TO e", "renames masked column users.email to e"},
		{Postgres, "ALTER TABLE users RENAME TO people2", "moves masked table users to people2"},
		{Postgres, "ALTER TABLE public.users SET SCHEMA archive", ""}, // users.email names no schema: still covered
		{Postgres, "ALTER TABLE users ADD COLUMN e2 text GENERATED ALWAYS AS (lower(email)) STORED", "computes unmasked column users.e2 from users.email"},
		{Postgres, "ALTER TABLE users INHERIT everyone", "moves masked table users to everyone"},
		{Postgres, "ALTER TABLE accounts RENAME COLUMN iban TO account_no", "renames masked column accounts.iban"},
		{Postgres, "ALTER TABLE users RENAME COLUMN name TO full_name", ""},
		{Postgres, "ALTER TABLE users ALTER COLUMN name TYPE text USING email", "computes unmasked column users.name from users.email"},
		{Postgres, "ALTER TABLE users ALTER COLUMN email TYPE varchar(320) USING lower(email)", ""},
		{Postgres, "ALTER TABLE users ALTER COLUMN name TYPE varchar(80) USING upper(name)", ""},
		{Postgres, "ALTER TABLE people RENAME TO persons", ""}, // *.ssn covers persons.ssn too
		{Postgres, "ALTER TABLE people RENAME COLUMN ssn TO national_id", "renames masked column people.ssn"},
		{Postgres, "ALTER TABLE users ADD COLUMN ssn2 text", ""},
		{Postgres, "ALTER TABLE users ADD COLUMN n2 text GENERATED ALWAYS AS (upper(name)) STORED", ""},
		{Postgres, "ALTER TABLE orders RENAME TO purchases", ""},
		{Postgres, "CREATE TABLE users_2026 PARTITION OF users FOR VALUES FROM (1) TO (100)", "moves masked table users to users_2026"},
		{Postgres, "CREATE TABLE staff () INHERITS (users)", "moves masked table users to staff"},
		{Postgres, "ALTER TABLE users ATTACH PARTITION users_old FOR VALUES FROM (1) TO (100)", "moves masked table users to users_old"},
		{Postgres, "CREATE TABLE people_2026 PARTITION OF people FOR VALUES IN (2026)", ""}, // *.ssn covers it
		{Postgres, "CREATE TABLE orders_2026 PARTITION OF orders FOR VALUES IN (2026)", ""},
		{MySQL, "ALTER TABLE users RENAME COLUMN email TO e", "renames masked column"},
		{MySQL, "ALTER TABLE users CHANGE email e TEXT", "renames masked column"},
		{MySQL, "ALTER TABLE users CHANGE email email VARCHAR(320)", ""},
		{MySQL, "RENAME TABLE users TO u2", "moves masked table"},
		{MySQL, "ALTER TABLE users RENAME TO u2", "moves masked table"},
		{MySQL, "ALTER TABLE users ADD COLUMN e2 TEXT AS (email) VIRTUAL", "computes unmasked column"},
		{MySQL, "ALTER TABLE users MODIFY COLUMN name TEXT AS (CONCAT(email, '')) STORED", "computes unmasked column"},
		{MySQL, "ALTER TABLE users ADD COLUMN n2 TEXT AS (UPPER(name)) VIRTUAL", ""},
		{MySQL, "RENAME TABLE orders TO purchases", ""},
		{MySQL, "ALTER TABLE users EXCHANGE PARTITION p0 WITH TABLE t", "moves masked table users to t"},
	})
}

func TestSchemaChangeLeavingMaskedSchema(t *testing.T) {
	p := testPolicy(t, config.Policy{Masks: []config.Mask{{Columns: []string{"crm.*.email"}, Method: "redact"}}})
	d := p.CheckSQL(Postgres, alice, "ALTER TABLE crm.users SET SCHEMA scratch")
	if d.Action != Block || !strings.Contains(d.Message, "moves masked table crm.users to scratch.users") {
		t.Fatalf("%v %q", d.Action, d.Message)
	}
	if d := p.CheckSQL(Postgres, alice, "ALTER TABLE scratch.users SET SCHEMA crm"); d.Action != Allow {
		t.Fatalf("moving into the masked schema: %v %q", d.Action, d.Message)
	}
}
