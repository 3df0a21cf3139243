package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	gosql "github.com/go-sql-driver/mysql"

	"github.com/sluice-gw/sluice/session"
)

// liveSessionID waits for the gateway's one live session and returns its id.
func liveSessionID(t *testing.T, g *testGateway) string {
	t.Helper()
	var id string
	waitFor(t, "one live session", func() bool {
		recs, err := g.store.List(context.Background(), session.Filter{Status: session.StatusActive})
		if err != nil || len(recs) != 1 {
			return false
		}
		id = recs[0].ID
		return true
	})
	return id
}

// waitKilledRecord waits for session id's record to close as killed and
// checks it names reason.
func waitKilledRecord(t *testing.T, g *testGateway, id, reason string) {
	t.Helper()
	var r session.Record
	waitFor(t, "killed record", func() bool {
		var err error
		r, err = g.store.Get(context.Background(), id)
		return err == nil && r.Status != session.StatusActive
	})
	if r.Status != session.StatusKilled || !strings.Contains(r.Error, reason) {
		t.Fatalf("record after the kill: status %s, error %q", r.Status, r.Error)
	}
}

// wantKilledErr checks a client got ER_CONNECTION_KILLED naming reason.
func wantKilledErr(t *testing.T, err error, reason string) {
	t.Helper()
	var me *gosql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("client got %v (%T), want ERR 1927", err, err)
	}
	if me.Number != 1927 || string(me.SQLState[:]) != "70100" || !strings.Contains(me.Message, reason) {
		t.Fatalf("client got %d/%s %q, want 1927/70100 naming %q", me.Number, me.SQLState, me.Message, reason)
	}
}

// pinnedConn is one connection (one gateway session) of a go-sql-driver pool.
func pinnedConn(t *testing.T, g *testGateway, params string) *sql.Conn {
	t.Helper()
	c, err := g.open(t, "alice", aliceToken, params).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// rawSession is a go-mysql connection through the gateway (its packets at
// hand, their sequence ids checked), reads bounded by a deadline, and its
// session's id.
func rawSession(t *testing.T, g *testGateway) (*client.Conn, string) {
	t.Helper()
	c, err := client.Connect(g.addr, "alice", aliceToken, mdb.Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c, liveSessionID(t, g)
}

// A statement running upstream when its session is killed: the client gets
// ERR 1927 with the reason at once, not a dropped connection after the
// statement would have ended.
func TestKillDuringQuerySendsConnectionKilled(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := pinnedConn(t, g, "")
	id := liveSessionID(t, g)

	errc := make(chan error, 1)
	go func() { errc <- c.QueryRowContext(context.Background(), "SELECT SLEEP(30)").Scan(new(int)) }()
	waitFor(t, "the SLEEP running upstream", func() bool { return upstreamRunning(t, "SELECT SLEEP(30)") })

	start := time.Now()
	if !g.store.Kill(id, "incident 4711") {
		t.Fatal("session not live")
	}
	select {
	case err := <-errc:
		wantKilledErr(t, err, "incident 4711")
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the kill reached the client after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client still waiting 10s after the kill")
	}
	waitKilledRecord(t, g, id, "incident 4711")
	g.eventsWith(t, "the statement the kill cut off", func(e session.QueryEvent) bool {
		return e.Statement == "SELECT SLEEP(30)" && strings.Contains(e.Error, "not completed") &&
			strings.Contains(e.Error, "incident 4711")
	})
}

// A statement held for review when its session is killed: it never runs,
// the review is withdrawn, and the client hears why.
func TestKillDuringReviewSendsConnectionKilled(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	c := pinnedConn(t, g, "")
	id := liveSessionID(t, g)

	errc := make(chan error, 1)
	go func() { _, err := c.ExecContext(context.Background(), "DELETE FROM orders"); errc <- err }()
	waitFor(t, "request filed", func() bool { return len(g.broker.Pending()) == 1 })
	if !g.store.Kill(id, "held too long") {
		t.Fatal("session not live")
	}
	select {
	case err := <-errc:
		wantKilledErr(t, err, "held too long")
	case <-time.After(10 * time.Second):
		t.Fatal("client still waiting 10s after the kill")
	}
	waitFor(t, "request withdrawn", func() bool { return len(g.broker.Pending()) == 0 })
	waitKilledRecord(t, g, id, "held too long")
	var n int
	if err := g.open(t, "alice", aliceToken, "").QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n != 3 {
		t.Fatalf("orders = %d, %v", n, err)
	}
}

// bigResult is a result set far larger than every buffer between the
// upstream and the client, so it is still streaming when a test kills it.
// (MariaDB stops a recursion at 1000 rows by default: hence the join.)
const (
	bigResult     = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 250) SELECT a.n, b.n, REPEAT('x', 2000) FROM r a, r b"
	bigResultRows = 250 * 250
)

// Rows streaming when the session is killed: the client reads the rows
// already on their way, then ERR 1927 in the same result, numbered in its
// sequence (go-mysql checks every packet's sequence id; go-sql-driver lets
// an ERR's pass).
func TestKillMidResultSendsConnectionKilled(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c, id := rawSession(t, g)
	c.ResetSequence()
	if err := c.WritePacket(append([]byte{0, 0, 0, 0, gm.COM_QUERY}, bigResult...)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadPacket(); err != nil { // the column count
		t.Fatal(err)
	}
	if !g.store.Kill(id, "mid-result") {
		t.Fatal("session not live")
	}
	for n := 1; ; n++ {
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatalf("packet %d of the result: %v", n+1, err)
		}
		if n > bigResultRows {
			t.Fatal("the whole result arrived: the kill did not interrupt it")
		}
		if len(p) > 0 && p[0] == 0xff {
			if len(p) < 9 || p[1] != 1927&0xff || p[2] != 1927>>8 || string(p[3:9]) != "#70100" || !strings.Contains(string(p[9:]), "mid-result") {
				t.Fatalf("ERR packet %q, want 1927/70100 naming the reason", p)
			}
			t.Logf("ERR 1927 as packet %d of the result", n+1)
			break
		}
	}
	waitKilledRecord(t, g, id, "mid-result")
}

// A client that stops reading mid-result cannot keep a killed session's
// relay blocked on writing to it.
func TestKillEndsRelayBlockedOnClient(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := pinnedConn(t, g, "")
	id := liveSessionID(t, g)

	rows, err := c.QueryContext(context.Background(), bigResult)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no first row: %v", rows.Err())
	}
	// Let the buffers toward the client fill: the relay now waits on it.
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if !g.store.Kill(id, "client asleep") {
		t.Fatal("session not live")
	}
	waitKilledRecord(t, g, id, "client asleep")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the relay ended %v after the kill", d)
	}
}

// An idle session killed between commands closes without a packet: an
// unsolicited ERR would answer the client's next command.
func TestKillIdleSessionClosesQuietly(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c, id := rawSession(t, g)
	if !g.store.Kill(id, "idle too long") {
		t.Fatal("session not live")
	}
	got, err := io.ReadAll(c.Conn.Conn)
	if err != nil || len(got) != 0 {
		t.Fatalf("after an idle kill the client read %q, %v; want a bare close", got, err)
	}
	waitKilledRecord(t, g, id, "idle too long")
}

// upstreamRunning reports whether MariaDB is running a statement starting
// with prefix.
func upstreamRunning(t *testing.T, prefix string) bool {
	t.Helper()
	db, err := sql.Open("mysql", mdb.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE CONCAT(?, '%')", prefix).Scan(&n)
	return err == nil && n > 0
}

func TestKilledErrorNamesTheReason(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  string
	}{
		{&session.KilledError{Reason: "gateway token revoked"}, "Connection was killed: sluice: gateway token revoked"},
		{errCredentialExpired, "Connection was killed: sluice: the identity's credential expired and identity.max_session_after_expiry has passed"},
		{&session.KilledError{}, "Connection was killed: sluice: the gateway ended the session"},
		{&session.KilledError{Reason: "KILL CONNECTION 7 from connection 9"}, "Connection was killed: sluice: KILL CONNECTION 7 from connection 9"},
	} {
		ce := endedError(tc.cause)
		if ce.code != 1927 || ce.state != "70100" || ce.msg != tc.want || !ce.fatal {
			t.Errorf("endedError(%v) = %+v, want 1927/70100 %q", tc.cause, ce, tc.want)
		}
	}
	// A drain (Run's context ended) is a server shutdown, as MariaDB says it.
	ce := endedError(context.Canceled)
	if ce.code != 1053 || ce.state != "08S01" || !strings.Contains(ce.msg, "Server shutdown in progress") || !ce.fatal {
		t.Errorf("endedError(context.Canceled) = %+v, want 1053/08S01", ce)
	}
}

// KILL CONNECTION n from another connection of the same identity: the
// victim's statement in flight gets ERR 1927 naming the KILL, and its
// record says who ended it.
func TestKillConnectionTellsTheVictim(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	victim := pinnedConn(t, g, "")
	id := liveSessionID(t, g)
	gwID := onlyGatewayID(t, g)
	killer := pinnedConn(t, g, "")

	errc := make(chan error, 1)
	go func() { errc <- victim.QueryRowContext(context.Background(), "SELECT SLEEP(31)").Scan(new(int)) }()
	waitFor(t, "the SLEEP running upstream", func() bool { return upstreamRunning(t, "SELECT SLEEP(31)") })
	if _, err := killer.ExecContext(context.Background(), fmt.Sprintf("KILL CONNECTION %d", gwID)); err != nil {
		t.Fatalf("KILL CONNECTION %d: %v", gwID, err)
	}
	reason := fmt.Sprintf("KILL CONNECTION %d from connection", gwID)
	select {
	case err := <-errc:
		wantKilledErr(t, err, reason)
	case <-time.After(10 * time.Second):
		t.Fatal("victim still waiting 10s after KILL CONNECTION")
	}
	waitKilledRecord(t, g, id, reason)
	// The killer's session goes on.
	if err := killer.PingContext(context.Background()); err != nil {
		t.Fatalf("killer after KILL CONNECTION: %v", err)
	}
}

// A gateway drain while a statement runs: the client gets MariaDB's
// ER_SERVER_SHUTDOWN, not a dropped connection; the statement and the
// session are recorded as ended by the shutdown.
func TestDrainTellsCommandInFlight(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := pinnedConn(t, g, "")
	id := liveSessionID(t, g)
	errc := make(chan error, 1)
	go func() { errc <- c.QueryRowContext(context.Background(), "SELECT SLEEP(32)").Scan(new(int)) }()
	waitFor(t, "the SLEEP running upstream", func() bool { return upstreamRunning(t, "SELECT SLEEP(32)") })
	go g.drain()
	select {
	case err := <-errc:
		var me *gosql.MySQLError
		if !errors.As(err, &me) || me.Number != 1053 || string(me.SQLState[:]) != "08S01" ||
			!strings.Contains(me.Message, "the gateway is shutting down") {
			t.Fatalf("client got %v, want ERR 1053/08S01 naming the shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client still waiting 10s after the drain")
	}
	waitKilledRecord(t, g, id, "the gateway is shutting down")
	g.eventsWith(t, "the statement the drain cut off", func(e session.QueryEvent) bool {
		return e.Statement == "SELECT SLEEP(32)" && strings.Contains(e.Error, "not completed")
	})
}
