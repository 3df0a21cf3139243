package replay

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/session"
)

func TestFollowLiveSession(t *testing.T) {
	st, err := session.OpenStore(filepath.Join(t.TempDir(), "data"), session.Options{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Open(context.Background(), session.Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, session.Recording{})
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	done := make(chan error, 1)
	get := func(ctx context.Context) (session.Record, error) { return st.Get(ctx, s.ID()) }
	go func() { done <- Follow(context.Background(), st.Dir(), s.ID(), get, out, 10*time.Millisecond) }()

	s.LogQuery(session.QueryEvent{Seq: 1, Time: time.Now(), Statement: "SELECT 42", Tag: "SELECT 1", Decision: "allow"})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "SELECT 42") {
		if time.Now().After(deadline) {
			t.Fatalf("live query not shown: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.LogQuery(session.QueryEvent{Seq: 2, Time: time.Now(), Statement: "DROP TABLE t", Decision: "block", Rule: "no-drops"})
	s.Close(session.StatusOK, nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after the session ended")
	}
	if o := out.String(); !strings.Contains(o, "BLOCKED") || !strings.Contains(o, "session "+s.ID()+" closed") {
		t.Fatalf("output %q", o)
	}
}

func TestFollowTerminalSession(t *testing.T) {
	st, err := session.OpenStore(filepath.Join(t.TempDir(), "data"), session.Options{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, _ := st.Open(context.Background(), session.Info{Protocol: "ssh", Target: "web1", Identity: "alice"}, session.Recording{})
	c, _ := s.OpenCast(session.CastHeader{})
	c.Output([]byte("$ uptime\r\n up 3 days\r\n"))
	c.Close()
	s.Close(session.StatusOK, nil)
	out := &lockedBuffer{}
	get := func(ctx context.Context) (session.Record, error) { return st.Get(ctx, s.ID()) }
	if err := Follow(context.Background(), st.Dir(), s.ID(), get, out, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), " up 3 days") || strings.Contains(out.String(), `"version"`) {
		t.Fatalf("output %q", out.String())
	}
}
