package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreOpenLogCloseList(t *testing.T) {
	st := openTestStore(t, time.Hour) // only Close flushes here
	ctx := context.Background()
	a := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice", Groups: []string{"dev"},
		ClientAddr: "127.0.0.1:5000", Tags: map[string]string{"application_name": "psql"}}, Recording{})
	b := openTestSession(t, st, Info{Protocol: "mysql", Target: "shop", Identity: "bob", ClientAddr: "127.0.0.1:5001"}, Recording{OmitParams: true})
	time.Sleep(2 * time.Millisecond)
	c := openTestSession(t, st, Info{Protocol: "ssh", Target: "web1", Identity: "alice", ClientAddr: "127.0.0.1:5002"}, Recording{})

	if !strings.HasPrefix(a.ID(), time.Now().UTC().Format("20060102-")) || a.ID() == b.ID() {
		t.Fatalf("ids %q %q: want time-prefixed and unique", a.ID(), b.ID())
	}
	now := time.Now().UTC()
	for i := range 3 {
		if err := a.LogQuery(QueryEvent{Seq: int64(i + 1), Time: now, Statement: "select $1", Params: []string{"42"}, Rows: 1, Tag: "SELECT 1", Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.LogQuery(QueryEvent{Seq: 1, Time: now, Statement: "select ?", Params: []string{"secret"}, Decision: "allow"}); err != nil {
		t.Fatal(err)
	}
	if err := c.LogQuery(QueryEvent{Statement: "x"}); err == nil {
		t.Fatal("LogQuery on an ssh session: want error")
	}
	a.SetTag("team", "payments")

	if r, err := st.Get(ctx, a.ID()); err != nil || r.Status != StatusActive {
		t.Fatalf("Get active: %+v %v", r, err)
	}
	if err := a.Close(StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(StatusFailed, errors.New("second")); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Close(StatusFailed, errors.New("upstream gone")); err != nil {
		t.Fatal(err)
	}

	ra, err := st.Get(ctx, a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if ra.Status != StatusOK || ra.Queries != 3 || ra.End.IsZero() || ra.Tags["team"] != "payments" || ra.Tags["application_name"] != "psql" || len(ra.Groups) != 1 {
		t.Fatalf("closed record: %+v", ra)
	}
	rb, _ := st.Get(ctx, b.ID())
	if rb.Status != StatusFailed || rb.Error != "upstream gone" {
		t.Fatalf("failed record: %+v", rb)
	}
	if _, err := st.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get unknown: %v", err)
	}

	qa := decodeQueries(t, readLines(t, sessionFile(st, a, QueryLogFile)))
	if len(qa) != 3 || qa[2].Seq != 3 || qa[0].Params[0] != "42" || qa[0].Tag != "SELECT 1" {
		t.Fatalf("query log a: %+v", qa)
	}
	qb := decodeQueries(t, readLines(t, sessionFile(st, b, QueryLogFile)))
	if len(qb) != 1 || qb[0].Params != nil {
		t.Fatalf("omit params: %+v", qb)
	}

	check := func(f Filter, want ...*Session) {
		t.Helper()
		got, err := st.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var ids, wantIDs []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		for _, s := range want {
			wantIDs = append(wantIDs, s.ID())
		}
		if strings.Join(ids, ",") != strings.Join(wantIDs, ",") {
			t.Fatalf("List(%+v) = %v, want %v", f, ids, wantIDs)
		}
	}
	check(Filter{}, c, b, a) // newest first
	check(Filter{Target: "appdb"}, a)
	check(Filter{Identity: "alice"}, c, a)
	check(Filter{Protocol: "mysql"}, b)
	check(Filter{Status: StatusActive}, c)
	check(Filter{Identity: "alice", Limit: 1}, c)
	check(Filter{Since: time.Now().Add(time.Hour)})
	check(Filter{Since: time.Now().Add(-time.Hour), Target: "shop"}, b)
}

func TestCrashKeepsFlushedLines(t *testing.T) {
	st := openTestStore(t, 20*time.Millisecond)
	s := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	for i := range 50 {
		if err := s.LogQuery(QueryEvent{Seq: int64(i + 1), Time: time.Now(), Statement: "select 1", Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LogEvent("port_forward", map[string]any{"to": "10.0.0.1:5432"}); err != nil {
		t.Fatal(err)
	}
	// No Close: the gateway "crashes". The flusher must have written within a few intervals.
	deadline := time.Now().Add(5 * time.Second)
	var got []QueryEvent
	var ev [][]byte
	for time.Now().Before(deadline) {
		// The flusher writes one stream after the other: wait for both.
		got = decodeQueries(t, readLines(t, sessionFile(st, s, QueryLogFile)))
		ev = readLines(t, sessionFile(st, s, EventLogFile))
		if len(got) == 50 && len(ev) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 50 || got[49].Seq != 50 {
		t.Fatalf("after flush interval, read %d queries, want 50", len(got))
	}
	if len(ev) != 1 || !strings.Contains(string(ev[0]), `"kind":"port_forward"`) {
		t.Fatalf("events: %q", ev)
	}
	// A frame cut short by the crash leaves the earlier frames readable.
	f, err := os.OpenFile(sessionFile(st, s, QueryLogFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	frame := st.enc.EncodeAll([]byte(`{"seq":51,"statement":"lost"}`+"\n"), nil)
	f.Write(frame[:len(frame)/2])
	f.Close()
	if got := decodeQueries(t, readLines(t, sessionFile(st, s, QueryLogFile))); len(got) != 50 {
		t.Fatalf("with a truncated last frame read %d queries, want 50", len(got))
	}
	// A restarted gateway marks the orphaned row as failed, not active forever.
	dir := st.Dir()
	s.Close(StatusOK, nil) // release files; then pretend the row was left active
	if _, err := st.idx.w.Exec(`UPDATE sessions SET status='active' WHERE id=?`, s.ID()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st2, err := OpenStore(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	r, err := st2.Get(context.Background(), s.ID())
	if err != nil || r.Status != StatusFailed || r.Error != abandonedError {
		t.Fatalf("orphaned row after restart: %+v %v", r, err)
	}
}

func TestOpenFailsClosedWhenDirUnwritable(t *testing.T) {
	st := openTestStore(t, time.Hour)
	// A file where the sessions directory must go: nothing can be created.
	if err := os.WriteFile(filepath.Join(st.Dir(), "sessions"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	info := Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}
	if s, err := st.Open(context.Background(), info, Recording{}); err == nil {
		t.Fatalf("Open on an unwritable data dir succeeded (%s); want fail closed", s.ID())
	}
	s, err := st.Open(context.Background(), info, Recording{FailOpen: true})
	if err != nil {
		t.Fatalf("fail-open Open: %v", err)
	}
	if err := s.LogQuery(QueryEvent{Statement: "select 1"}); err != nil {
		t.Fatalf("fail-open LogQuery: %v", err)
	}
	if err := s.Close(StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(filepath.Join(st.Dir(), "sessions", "sub"), Options{}); err == nil {
		t.Fatal("OpenStore under a file: want error")
	}
}

// useFullDevice makes every new record file named name a handle on
// /dev/full, whose writes fail with ENOSPC like a full disk.
func useFullDevice(t *testing.T, st *Store, name string) {
	t.Helper()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this test needs /dev/full: %v", err)
	}
	st.create = func(path string) (recordFile, error) {
		if filepath.Base(path) == name {
			return os.OpenFile("/dev/full", os.O_WRONLY, 0)
		}
		return createFile(path)
	}
}

func TestLogQueryFailsClosedOnFullDisk(t *testing.T) {
	st := openTestStore(t, 10*time.Millisecond)
	useFullDevice(t, st, QueryLogFile)
	s := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	if err := s.LogQuery(QueryEvent{Statement: "select 1", Decision: "allow"}); err != nil {
		t.Fatalf("first LogQuery is buffered: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		err = s.LogQuery(QueryEvent{Statement: "select 2", Decision: "allow"})
	}
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("LogQuery after a failed flush: %v, want ENOSPC", err)
	}
	if cerr := s.Close(StatusFailed, err); cerr == nil {
		t.Fatal("Close of a failed record: want the write error")
	}
	rep, verr := st.Verify(context.Background(), s.ID())
	if verr != nil || rep.Sealed {
		t.Fatalf("a failed record must not be sealed: %+v %v", rep, verr)
	}

	// Fail open: the same failure is logged, not returned.
	s2 := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{FailOpen: true})
	s2.LogQuery(QueryEvent{Statement: "select 1"})
	s2.flush()
	if err := s2.LogQuery(QueryEvent{Statement: "select 2"}); err != nil {
		t.Fatalf("fail-open LogQuery: %v", err)
	}
	s2.Close(StatusOK, nil)
}

func TestKillCancelsWithCause(t *testing.T) {
	st := openTestStore(t, time.Hour)
	s := openTestSession(t, st, Info{Protocol: "ssh", Target: "web1", Identity: "alice"}, Recording{})
	if st.Kill("unknown", "x") {
		t.Fatal("Kill of an unknown id reported live")
	}
	if !st.Kill(s.ID(), "access revoked") {
		t.Fatal("Kill of a live session reported not live")
	}
	<-s.Context().Done()
	var ke *KilledError
	if cause := context.Cause(s.Context()); !errors.As(cause, &ke) || ke.Reason != "access revoked" {
		t.Fatalf("cause %v", cause)
	}
	s.Close(StatusKilled, context.Cause(s.Context()))
	if st.Kill(s.ID(), "again") {
		t.Fatal("Kill after Close reported live")
	}
	r, _ := st.Get(context.Background(), s.ID())
	if r.Status != StatusKilled || !strings.Contains(r.Error, "access revoked") {
		t.Fatalf("killed record: %+v", r)
	}
}

func TestStoreCloseEndsLiveSessions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := OpenStore(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	s.LogQuery(QueryEvent{Seq: 1, Statement: "select 1", Decision: "allow"})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if context.Cause(s.Context()) == nil {
		t.Fatal("session context not cancelled by Store.Close")
	}
	if err := s.LogQuery(QueryEvent{Statement: "late"}); err == nil {
		t.Fatal("LogQuery after Store.Close: want error")
	}
	ro, err := OpenStore(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	r, err := ro.Get(context.Background(), s.ID())
	if err != nil || r.Status != StatusKilled || !strings.Contains(r.Error, "gateway shutting down") || r.Queries != 1 {
		t.Fatalf("after Store.Close: %+v %v", r, err)
	}
	if _, err := ro.Open(context.Background(), Info{}, Recording{}); err == nil {
		t.Fatal("Open on a read-only store: want error")
	}
	if _, err := OpenStore(filepath.Join(dir, "missing"), Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only OpenStore of a missing dir: want error")
	}
}

func TestWritesAfterCloseFail(t *testing.T) {
	st := openTestStore(t, time.Hour)
	s := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	c, err := s.OpenCast(CastHeader{Width: 80, Height: 24})
	if err != nil {
		t.Fatal(err)
	}
	s.Close(StatusOK, nil)
	if err := s.LogQuery(QueryEvent{}); err == nil {
		t.Error("LogQuery after Close")
	}
	if err := s.LogEvent("x", nil); err == nil {
		t.Error("LogEvent after Close")
	}
	if err := c.Output([]byte("x")); err == nil {
		t.Error("Cast.Output after session Close")
	}
	if _, err := s.OpenCast(CastHeader{}); err == nil {
		t.Error("OpenCast after Close")
	}
}
