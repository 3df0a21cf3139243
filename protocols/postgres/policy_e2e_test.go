package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/replay"
	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// guardedYAML is the policy the end-to-end tests run under: drops blocked,
// unqualified writes reviewed, e-mails and SSNs masked (partial), and an
// integer column masked so type-correctness of masked binary ints is covered.
const guardedYAML = `policies:
  guarded:
    rules:
      - {name: no-drops, when: {sql: [drop, truncate]}, action: block}
      - {name: bulk-writes, when: {sql: [delete, update], without_where: true}, action: review}
    masks:
      - {columns: [users.email, "*.ssn"], method: partial}
      - {columns: [orders.user_id], method: redact}
approvals:
  reviewers: {groups: [reviewers]}
`

func pgErrCode(err error) (*pgconn.PgError, bool) {
	var pgErr *pgconn.PgError
	ok := errors.As(err, &pgErr)
	return pgErr, ok
}

// wantPgErr fails unless err is a server error with code whose message contains every part.
func wantPgErr(t *testing.T, what string, err error, code string, parts ...string) *pgconn.PgError {
	t.Helper()
	pe, ok := pgErrCode(err)
	if !ok || pe.Code != code {
		t.Fatalf("%s: want SQLSTATE %s, got %v", what, code, err)
	}
	for _, p := range parts {
		if !strings.Contains(pe.Message, p) {
			t.Fatalf("%s: message %q does not name %q", what, pe.Message, p)
		}
	}
	return pe
}

// psqlRun runs psql against the gateway with args, returning stdout, stderr and the exit code.
func psqlRun(t *testing.T, dsn string, args ...string) (string, string, int) {
	t.Helper()
	psql := testenv.RequireBinary(t, "psql", "postgresql-client")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, psql, append([]string{"-X", "-v", "ON_ERROR_STOP=0", "-d", dsn}, args...)...)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PSQLRC=/dev/null")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("psql: %v", err)
	}
	return out.String(), errOut.String(), code
}

func TestPolicyBlockedDrop(t *testing.T) {
	adminAddr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, guardedYAML+fmt.Sprintf("admin: {listen: %q, token: admintok}\n", adminAddr))
	ctx := context.Background()
	defer func() {
		// Every judged statement is counted, allowed ones too.
		if t.Failed() {
			return
		}
		resp, err := http.Get("http://" + adminAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`sluice_decisions_total{action="allow",protocol="postgres",rule="",target="appdb"}`,
			`sluice_decisions_total{action="block",protocol="postgres",rule="no-drops",target="appdb"}`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}()

	// psql, simple protocol: the error names the rule; the next command in
	// the same session still runs.
	out, errOut, _ := psqlRun(t, g.dsn("alice", aliceToken, ""), "-c", "DROP TABLE orders", "-c", "SELECT count(*) FROM orders")
	if !strings.Contains(errOut, "42501") && !strings.Contains(errOut, "no-drops") {
		t.Fatalf("psql block: stderr %q", errOut)
	}
	if !strings.Contains(errOut, "no-drops") || !strings.Contains(out, "10000") {
		t.Fatalf("psql: stdout %q stderr %q", out, errOut)
	}

	for _, mode := range []string{"simple_protocol", "exec", "cache_statement"} {
		t.Run(mode, func(t *testing.T) {
			c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode="+mode))
			_, err := c.Exec(ctx, "DROP TABLE orders")
			wantPgErr(t, "drop", err, "42501", "no-drops")
			var n int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 10000 {
				t.Fatalf("after block: n=%d err=%v", n, err)
			}

			// Inside a transaction the block aborts it, as any error would.
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			_, err = tx.Exec(ctx, "TRUNCATE orders")
			wantPgErr(t, "truncate in tx", err, "42501", "no-drops")
			_, err = tx.Exec(ctx, "SELECT 1")
			wantPgErr(t, "after block in tx", err, "25P02")
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 10000 {
				t.Fatalf("after rollback: n=%d err=%v", n, err)
			}

			// In a pipeline: the blocked statement errors, the rest up to Sync
			// is discarded, the connection stays usable.
			b := &pgx.Batch{}
			b.Queue("SELECT 1")
			b.Queue("DROP TABLE users")
			b.Queue("SELECT 3")
			br := c.SendBatch(ctx, b)
			var one int
			if mode == "exec" {
				// Only exec mode runs the first statement: simple_protocol sends the
				// batch as one multi-statement Query (judged, and blocked, whole);
				// cache_statement prepares every statement up front, so the blocked
				// Parse fails the pipeline before anything runs.
				if err := br.QueryRow().Scan(&one); err != nil || one != 1 {
					t.Fatalf("batch first: %v", err)
				}
			}
			var batchErr error
			for i := 0; i < 3 && batchErr == nil; i++ {
				_, batchErr = br.Exec()
			}
			wantPgErr(t, "batch", batchErr, "42501", "no-drops")
			br.Close()
			if err := c.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != testenv.DemoRows {
				t.Fatalf("after batch: n=%d err=%v", n, err)
			}
		})
	}

	ev := queryLog(t, g)
	if !hasQuery(ev, func(e session.QueryEvent) bool {
		return e.Decision == "block" && e.Rule == "no-drops" && e.Statement == "DROP TABLE orders" && e.SQLState == "42501"
	}) {
		t.Fatalf("no block event in the query log: %+v", ev)
	}
}

// approveNext waits for one pending request and decides it as bob.
func decideNext(t *testing.T, b *policy.Broker, approve bool, reason string) <-chan policy.ApprovalRequest {
	got := make(chan policy.ApprovalRequest, 1)
	go func() {
		defer close(got)
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if p := b.Pending(); len(p) > 0 {
				if _, err := b.Decide(p[0].ID, approve, policy.Reviewer{Name: "bob", Groups: []string{"reviewers"}}, reason); err != nil {
					t.Errorf("decide %s: %v", p[0].ID, err)
					return
				}
				got <- p[0]
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("no approval request filed within 15s")
	}()
	return got
}

func TestPolicyReviewApprovedAndDenied(t *testing.T) {
	g := startGateway(t, guardedYAML)
	ctx := context.Background()
	broker := g.Deps().Broker
	for _, mode := range []string{"simple_protocol", "cache_statement"} {
		t.Run(mode, func(t *testing.T) {
			c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode="+mode))
			if _, err := c.Exec(ctx, "CREATE TEMP TABLE scratch AS SELECT g AS x FROM generate_series(1, 10) g"); err != nil {
				t.Fatal(err)
			}
			done := decideNext(t, broker, true, "looks fine")
			tag, err := c.Exec(ctx, "DELETE FROM scratch")
			if err != nil {
				t.Fatalf("approved delete: %v", err)
			}
			req := <-done
			if tag.RowsAffected() != 10 || req.Statement != "DELETE FROM scratch" || req.Rule != "bulk-writes" || req.Identity != "alice" {
				t.Fatalf("tag %v request %+v", tag, req)
			}

			if _, err := c.Exec(ctx, "INSERT INTO scratch VALUES (1), (2)"); err != nil {
				t.Fatal(err)
			}
			done = decideNext(t, broker, false, "not on a friday")
			_, err = c.Exec(ctx, "UPDATE scratch SET x = 0")
			req = <-done
			wantPgErr(t, "denied update", err, "42501", req.ID, "bob", "not on a friday", "bulk-writes")
			var n int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM scratch WHERE x = 0").Scan(&n); err != nil || n != 0 {
				t.Fatalf("denied update ran? n=%d err=%v", n, err)
			}
		})
	}
	ev := queryLog(t, g)
	if !hasQuery(ev, func(e session.QueryEvent) bool {
		return e.Decision == "review-approved" && e.Reviewer == "bob" && e.Rows == 10 && e.Approval != ""
	}) || !hasQuery(ev, func(e session.QueryEvent) bool {
		return e.Decision == "review-denied" && e.Reason == "not on a friday" && e.SQLState == "42501"
	}) {
		t.Fatalf("review outcomes missing from the query log: %+v", ev)
	}
}

func TestPolicyReviewTimeoutAndClientLeaves(t *testing.T) {
	g := startGateway(t, strings.Replace(guardedYAML, "approvals:\n", "approvals:\n  timeout: 1s\n", 1))
	ctx := context.Background()
	c := connect(t, g.dsn("alice", aliceToken, ""))
	start := time.Now()
	_, err := c.Exec(ctx, "DELETE FROM orders")
	wantPgErr(t, "timed out review", err, "42501", "timed out", "bulk-writes")
	if el := time.Since(start); el < 900*time.Millisecond || el > 10*time.Second {
		t.Fatalf("timeout after %v, want about 1s", el)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 2*testenv.DemoRows {
		t.Fatalf("after timeout: n=%d err=%v", n, err)
	}

	// A client that leaves while its statement is held cancels the request.
	g2 := startGateway(t, guardedYAML)
	pc, err := pgconn.Connect(ctx, g2.dsn("alice", aliceToken, ""))
	if err != nil {
		t.Fatal(err)
	}
	execDone := make(chan error, 1)
	go func() { execDone <- pc.Exec(ctx, "DELETE FROM orders").Close() }()
	waitFor(t, 10*time.Second, "request pending", func() bool { return len(g2.Deps().Broker.Pending()) == 1 })
	pc.Conn().Close()
	<-execDone
	waitFor(t, 10*time.Second, "request cancelled", func() bool { return len(g2.Deps().Broker.Pending()) == 0 })
	if err := c.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 2*testenv.DemoRows {
		t.Fatalf("held delete ran after the client left: n=%d err=%v", n, err)
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maskBypasses are statements that try to read users.email (row 1..3) around the mask.
var maskBypasses = []string{
	"SELECT email AS e FROM users WHERE id <= 3 ORDER BY id",
	"SELECT upper(email) FROM users WHERE id <= 3 ORDER BY id",
	"SELECT email || '' FROM users WHERE id <= 3 ORDER BY id",
	"SELECT row_to_json(u)::text FROM users u WHERE id <= 3 ORDER BY id",
	"SELECT row_to_json(u) FROM users u WHERE id <= 3 ORDER BY id",
	"SELECT string_agg(email, ',') FROM users WHERE id <= 3",
	"SELECT * FROM (SELECT email FROM users WHERE id <= 3) s",
	"WITH c AS (SELECT email FROM users WHERE id <= 3) SELECT * FROM c",
	"SELECT email FROM users WHERE id = 1 UNION ALL SELECT name FROM users WHERE id = 2",
	"SELECT name FROM users WHERE id = 2 UNION ALL SELECT email FROM users WHERE id = 1",
	"SELECT u.* FROM users u WHERE id <= 3 ORDER BY id",
	"SELECT ssn, email FROM users WHERE id <= 3 ORDER BY id",
}

func TestPolicyMaskBypasses(t *testing.T) {
	g := startGateway(t, guardedYAML)
	ctx := context.Background()
	// simple_protocol: text rows; exec: no Describe from the client (the
	// gateway must ask); the cache modes: binary rows for known types.
	for _, mode := range []string{"simple_protocol", "exec", "describe_exec", "cache_statement", "cache_describe"} {
		t.Run(mode, func(t *testing.T) {
			c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode="+mode))
			for _, q := range maskBypasses {
				rows, err := c.Query(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				nrows := 0
				for rows.Next() {
					nrows++
					vals, err := rows.Values()
					if err != nil {
						t.Fatalf("%s: %v", q, err)
					}
					for _, v := range vals {
						if s := valueText(v); strings.Contains(s, "@example") || strings.Contains(s, "-01-0001") {
							t.Errorf("%s: leaked %q", q, s)
						}
					}
				}
				if err := rows.Err(); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				if nrows == 0 {
					t.Fatalf("%s: no rows", q)
				}
			}

			// The partial mask keeps the tail; an unmasked column is untouched.
			var email, name string
			if err := c.QueryRow(ctx, "SELECT email, name FROM users WHERE id = $1", 1).Scan(&email, &name); err != nil {
				t.Fatal(err)
			}
			if email != "****.com" || name != "User 1" {
				t.Fatalf("email %q name %q", email, name)
			}
			// A masked int column still scans as an int (binary int4 zero, text "0").
			var uid int32
			var uid64 int64
			var id int
			if err := c.QueryRow(ctx, "SELECT id, user_id, user_id::int8 + 1 FROM orders WHERE id = $1", 7).Scan(&id, &uid, &uid64); err != nil {
				t.Fatalf("masked int scan: %v", err)
			}
			if id != 7 || uid != 0 || uid64 != 0 {
				t.Fatalf("masked ints: id %d user_id %d expr %d", id, uid, uid64)
			}
		})
	}

}

// TestPolicyMaskCursorsViewsFunctions: masked data read through a server
// cursor, a prepared statement, a view or a function the session created.
func TestPolicyMaskCursorsViewsFunctions(t *testing.T) {
	g := startGateway(t, guardedYAML)
	c := connect(t, g.dsn("alice", aliceToken, ""))
	for _, q := range []string{
		"BEGIN; DECLARE cur CURSOR FOR SELECT email FROM users ORDER BY id; FETCH 2 FROM cur",
		"FETCH 2 FROM cur",
		"COMMIT",
		"PREPARE pp AS SELECT email FROM users WHERE id <= 2",
		"EXECUTE pp",
		"CREATE TEMP VIEW vv AS SELECT email FROM users",
		"SELECT * FROM vv ORDER BY 1 LIMIT 2",
		"CREATE FUNCTION pg_temp.ff() RETURNS SETOF text AS 'SELECT email FROM users' LANGUAGE sql",
		"SELECT pg_temp.ff() LIMIT 2",
	} {
		wantNoEmails(t, c, q)
	}
}

// TestPolicyMaskExistingFunction: functions created outside the gateway
// that read a masked column. The statement names only the function, so its
// result is data of unknown origin (masked, or refused); a function that
// reads nothing masked stays in clear.
func TestPolicyMaskExistingFunction(t *testing.T) {
	ctx := context.Background()
	if err := pg.Exec(ctx, `
CREATE OR REPLACE FUNCTION fn_contact_of(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT email FROM users WHERE id = $1';
CREATE OR REPLACE FUNCTION fn_contacts() RETURNS TABLE(id int, mail text) LANGUAGE sql STABLE AS 'SELECT id, email FROM users';
CREATE OR REPLACE FUNCTION fn_dyn_contact(int) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE r text;
BEGIN
  EXECUTE format('SELECT %I FROM %I WHERE id = $1', 'em' || 'ail', 'us' || 'ers') INTO r USING $1;
  RETURN r;
END $$;
CREATE OR REPLACE FUNCTION fn_double(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
CREATE OR REPLACE FUNCTION fn_commented(int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  -- unlike the old version, this never reads users.email
  SELECT $1 * 4 /* email */ $$;
CREATE OR REPLACE FUNCTION fn_atomic_contact(i int) RETURNS text LANGUAGE sql STABLE
  BEGIN ATOMIC SELECT email FROM users WHERE id = i; END;
CREATE OR REPLACE FUNCTION fn_atomic_triple(i int) RETURNS int LANGUAGE sql IMMUTABLE
  BEGIN ATOMIC SELECT i * 3; END;
`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Exec(context.Background(), "DROP FUNCTION IF EXISTS fn_contact_of(int), fn_contacts(), fn_dyn_contact(int), fn_double(int), fn_commented(int), fn_atomic_contact(int), fn_atomic_triple(int)")
	})
	g := startGateway(t, guardedYAML)
	c := connect(t, g.dsn("alice", aliceToken, ""))
	for _, q := range []string{
		"SELECT fn_contact_of(1)",
		"SELECT public.fn_contact_of(1)",
		"SELECT upper(fn_contact_of(1))",
		"SELECT mail FROM fn_contacts() WHERE id = 1",
		"SELECT * FROM fn_contacts() WHERE id = 1",
		"SELECT fn_dyn_contact(1)",
		"SELECT fn_atomic_contact(1)", // a SQL-standard body (empty prosrc)
	} {
		wantNoEmails(t, c, q)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT fn_double(21)").Scan(&n); err != nil || n != 42 {
		t.Errorf("a function that reads nothing masked: %d %v, want 42 in clear", n, err)
	}
	if err := c.QueryRow(ctx, "SELECT fn_commented(5)").Scan(&n); err != nil || n != 20 {
		t.Errorf("a function whose comments name a masked column: %d %v, want 20 in clear", n, err)
	}
	if err := c.QueryRow(ctx, "SELECT fn_atomic_triple(21)").Scan(&n); err != nil || n != 63 {
		t.Errorf("a SQL-standard function that reads nothing masked: %d %v, want 63 in clear", n, err)
	}
}

// wantNoEmails runs q and fails the test if any value holds a seeded
// e-mail address in clear. A refusal is fine (fail closed); a leak is not.
func wantNoEmails(t *testing.T, c *pgx.Conn, q string) {
	t.Helper()
	res, err := c.PgConn().Exec(context.Background(), q).ReadAll()
	if err != nil {
		if _, ok := pgErrCode(err); !ok {
			t.Fatalf("%s: %v", q, err)
		}
		t.Logf("%q refused: %v", q, err)
		return
	}
	for _, r := range res {
		for _, row := range r.Rows {
			for _, v := range row {
				if strings.Contains(strings.ToLower(string(v)), "@example") {
					t.Errorf("%q leaks %q", q, v)
				}
			}
		}
	}
}

// TestPolicyMaskExistingView: a view the DBA created outside the gateway
// over a masked column. The statement text names only the view, so masking
// must come from the view's definition (or fail closed).
func TestPolicyMaskExistingView(t *testing.T) {
	ctx := context.Background()
	if err := pg.Exec(ctx, "CREATE OR REPLACE VIEW user_contacts AS SELECT id, email FROM users; GRANT SELECT ON user_contacts TO "+pg.User); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Exec(context.Background(), "DROP VIEW IF EXISTS user_contacts") })
	g := startGateway(t, guardedYAML)
	c := connect(t, g.dsn("alice", aliceToken, ""))
	for _, q := range []string{"SELECT email FROM user_contacts WHERE id = 1", "SELECT * FROM user_contacts WHERE id = 1"} {
		var id int
		var email string
		var err error
		if strings.Contains(q, "*") {
			err = c.QueryRow(ctx, q).Scan(&id, &email)
		} else {
			err = c.QueryRow(ctx, q).Scan(&email)
		}
		if err != nil {
			if _, ok := pgErrCode(err); ok {
				continue // refused: fail closed
			}
			t.Fatal(err)
		}
		if strings.Contains(email, "@example") {
			t.Errorf("%s: leaks %q through a pre-existing view", q, email)
		}
	}
}

// TestPolicyMaskCopyTo: COPY (SELECT ...) TO STDOUT and COPY table TO STDOUT
// are rows too, sent as CopyData.
func TestPolicyMaskCopyTo(t *testing.T) {
	g := startGateway(t, guardedYAML)
	ctx := context.Background()
	c := connect(t, g.dsn("alice", aliceToken, ""))
	for _, q := range []string{
		"COPY (SELECT id, email FROM users WHERE id <= 3) TO STDOUT",
		"COPY users TO STDOUT",
		"COPY (SELECT email FROM users WHERE id <= 3) TO STDOUT WITH (FORMAT csv)",
		"COPY (SELECT email FROM users WHERE id <= 3) TO STDOUT WITH (FORMAT binary)",
		"COPY users (email) TO STDOUT WITH (FORMAT csv, HEADER)",
	} {
		var buf strings.Builder
		if _, err := c.PgConn().CopyTo(ctx, &buf, q); err != nil {
			// Refusing a COPY it cannot mask is acceptable (fail closed); leaking is not.
			if _, ok := pgErrCode(err); !ok {
				t.Fatalf("%s: %v", q, err)
			}
			t.Logf("%s refused: %v", q, err)
			continue
		}
		if strings.Contains(buf.String(), "@example") {
			t.Errorf("%s: COPY output leaks masked e-mails: %.120q", q, buf.String())
		}
		// Every form keeps the partial mask: COPY table TO STDOUT names no
		// columns, the gateway learns them by describing the table first.
		if want := "****.com"; !strings.Contains(buf.String(), want) {
			t.Errorf("%s: COPY output has no partially masked e-mail: %.120q", q, buf.String())
		}
	}

	// A star COPY masks only the masked columns: the names are told apart.
	for _, q := range []string{
		"COPY users TO STDOUT",
		"COPY (SELECT * FROM users WHERE id <= 3) TO STDOUT",
		"COPY public.users TO STDOUT",
	} {
		var buf strings.Builder
		if _, err := c.PgConn().CopyTo(ctx, &buf, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		first, _, _ := strings.Cut(buf.String(), "\n")
		cols := strings.Split(first, "\t")
		if len(cols) != 6 || cols[0] != "1" || cols[1] != "User 1" || !strings.HasSuffix(cols[2], ".com") ||
			strings.Contains(cols[2], "@example") || strings.HasPrefix(cols[3], "101-") {
			t.Errorf("%s: first row %q: want id and name in clear, e-mail and ssn partially masked", q, first)
		}
	}
	// Through the extended protocol (Parse/Bind/Execute/Sync, as a driver
	// without a COPY API sends it), named too; and in a batch the client
	// opened earlier (an unsynced Parse before it), where the gateway must
	// not inject a Sync, every maskable column is masked instead.
	for _, batch := range [][]pgproto3.FrontendMessage{
		{&pgproto3.Parse{Query: "COPY users TO STDOUT"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}},
		{&pgproto3.Parse{Name: "probe", Query: "SELECT 1"}, &pgproto3.Flush{}},
	} {
		rows := extendedCopy(t, c.PgConn(), batch)
		if len(batch) == 2 {
			rows = extendedCopy(t, c.PgConn(), []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "COPY users TO STDOUT"},
				&pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}})
			if len(rows) == 0 || strings.Contains(rows[0], "@example") || strings.Contains(rows[0], "User 1") {
				t.Errorf("extended COPY inside an open batch: %d rows, first %q: want every maskable column masked", len(rows), rows[:min(1, len(rows))])
			}
			continue
		}
		cols := strings.Split(rows[0], "\t")
		if len(cols) != 6 || cols[1] != "User 1" || !strings.HasSuffix(cols[2], ".com") || strings.Contains(cols[2], "@example") {
			t.Errorf("extended COPY: first row %q: want name in clear, e-mail partially masked", rows[0])
		}
	}

	// Inside a transaction, and the session's own statements untouched:
	// the injected Describe and Sync neither commit nor disturb anything.
	if _, err := c.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TEMP TABLE copy_probe (n int)"); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if _, err := c.PgConn().CopyTo(ctx, &buf, "COPY users TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'copy_probe'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the transaction around the COPY did not roll back: %d %v", n, err)
	}
	// In a failed transaction the Describe fails too: the client sees only
	// its own error, and the session goes on.
	if _, err := c.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	c.Exec(ctx, "SELECT 1/0")
	_, err := c.PgConn().CopyTo(ctx, &buf, "COPY users TO STDOUT")
	if pe, ok := pgErrCode(err); !ok || pe.Code != "25P02" {
		t.Fatalf("COPY in a failed transaction: %v, want 25P02 from the server", err)
	}
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("session after the failed COPY: %v", err)
	}
	// The query log names the COPY's columns.
	c.Close(ctx)
	var logged bool
	for _, ev := range queryLog(t, g) {
		if ev.Statement == "COPY users TO STDOUT" && slices.Contains(ev.Columns, "email") && slices.Contains(ev.Masked, "email") {
			logged = true
		}
	}
	if !logged {
		t.Error("no query-log line for COPY users TO STDOUT naming its columns and the masked one")
	}
}

// valueText renders a scanned value for leak checks.
func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// queryLog returns the query-log events of every session of gateway g, after
// waiting for all of them to close (a record is complete only then).
func queryLog(t testing.TB, g *gw) []session.QueryEvent {
	t.Helper()
	ctx := context.Background()
	var recs []session.Record
	waitFor(t, 10*time.Second, "sessions to close", func() bool {
		var err error
		recs, err = g.Deps().Store.List(ctx, session.Filter{Target: "appdb"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Status == session.StatusActive {
				return false
			}
		}
		return true
	})
	var all []session.QueryEvent
	for _, r := range recs {
		all = append(all, readQueryLog(t, g.cfg.DataDir, r)...)
	}
	return all
}

// readQueryLog decodes one session's query log with the replay reader.
func readQueryLog(t testing.TB, dataDir string, r session.Record) []session.QueryEvent {
	t.Helper()
	var out []session.QueryEvent
	for _, f := range r.Files {
		if filepath.Base(f) != session.QueryLogFile {
			continue
		}
		lr, err := replay.OpenLines(filepath.Join(dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for {
			line, err := lr.Next()
			if err != nil {
				break
			}
			e, err := replay.DecodeQueryLine(line)
			if err != nil {
				t.Fatalf("query log line %q: %v", line, err)
			}
			out = append(out, e)
		}
		if lr.Damaged != nil {
			t.Fatalf("query log of %s damaged: %v", r.ID, lr.Damaged)
		}
		lr.Close()
	}
	return out
}

func hasQuery(ev []session.QueryEvent, match func(session.QueryEvent) bool) bool {
	for _, e := range ev {
		if match(e) {
			return true
		}
	}
	return false
}

// TestPolicyReviewPsql: psql shows the hold NOTICE at once, then the result
// once a reviewer approves.
func TestPolicyReviewPsql(t *testing.T) {
	g := startGateway(t, guardedYAML)
	done := decideNext(t, g.Deps().Broker, true, "ok from psql test")
	out, errOut, code := psqlRun(t, g.dsn("alice", aliceToken, ""),
		"-c", "CREATE TEMP TABLE s AS SELECT generate_series(1, 3) x", "-c", "DELETE FROM s")
	req := <-done
	if code != 0 || !strings.Contains(out, "DELETE 3") {
		t.Fatalf("psql exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "NOTICE:") || !strings.Contains(errOut, "held for approval "+req.ID) {
		t.Fatalf("psql did not show the hold notice: %q", errOut)
	}
}

// extendedCopy sends msgs and reads to ReadyForQuery, returning the CopyData
// rows (a response without any fails the test).
func extendedCopy(t *testing.T, c *pgconn.PgConn, msgs []pgproto3.FrontendMessage) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fe := c.Frontend()
	for _, m := range msgs {
		fe.Send(m)
	}
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, ok := msgs[len(msgs)-1].(*pgproto3.Flush); ok {
		if m, err := c.ReceiveMessage(ctx); err != nil {
			t.Fatalf("after Flush: %T %v", m, err)
		}
		return nil // ParseComplete: the batch stays open
	}
	var rows []string
	for {
		m, err := c.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *pgproto3.CopyData:
			rows = append(rows, strings.TrimSuffix(string(m.Data), "\n"))
		case *pgproto3.ErrorResponse:
			t.Fatalf("extended COPY: %s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			if len(rows) == 0 {
				t.Fatal("extended COPY: no rows")
			}
			return rows
		}
	}
}
