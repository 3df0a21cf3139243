package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/sluice-gw/sluice/session"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// TestMillionRowsFlatMemory streams a 1M-row (~130 MB) result through the
// gateway and checks the process heap stays far below the result size:
// rows are relayed one by one, never buffered whole.
func TestMillionRowsFlatMemory(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	db := g.open(t, "alice", aliceToken, "")
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()
	rows, err := db.Query("SELECT seq, REPEAT('x', 120) FROM seq_1_to_1000000")
	if err != nil {
		t.Fatal(err)
	}
	var n, last int64
	var pad sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&last, &pad); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	close(stop)
	<-sampled
	if n != 1_000_000 || last != 1_000_000 {
		t.Fatalf("got %d rows, last %d", n, last)
	}
	grew := int64(peak.Load()) - int64(base.HeapAlloc)
	t.Logf("heap: base %d MiB, peak %d MiB (+%d MiB) for a ~130 MiB result", base.HeapAlloc>>20, peak.Load()>>20, grew>>20)
	if grew > 40<<20 {
		t.Fatalf("heap grew by %d MiB while streaming: the result is being buffered", grew>>20)
	}
}

// TestUpstreamKilledMidResult kills the upstream thread while a big
// result streams: the client gets an error, not a hang or a truncated
// success, and the gateway stays up for new sessions.
func TestUpstreamKilledMidResult(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	db := g.open(t, "alice", aliceToken, "")
	db.SetMaxOpenConns(1)
	var tid int64
	if err := db.QueryRow("SELECT CONNECTION_ID()").Scan(&tid); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT seq, REPEAT('y', 200) FROM seq_1_to_5000000")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for rows.Next() {
		n++
		if n == 1000 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := mdb.Exec(ctx, fmt.Sprintf("KILL CONNECTION %d", tid)); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
	}
	if rows.Err() == nil {
		t.Fatalf("result ended without error after %d rows though its upstream was killed", n)
	}
	rows.Close()
	// The cut-off statement has its query-log line: the rows streamed
	// before the loss and why it did not complete.
	g.eventsWith(t, "the statement cut off by the upstream loss", func(e session.QueryEvent) bool {
		return strings.Contains(e.Statement, "seq_1_to_5000000") && e.SQLState == "08S01" &&
			strings.Contains(e.Error, "not completed") && e.Rows >= 1000
	})

	// An upstream that dies while the session is idle: the next command
	// gets a clear error, not a silent hang-up.
	idle := g.open(t, "alice", aliceToken, "")
	idle.SetMaxOpenConns(1)
	if err := idle.QueryRow("SELECT CONNECTION_ID()").Scan(&tid); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mdb.Exec(ctx, fmt.Sprintf("KILL CONNECTION %d", tid)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	err = idle.QueryRow("SELECT 1").Scan(new(int))
	if me := mysqlErr(t, err); me.Number != crServerLost || !strings.Contains(me.Message, "lost connection to target shop") {
		t.Fatalf("after upstream death: %v", me)
	}

	// A fresh session works.
	if err := g.open(t, "alice", aliceToken, "").Ping(); err != nil {
		t.Fatalf("gateway unusable after an upstream died: %v", err)
	}
}

// TestKillQueryMapsGatewayIDs: clients see gateway-issued connection ids;
// KILL QUERY with such an id stops the right upstream statement.
func TestKillQueryMapsGatewayIDs(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	slow := g.open(t, "alice", aliceToken, "")
	slow.SetMaxOpenConns(1)
	conn, err := slow.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gwID := onlyGatewayID(t, g)
	done := make(chan error, 1)
	go func() {
		var v int
		done <- conn.QueryRowContext(context.Background(), "SELECT SLEEP(30)").Scan(&v)
	}()
	time.Sleep(300 * time.Millisecond)
	killer := g.open(t, "alice", aliceToken, "")
	if _, err := killer.Exec(fmt.Sprintf("KILL QUERY %d", gwID)); err != nil {
		t.Fatalf("KILL QUERY %d: %v", gwID, err)
	}
	select {
	case <-done: // SLEEP returns 1 (interrupted) or an error: either way it stopped.
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY did not stop the statement")
	}
	// Ids of other identities or unknown ids are "unknown thread".
	_, err = killer.Exec("KILL QUERY 999999")
	if me := mysqlErr(t, err); me.Number != gm.ER_NO_SUCH_THREAD {
		t.Fatalf("unknown id: %v", me)
	}
	if err := g.open(t, "bob", bobToken, "tls=skip-verify").QueryRow("SELECT 1").Err(); err != nil {
		t.Fatal(err)
	}
	_, err = g.open(t, "bob", bobToken, "tls=skip-verify").Exec(fmt.Sprintf("KILL QUERY %d", gwID))
	if me := mysqlErr(t, err); me.Number != gm.ER_NO_SUCH_THREAD {
		t.Fatalf("another identity's id: %v", me)
	}
}

// TestKillQueryWithConnectionID: KILL QUERY also takes the id SELECT
// CONNECTION_ID() returns through the gateway (the upstream thread id) of
// the identity's own connections.
func TestKillQueryWithConnectionID(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	slow := pinnedConn(t, g, "")
	var threadID int64
	if err := slow.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&threadID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- slow.QueryRowContext(context.Background(), "SELECT SLEEP(33)").Scan(new(int)) }()
	waitFor(t, "the SLEEP running upstream", func() bool { return upstreamRunning(t, "SELECT SLEEP(33)") })
	killer := pinnedConn(t, g, "")
	if _, err := killer.ExecContext(context.Background(), fmt.Sprintf("KILL QUERY %d", threadID)); err != nil {
		t.Fatalf("KILL QUERY %d (the CONNECTION_ID()): %v", threadID, err)
	}
	select {
	case <-done: // SLEEP returns 1 (interrupted) or an error: either way it stopped.
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY with the CONNECTION_ID() did not stop the statement")
	}
	// Another identity cannot use it.
	_, err := g.open(t, "bob", bobToken, "tls=skip-verify").Exec(fmt.Sprintf("KILL QUERY %d", threadID))
	if me := mysqlErr(t, err); me.Number != gm.ER_NO_SUCH_THREAD {
		t.Fatalf("another identity's thread id: %v", me)
	}
}

// TestLoadDataLocalRefusedByDefault: without a rule that allows it, LOAD
// DATA LOCAL gets an ERR and nothing is loaded.
func TestLoadDataLocalRefusedByDefault(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	file := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(file, []byte("100,1,5\n101,1,6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stmt := fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE orders FIELDS TERMINATED BY ','", file)
	_, errOut, code := g.runCLI(t, "alice", aliceToken, []string{"--skip-ssl", "--local-infile=1"}, stmt)
	if code == 0 || !strings.Contains(errOut, "LOAD DATA LOCAL") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	out, _, _ := g.runCLI(t, "alice", aliceToken, []string{"--skip-ssl"}, "SELECT COUNT(*) FROM orders WHERE id >= 100")
	if !strings.Contains(out, "\n0") {
		t.Fatalf("rows were loaded: %s", out)
	}
}

// TestUpstreamTLSAndPlugins dials the upstream with each TLS mode and with
// an ed25519 account.
func TestUpstreamTLSAndPlugins(t *testing.T) {
	cases := []gatewayOptions{{upstreamTLS: "require"}, {upstreamTLS: "verify-full"}}
	if mdb.Ed25519User != "" {
		cases = append(cases, gatewayOptions{user: mdb.Ed25519User, pass: mdb.Ed25519Password})
	}
	for _, o := range cases {
		g := startGateway(t, o)
		var cipher, value string
		err := g.open(t, "alice", aliceToken, "").QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&cipher, &value)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if (o.upstreamTLS != "") != (value != "") {
			t.Fatalf("%+v: upstream Ssl_cipher = %q", o, value)
		}
	}
}

// TestKillHiddenInTextIsRefused: a KILL the gateway cannot map (after
// another statement, in an executable comment, after a comment, prepared
// from a string) never reaches the upstream, where it would name the
// upstream thread of another identity's session (all gateway connections
// share the target's upstream account).
func TestKillHiddenInTextIsRefused(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: benchPolicy})
	victim := g.open(t, "bob", bobToken, "tls=skip-verify")
	victim.SetMaxOpenConns(1)
	var one int
	if err := victim.QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	var upstreamID uint32
	g.engine.conns.mu.Lock()
	for _, c := range g.engine.conns.conns {
		upstreamID = c.upstreamID
	}
	g.engine.conns.mu.Unlock()
	if upstreamID == 0 {
		t.Fatal("no registered connection")
	}
	attacker := g.open(t, "alice", aliceToken, "multiStatements=true")
	for _, text := range []string{
		"SELECT 1; KILL %d",
		"/*! KILL %d */",
		"-- x\nKILL CONNECTION %d",
		"PREPARE s FROM 'KILL %d'",
	} {
		q := fmt.Sprintf(text, upstreamID)
		_, err := attacker.Exec(q)
		if me := mysqlErr(t, err); me.Number != gm.ER_NOT_SUPPORTED_YET || !strings.Contains(me.Message, "KILL") {
			t.Errorf("%q: %v", q, me)
		}
	}
	// The same connection (one allowed), never re-dialled: a kill would
	// surface as an error here.
	victim.SetConnMaxLifetime(0)
	if err := victim.QueryRow("SELECT CONNECTION_ID()").Scan(&one); err != nil || uint32(one) != upstreamID {
		t.Fatalf("the victim's connection: upstream thread %d, %v; want %d", one, err, upstreamID)
	}
}

// onlyGatewayID returns the gateway-issued connection id (what the greeting
// carried) of g's one registered connection.
func onlyGatewayID(t *testing.T, g *testGateway) uint32 {
	t.Helper()
	g.engine.conns.mu.Lock()
	defer g.engine.conns.mu.Unlock()
	if len(g.engine.conns.conns) != 1 {
		t.Fatalf("%d registered connections, want 1", len(g.engine.conns.conns))
	}
	for id := range g.engine.conns.conns {
		return id
	}
	return 0
}

// TestUnterminatedCommentQuery: "/*/" once panicked the query-log tag
// parser, taking the whole gateway down.
func TestUnterminatedCommentQuery(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	db.SetMaxOpenConns(1)
	_, err := db.Exec("SELECT 1 /*/")
	if me := mysqlErr(t, err); me.Number != 1064 {
		t.Fatalf("want the server's syntax error, got %v", me)
	}
	var n int
	if err := db.QueryRow("SELECT 2").Scan(&n); err != nil || n != 2 {
		t.Fatalf("gateway unusable after the error: %v", err)
	}
}
