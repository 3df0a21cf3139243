package postgres_test

import (
	"context"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/session"
)

const (
	millionRows   = 1_000_000
	millionQuery  = "SELECT g, repeat('x', 100) FROM generate_series(1, 1000000) g"
	heapBoundMiB  = 64
	streamTimeout = 3 * time.Minute
)

// heapSampler records the peak HeapInuse of this process (gateway and client
// both run here) until stopped.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	s := &heapSampler{stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapInuse)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak in MiB.
func (s *heapSampler) Stop() float64 {
	close(s.stop)
	s.wg.Wait()
	return float64(s.peak) / (1 << 20)
}

func TestMillionRowsFlatMemory(t *testing.T) {
	g := startGateway(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
	defer cancel()
	for _, mode := range []string{"simple_protocol", "cache_statement"} {
		t.Run(mode, func(t *testing.T) {
			c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode="+mode))
			hs := startHeapSampler()
			rows, err := c.Query(ctx, millionQuery)
			if err != nil {
				t.Fatal(err)
			}
			var n, sum int64
			for rows.Next() {
				raw := rows.RawValues()
				if len(raw) != 2 || len(raw[1]) != 100 {
					t.Fatalf("row %d: %d values", n, len(raw))
				}
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			sum = rows.CommandTag().RowsAffected()
			peak := hs.Stop()
			t.Logf("%s: %d rows, peak HeapInuse %.1f MiB", mode, n, peak)
			if n != millionRows || sum != millionRows {
				t.Fatalf("rows %d tag %d, want %d", n, sum, millionRows)
			}
			if peak > heapBoundMiB {
				t.Fatalf("peak HeapInuse %.1f MiB > %d MiB: the result is being held", peak, heapBoundMiB)
			}
		})
	}

	t.Run("copy_to_stdout", func(t *testing.T) {
		c := connect(t, g.dsn("alice", aliceToken, ""))
		hs := startHeapSampler()
		cw := &countingWriter{}
		tag, err := c.PgConn().CopyTo(ctx, cw, "COPY ("+millionQuery+") TO STDOUT")
		peak := hs.Stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("copy: %d lines, %d bytes, peak HeapInuse %.1f MiB", cw.lines, cw.n, peak)
		if tag.RowsAffected() != millionRows || cw.lines != millionRows {
			t.Fatalf("copy: tag %v, %d lines", tag, cw.lines)
		}
		if peak > heapBoundMiB {
			t.Fatalf("peak HeapInuse %.1f MiB > %d MiB during COPY", peak, heapBoundMiB)
		}
	})
}

type countingWriter struct{ n, lines int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	for _, b := range p {
		if b == '\n' {
			w.lines++
		}
	}
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// superConn is a direct superuser connection to the test Postgres (not
// through the gateway), to watch and kill backends.
func superConn(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pg.SuperDSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// backendsRunning counts upstream backends whose current query contains marker.
func backendsRunning(t testing.TB, su *pgx.Conn, marker string) int {
	t.Helper()
	var n int
	err := su.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND position($1 in query) > 0", marker).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sessionStatuses lists the statuses of g's sessions.
func sessionStatuses(t testing.TB, g *gw) []session.Record {
	t.Helper()
	recs, err := g.Deps().Store.List(context.Background(), session.Filter{Target: "appdb"})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestClientDisconnectMidResult(t *testing.T) {
	g := startGateway(t, "")
	su := superConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pc, err := pgconn.Connect(ctx, g.dsn("alice", aliceToken, ""))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "/* disconnect-mid-result */"
	mrr := pc.Exec(ctx, millionQuery+" "+marker)
	if !mrr.NextResult() {
		t.Fatalf("no result: %v", mrr.Close())
	}
	rr := mrr.ResultReader()
	for i := 0; i < 1000; i++ {
		if !rr.NextRow() {
			t.Fatalf("result ended after %d rows: %v", i, mrr.Close())
		}
	}
	if n := backendsRunning(t, su, marker); n != 1 {
		t.Fatalf("%d upstream backends running the query, want 1", n)
	}
	// Leave without Terminate, mid-stream.
	pc.Conn().Close()

	waitFor(t, 10*time.Second, "the upstream backend to go", func() bool { return backendsRunning(t, su, marker) == 0 })
	waitFor(t, 10*time.Second, "the session to end", func() bool {
		recs := sessionStatuses(t, g)
		return len(recs) == 1 && recs[0].Status != session.StatusActive
	})
	// The client left: whichever loop noticed first, that is not an
	// upstream failure.
	if rec := sessionStatuses(t, g)[0]; rec.Status != session.StatusOK || strings.Contains(rec.Error, "upstream") {
		t.Fatalf("session %s ended %s (%s), want %s: the client left", rec.ID, rec.Status, rec.Error, session.StatusOK)
	}

	// The statement cut off mid-result is in the query log all the same,
	// with the rows that reached the gateway and why it did not complete.
	cut := loggedStatement(t, g, marker)
	if cut.SQLState != "08006" || !strings.Contains(cut.Error, "not completed: the client disconnected") || cut.Rows < 1000 || cut.Tag != "" {
		t.Fatalf("cut-off statement logged as %+v", *cut)
	}
}

func TestUpstreamKilledMidSession(t *testing.T) {
	g := startGateway(t, "")
	su := superConn(t)
	ctx := context.Background()
	c, pid := connectWithPID(t, g)
	if pid == c.PgConn().PID() {
		t.Fatalf("the client sees the upstream pid %d as its key: the upstream key leaked", pid)
	}
	var ok bool
	if err := su.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate %d: %v %v", pid, ok, err)
	}
	_, err := c.Exec(ctx, "SELECT 1")
	if err == nil {
		t.Fatal("query on a killed upstream succeeded")
	}
	if pe, ok := pgErrCode(err); ok && pe.Severity != "FATAL" {
		t.Fatalf("want a FATAL error, got %v", pe)
	}
	t.Logf("client saw: %v", err)
	defer func() {
		if t.Failed() {
			t.Logf("sessions: %+v", sessionStatuses(t, g))
		}
	}()
	waitFor(t, 10*time.Second, "the session to be recorded as failed", func() bool {
		recs := sessionStatuses(t, g)
		return len(recs) == 1 && recs[0].Status == session.StatusFailed
	})
}

// TestUpstreamLostMidStatement: the upstream backend dies while a statement
// runs; the statement's query-log line says it did not complete, and why.
func TestUpstreamLostMidStatement(t *testing.T) {
	g := startGateway(t, "")
	su := superConn(t)
	ctx := context.Background()
	c, pid := connectWithPID(t, g)
	const marker = "/* upstream-lost-mid-statement */"
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, "SELECT pg_sleep(30) "+marker)
		errc <- err
	}()
	waitFor(t, 10*time.Second, "the statement to run upstream", func() bool { return backendsRunning(t, su, marker) == 1 })
	// The backend sends FATAL 57P01 and exits: no ReadyForQuery ever
	// completes the statement.
	if _, err := su.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the statement succeeded on a terminated backend")
	}
	cut := loggedStatement(t, g, marker)
	if cut.SQLState == "" || cut.Error == "" {
		t.Fatalf("cut-off statement logged without an error: %+v", *cut)
	}
	t.Logf("logged as %s: %s", cut.SQLState, cut.Error)
}

// loggedStatement returns the query-log event whose statement contains marker.
func loggedStatement(t *testing.T, g *gw, marker string) *session.QueryEvent {
	t.Helper()
	for _, ev := range queryLog(t, g) {
		if strings.Contains(ev.Statement, marker) {
			return &ev
		}
	}
	t.Fatalf("no query-log line for the statement marked %s", marker)
	return nil
}

// connectWithPID connects alice through g and returns the upstream
// backend's pid, as the session itself reports it.
func connectWithPID(t *testing.T, g *gw) (*pgx.Conn, uint32) {
	t.Helper()
	c := connect(t, g.dsn("alice", aliceToken, ""))
	var pid uint32
	if err := c.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return c, pid
}
