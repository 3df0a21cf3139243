package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// probeYAML masks users.email and refuses statements that filter, join,
// group or sort on it (masked_filters: block).
const probeYAML = `policies:
  guarded:
    masked_filters: block
    masks:
      - {columns: [users.email], method: partial}
`

// A masked column can be read (masked) but not probed: counting rows
// WHERE email LIKE 'a%' one letter at a time would reveal it.
func TestMaskedFiltersRefused(t *testing.T) {
	g := startGateway(t, probeYAML)
	ctx := context.Background()
	for _, mode := range []string{"simple_protocol", "cache_statement"} {
		t.Run(mode, func(t *testing.T) {
			c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode="+mode))
			var n int
			err := c.QueryRow(ctx, "SELECT count(*) FROM users WHERE email LIKE $1", "user1%").Scan(&n)
			wantPgErr(t, "WHERE probe", err, "42501", "masked_filters", "in WHERE (users.email)")
			err = c.QueryRow(ctx, "SELECT id FROM users ORDER BY email LIMIT 1").Scan(&n)
			wantPgErr(t, "ORDER BY probe", err, "42501", "in ORDER BY (users.email)")
			// The planner's row estimate answers a filter too.
			var plan string
			err = c.QueryRow(ctx, "EXPLAIN SELECT id FROM users WHERE email = $1", "user1@example.com").Scan(&plan)
			wantPgErr(t, "EXPLAIN probe", err, "42501", "in WHERE (users.email)")
			// Reading it is fine, and masked; the session carries on.
			var email string
			if err := c.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", 1).Scan(&email); err != nil {
				t.Fatal(err)
			}
			if email == "" || strings.Contains(email, "user1@") {
				t.Fatalf("email not masked: %q", email)
			}
		})
	}
	out, errOut, _ := psqlRun(t, g.dsn("alice", aliceToken, ""), "-c",
		"UPDATE users SET name = name WHERE email LIKE 'user1%'", "-c", "SELECT count(*) FROM users WHERE id < 3")
	if !strings.Contains(errOut, "masked_filters") || !strings.Contains(out, "2") {
		t.Fatalf("psql: out %q err %q", out, errOut)
	}
	var probes int
	for _, e := range queryLog(t, g) {
		t.Logf("%s %s %q", e.Decision, e.Rule, e.Statement)
		if e.Decision == "block" && e.Rule == "masked_filters" {
			probes++
		}
	}
	if probes != 7 {
		t.Fatalf("query log has %d masked_filters blocks, want 7", probes)
	}
}

// A session variable set from a masked column would be read back in clear
// by the next statement (current_setting), and renaming a masked column
// would unmask it for every later session (masks follow names): both are
// refused, and neither the variable nor the column changes.
func TestMaskEscapesThroughSinksAndDDLRefused(t *testing.T) {
	g := startGateway(t, guardedYAML)
	ctx := context.Background()
	c := connect(t, g.dsn("alice", aliceToken, ""))
	_, err := c.Exec(ctx, "SELECT set_config('sluice_test.v', email, false) FROM users WHERE id = 1")
	wantPgErr(t, "set_config", err, "42501", "users.email -> set_config()")
	var v string
	if err := c.QueryRow(ctx, "SELECT current_setting('sluice_test.v', true)").Scan(&v); err == nil && strings.Contains(v, "@") {
		t.Fatalf("the variable holds %q", v)
	}
	// Unmasked columns may go there.
	if err := c.QueryRow(ctx, "SELECT set_config('sluice_test.v', name, false) FROM users WHERE id = 1").Scan(&v); err != nil || v == "" {
		t.Fatalf("set_config of a clean column: %q %v", v, err)
	}

	_, err = c.Exec(ctx, "INSERT INTO users (id, name, email) VALUES (1, 'x', 'y') ON CONFLICT (id) DO UPDATE SET name = users.email")
	wantPgErr(t, "upsert", err, "42501", "users.email -> users.name")

	// A rule runs inside later statements the gateway judges without it.
	t.Cleanup(func() { pg.Exec(context.Background(), "DROP RULE IF EXISTS sluice_copy ON users") })
	_, err = c.Exec(ctx, "CREATE RULE sluice_copy AS ON UPDATE TO users DO ALSO INSERT INTO orders (id, user_id, total, created_at) SELECT -1, 1, length(OLD.email), now()")
	wantPgErr(t, "rule", err, "42501", "users.email -> orders.total")

	_, err = c.Exec(ctx, "ALTER TABLE users ALTER COLUMN name TYPE text USING email")
	wantPgErr(t, "rewrite from a masked column", err, "42501", "computes unmasked column users.name from users.email")
	// A server file may be a table's own data file.
	_, err = c.Exec(ctx, "COPY orders FROM '/etc/hostname'")
	wantPgErr(t, "server file", err, "42501", "a server file -> orders")

	_, err = c.Exec(ctx, "ALTER TABLE users RENAME COLUMN email TO contact")
	wantPgErr(t, "rename", err, "42501", "renames masked column users.email to contact")
	_, err = c.Exec(ctx, "ALTER TABLE users ADD COLUMN contact text GENERATED ALWAYS AS (lower(email)) STORED")
	wantPgErr(t, "generated column", err, "42501", "computes unmasked column users.contact")
	var name string
	if err := c.QueryRow(ctx, "SELECT email, name FROM users WHERE id = 1").Scan(&v, &name); err != nil ||
		strings.Contains(v, "user1@") || name != "User 1" {
		t.Fatalf("after the refused statements: %q %q %v", v, name, err)
	}
}

// Another session's statement text, literals included, is readable in
// pg_stat_activity by sessions of the same account: masked under column
// masks (directly it is there in clear).
func TestActivityQueryTextMasked(t *testing.T) {
	ctx := context.Background()
	direct := connect(t, pg.DSN("app"))
	running := make(chan error, 1)
	go func() {
		_, err := direct.Exec(ctx, "SELECT pg_sleep(3), 'in-flight@example.com'")
		running <- err
	}()
	const q = "SELECT query FROM pg_stat_activity WHERE state = 'active'"
	probe := connect(t, pg.DSN("app"))
	waitFor(t, 5*time.Second, "the statement to show in pg_stat_activity", func() bool {
		rows, err := probe.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		return err == nil && strings.Contains(strings.Join(texts, "\n"), "in-flight@example.com")
	})
	g := startGateway(t, guardedYAML)
	rows, err := connect(t, g.dsn("alice", aliceToken, "")).Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(texts) < 2 {
		t.Fatalf("through the gateway: %v %v", texts, err)
	}
	if all := strings.Join(texts, "\n"); strings.Contains(all, "in-flight") || strings.Contains(all, "pg_sleep") {
		t.Fatalf("statement texts not masked: %q", all)
	}
	if err := <-running; err != nil {
		t.Fatal(err)
	}
}

// A partition holds its parent's rows under its own name: a mask naming the
// parent covers it (the gateway reads pg_inherits), and a partition
// created through the gateway that the masks would not cover is refused.
func TestPartitionsTakeParentMasks(t *testing.T) {
	ctx := context.Background()
	if err := pg.Exec(ctx, `DROP TABLE IF EXISTS signups;
CREATE TABLE signups (id int, email text) PARTITION BY RANGE (id);
CREATE TABLE signups_low PARTITION OF signups FOR VALUES FROM (0) TO (100);
INSERT INTO signups VALUES (1, 'partitioned@example.com');
GRANT ALL ON signups, signups_low TO `+pg.User); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Exec(context.Background(), "DROP TABLE IF EXISTS signups") })
	g := startGateway(t, `policies:
  guarded:
    masks:
      - {columns: [signups.email], method: redact}
`)
	c := connect(t, g.dsn("alice", aliceToken, ""))
	for _, q := range []string{"SELECT email FROM signups", "SELECT email FROM signups_low", "SELECT * FROM public.signups_low"} {
		rows, err := c.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if s, _ := v.(string); strings.Contains(s, "@") {
					t.Fatalf("%s: %q in clear", q, s)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err := c.Exec(ctx, "CREATE TABLE signups_high PARTITION OF signups FOR VALUES FROM (100) TO (200)")
	wantPgErr(t, "new partition", err, "42501", "moves masked table signups to signups_high")
}
