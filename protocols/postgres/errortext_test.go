package postgres_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// seeded masked values: e-mails (userN@example.com) and SSNs (ddd-dd-dddd).
var leakPattern = regexp.MustCompile(`@example|\d{3}-\d{2}-\d{4}`)

func pgErrorText(pe *pgconn.PgError) string {
	return strings.Join([]string{pe.Message, pe.Detail, pe.Hint, pe.Where}, " | ")
}

// TestPolicyMaskErrorTexts: an error quoting a value read from a masked
// column must not carry it to the client (nor to the query log), through
// either protocol; what the client wrote itself and errors of statements
// that read nothing masked stay as the server said them.
func TestPolicyMaskErrorTexts(t *testing.T) {
	ctx := context.Background()
	if err := pg.Exec(ctx, `
CREATE OR REPLACE FUNCTION fn_shout(i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE e text;
BEGIN
  SELECT email INTO e FROM users WHERE id = i;
  RAISE EXCEPTION 'contact %', e;
END $$;
CREATE OR REPLACE FUNCTION fn_shout_coded(i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE e text;
BEGIN
  SELECT email INTO e FROM users WHERE id = i;
  RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = e;
END $$;
CREATE OR REPLACE FUNCTION fn_whisper(i int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE e text;
BEGIN
  SELECT email INTO e FROM users WHERE id = i;
  RAISE NOTICE 'contact %', e;
  RETURN i;
END $$;`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Exec(context.Background(), "DROP FUNCTION IF EXISTS fn_shout(int), fn_shout_coded(int), fn_whisper(int)")
	})
	g := startGateway(t, guardedYAML)

	for _, mode := range []string{"simple_protocol", "exec"} {
		t.Run(mode, func(t *testing.T) {
			cfg, err := pgx.ParseConfig(g.dsn("alice", aliceToken, "default_query_exec_mode="+mode))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var notices []string
			cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
				mu.Lock()
				notices = append(notices, n.Message)
				mu.Unlock()
			}
			c, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			for _, q := range []struct{ sql, code, want string }{
				{"SELECT email::int FROM users WHERE id = 1", "22P02", `invalid input syntax for type integer: "****"`},
				{"SELECT id FROM users WHERE ssn::int = 1 AND id = 2", "22P02", `"****"`},                             // read in WHERE, not returned
				{"SELECT to_date(email, 'YYYY') FROM users WHERE id = 3", "22007", `invalid value "****" for "YYYY"`}, // "user" is not the client's
				{"UPDATE users SET name = NULL WHERE id = 4", "23502", `null value in column "name"`},
				{"SELECT fn_shout(5)", "P0001", "message withheld by sluice"},
				{"SELECT 1 WHERE fn_shout_coded(9)::text IS NULL", "22000", "message withheld by sluice"}, // its own code
				{"SELECT 'Robert'::int FROM users WHERE id = 6", "22P02", `"Robert"`},                     // the client wrote it
				{"SELECT 'user7@example.com'::int", "22P02", `"user7@example.com"`},                       // reads nothing masked
			} {
				_, err := c.Exec(ctx, q.sql)
				pe, ok := pgErrCode(err)
				if !ok || (q.code != "" && pe.Code != q.code) {
					t.Fatalf("%s: want SQLSTATE %q, got %v", q.sql, q.code, err)
				}
				text := pgErrorText(pe)
				if !strings.Contains(text, q.want) {
					t.Errorf("%s: error %q does not say %q", q.sql, text, q.want)
				}
				if leakPattern.MatchString(text) && !strings.Contains(q.sql, "user7@") {
					t.Errorf("%s: error leaks a masked value: %q", q.sql, text)
				}
				if q.code == "23502" && !strings.Contains(pe.Detail, "Failing row contains (****)") {
					t.Errorf("%s: detail %q, want the failing row hidden", q.sql, pe.Detail)
				}
			}
			var n int // masked itself: the function reads users
			if err := c.QueryRow(ctx, "SELECT fn_whisper(8)").Scan(&n); err != nil {
				t.Fatalf("fn_whisper: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(notices) != 1 || !strings.Contains(notices[0], "withheld by sluice") {
				t.Fatalf("notices %q: want one, without the e-mail", notices)
			}
		})
	}

	// The query log keeps what the client saw, not the value.
	errs := 0
	for _, ev := range queryLog(t, g) {
		if ev.Error == "" {
			continue
		}
		errs++
		if leakPattern.MatchString(strings.ReplaceAll(ev.Error, "user7@example.com", "")) {
			t.Errorf("query log: %q failed with %q", ev.Statement, ev.Error)
		}
	}
	if errs < 16 {
		t.Fatalf("query log: %d failed statements, want the 16 this test ran", errs)
	}
}
