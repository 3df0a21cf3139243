package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/session"
)

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect through gateway: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestSimpleAndExtendedQueries(t *testing.T) {
	g := startGateway(t, "")
	ctx := context.Background()
	for _, mode := range []string{"simple_protocol", "exec", "describe_exec", "cache_statement", "cache_describe"} {
		t.Run(mode, func(t *testing.T) {
			c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode="+mode))
			var n int
			var email string
			if err := c.QueryRow(ctx, "SELECT count(*) FROM users WHERE id <= $1", 10).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 10 {
				t.Fatalf("count = %d, want 10", n)
			}
			if err := c.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", 1).Scan(&email); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(email, "@") {
				t.Fatalf("email = %q", email)
			}
			// Errors pass through with their SQLSTATE and the session stays usable.
			_, err := c.Exec(ctx, "SELECT * FROM no_such_table")
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
				t.Fatalf("want 42P01, got %v", err)
			}
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
				t.Fatalf("after error: %v %d", err, n)
			}
		})
	}
}

func TestMultiStatementAndTransactions(t *testing.T) {
	g := startGateway(t, "")
	ctx := context.Background()
	c := connect(t, g.dsn("alice", aliceToken, ""))
	res, err := c.PgConn().Exec(ctx, "CREATE TEMP TABLE t(x int); INSERT INTO t VALUES (1),(2),(3); SELECT sum(x) FROM t").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || string(res[2].Rows[0][0]) != "6" {
		t.Fatalf("multi-statement results: %+v", res)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (10)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := c.QueryRow(ctx, "SELECT sum(x) FROM t").Scan(&sum); err != nil || sum != 6 {
		t.Fatalf("after rollback sum=%d err=%v", sum, err)
	}
}

func TestBatchPipelineAndBinary(t *testing.T) {
	g := startGateway(t, "")
	ctx := context.Background()
	c := connect(t, g.dsn("alice", aliceToken, ""))
	b := &pgx.Batch{}
	for i := 1; i <= 50; i++ {
		b.Queue("SELECT id, name, balance, email FROM users WHERE id = $1", i)
	}
	b.Queue("SELECT 1/0")
	b.Queue("SELECT 2")
	br := c.SendBatch(ctx, b)
	for i := 1; i <= 50; i++ {
		var id int32
		var name string
		var balance float64
		var email string
		if err := br.QueryRow().Scan(&id, &name, &balance, &email); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if int(id) != i {
			t.Fatalf("id %d want %d", id, i)
		}
	}
	_, err := br.Exec()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
		t.Fatalf("want 22012 division by zero, got %v", err)
	}
	br.Close()
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
}

func TestCopyInAndOut(t *testing.T) {
	g := startGateway(t, "")
	ctx := context.Background()
	c := connect(t, g.dsn("alice", aliceToken, ""))
	if _, err := c.Exec(ctx, "CREATE TEMP TABLE cp(a int, b text)"); err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, 10000)
	for i := range rows {
		rows[i] = []any{int32(i), "row"}
	}
	n, err := c.CopyFrom(ctx, pgx.Identifier{"cp"}, []string{"a", "b"}, pgx.CopyFromRows(rows))
	if err != nil || n != 10000 {
		t.Fatalf("CopyFrom: %d %v", n, err)
	}
	var buf strings.Builder
	tag, err := c.PgConn().CopyTo(ctx, &buf, "COPY cp TO STDOUT")
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 10000 || strings.Count(buf.String(), "\n") != 10000 {
		t.Fatalf("CopyTo: tag %v lines %d", tag, strings.Count(buf.String(), "\n"))
	}
}

func TestListenNotify(t *testing.T) {
	g := startGateway(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := connect(t, g.dsn("alice", aliceToken, ""))
	s := connect(t, g.dsn("alice", aliceToken, ""))
	if _, err := l.Exec(ctx, "LISTEN jobs"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Exec(ctx, "NOTIFY jobs, 'hello'"); err != nil {
		t.Fatal(err)
	}
	n, err := l.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != "jobs" || n.Payload != "hello" {
		t.Fatalf("notification %+v", n)
	}
}

func TestAuthFailures(t *testing.T) {
	g := startGateway(t, "")
	ctx := context.Background()
	cases := []struct {
		name, dsn, code string
	}{
		{"wrong token scram", g.dsn("alice", "nope", ""), "28P01"},
		{"unknown identity over TLS", g.dsn("mallory", "x", "sslmode=require"), "28P01"},
		{"hashed token needs TLS", g.dsn("bob", bobToken, "sslmode=disable"), "28000"},
		{"wrong hashed token", g.dsn("bob", "wrong", "sslmode=require"), "28P01"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pgx.Connect(ctx, tc.dsn)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != tc.code {
				t.Fatalf("want SQLSTATE %s, got %v", tc.code, err)
			}
		})
	}
	// The right hashed token inside TLS works (cleartext inside TLS).
	c := connect(t, g.dsn("bob", bobToken, "sslmode=require"))
	var user string
	if err := c.QueryRow(ctx, "SHOW session_authorization").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if c.PgConn().ParameterStatus("session_authorization") != "bob" {
		t.Fatalf("session_authorization parameter = %q, want the identity", c.PgConn().ParameterStatus("session_authorization"))
	}
}

func TestUnknownDatabaseAndUpstreamDown(t *testing.T) {
	g := startGateway(t, "")
	ctx := context.Background()
	_, err := pgx.Connect(ctx, strings.Replace(g.dsn("alice", aliceToken, ""), "dbname=app", "dbname=nope", 1))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		t.Fatalf("want 3D000, got %v", err)
	}

	down := startGateway(t, "", func(c *config.Config) { c.Targets[0].Upstream.Address = "127.0.0.1:1" })
	_, err = pgx.Connect(ctx, down.dsn("alice", aliceToken, ""))
	if !errors.As(err, &pgErr) || pgErr.Code != "08006" || !strings.Contains(pgErr.Message, "unreachable") {
		t.Fatalf("want 08006 unreachable, got %v", err)
	}
	if strings.Contains(pgErr.Message, "127.0.0.1:1") {
		t.Fatalf("the upstream address leaked to the client: %q", pgErr.Message)
	}
	// The attempt is on record, as failed (closed just after the client was told).
	waitFor(t, 10*time.Second, "the session to be recorded as failed", func() bool {
		recs := sessionStatuses(t, down)
		return len(recs) == 1 && recs[0].Status == session.StatusFailed && recs[0].Error != ""
	})
}

// TestMD5Upstream: the gateway logs in to an upstream role whose password
// is stored as md5 (pg_hba md5), while the client still uses SCRAM.
func TestMD5Upstream(t *testing.T) {
	g := startGateway(t, "", func(c *config.Config) {
		c.Targets[0].Upstream.User = pg.MD5User
		c.Targets[0].Upstream.Password = config.Secret(pg.MD5Password)
		c.Targets[0].Upstream.Database = pg.Database
	})
	c := connect(t, g.dsn("alice", aliceToken, ""))
	var user string
	if err := c.QueryRow(context.Background(), "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if user != pg.MD5User {
		t.Fatalf("upstream user %q, want %q", user, pg.MD5User)
	}
}

func TestDirectSSLAndVerifyFull(t *testing.T) {
	g := startGateway(t, "")
	ctx := context.Background()
	cert := g.cfg.DataDir + "/gateway-cert.pem"
	for _, extra := range []string{
		"sslmode=verify-full sslrootcert=" + cert,
		"sslmode=require sslnegotiation=direct",
	} {
		c, err := pgx.Connect(ctx, g.dsn("alice", aliceToken, extra))
		if err != nil {
			t.Fatalf("%s: %v", extra, err)
		}
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
	}
}

func TestCancelRequest(t *testing.T) {
	g := startGateway(t, "")
	c := connect(t, g.dsn("alice", aliceToken, ""))
	go func() {
		time.Sleep(300 * time.Millisecond)
		// Sent on a new connection with the gateway-issued key, as psql's Ctrl-C does.
		c.PgConn().CancelRequest(context.Background())
	}()
	start := time.Now()
	_, err := c.Exec(context.Background(), "SELECT pg_sleep(20)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("want 57014 query_canceled, got %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("cancel took %v", time.Since(start))
	}
	var one int
	if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("session unusable after cancel: %v", err)
	}
}

// TestFunctionCallFastPath drives the fast-path protocol directly: relayed
// without a policy, refused (42501) under one.
func TestFunctionCallFastPath(t *testing.T) {
	for _, withPolicy := range []bool{false, true} {
		extra := ""
		if withPolicy {
			extra = "policies:\n  guarded:\n    rules:\n      - {name: no-drops, when: {sql: [drop]}, action: block}\n"
		}
		g := startGateway(t, extra)
		c := connect(t, g.dsn("alice", aliceToken, ""))
		pc := c.PgConn()
		if err := pc.SyncConn(context.Background()); err != nil {
			t.Fatal(err)
		}
		hc, err := pc.Hijack()
		if err != nil {
			t.Fatal(err)
		}
		fe := pgproto3.NewFrontend(hc.Conn, hc.Conn)
		fe.Send(&pgproto3.FunctionCall{Function: 2026, ResultFormatCode: 0}) // pg_backend_pid()
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			switch m := msg.(type) {
			case *pgproto3.FunctionCallResponse:
				got = append(got, "result")
			case *pgproto3.ErrorResponse:
				got = append(got, "error:"+m.Code)
			case *pgproto3.ReadyForQuery:
				got = append(got, "ready")
			}
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
				break
			}
		}
		want := "result ready"
		if withPolicy {
			want = "error:42501 ready"
		}
		if strings.Join(got, " ") != want {
			t.Fatalf("policy=%v: got %v, want %s", withPolicy, got, want)
		}
		hc.Conn.Close()
	}
}

func TestOversizedMessageGetsAClearError(t *testing.T) {
	g := startGateway(t, "limits: {max_message_bytes: 4096}\n")
	c := connect(t, g.dsn("alice", aliceToken, ""))
	_, err := c.Exec(context.Background(), "SELECT $1::text", strings.Repeat("x", 10000))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "08P01" || !strings.Contains(pgErr.Message, "max_message_bytes") {
		t.Fatalf("want 08P01 naming limits.max_message_bytes, got %v", err)
	}
}

// TestUnterminatedCommentQuery: "/*/" once panicked the query-log tag
// parser, which (before the loops were guarded) took the whole gateway down.
func TestUnterminatedCommentQuery(t *testing.T) {
	g := startGateway(t, "")
	c := connect(t, g.dsn("alice", aliceToken, ""))
	ctx := context.Background()
	_, err := c.Exec(ctx, "SELECT 1 /*/", pgx.QueryExecModeSimpleProtocol)
	if pe, ok := pgErrCode(err); !ok || pe.Code != "42601" {
		t.Fatalf("want the server's syntax error, got %v", err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT 2").Scan(&n); err != nil || n != 2 {
		t.Fatalf("session unusable after the error: %v", err)
	}
}
