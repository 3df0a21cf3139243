package replay

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/session"
)

// recordDBSession records a small database session with every kind of outcome.
func recordDBSession(t *testing.T) (*session.Store, session.Record) {
	t.Helper()
	st, err := session.OpenStore(filepath.Join(t.TempDir(), "data"), session.Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := st.Open(context.Background(), session.Info{Protocol: "postgres", Target: "appdb", Identity: "alice",
		Database: "app", ClientAddr: "127.0.0.1:5000"}, session.Recording{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	events := []session.QueryEvent{
		{Seq: 1, Time: at(100), Statement: "SELECT id, email FROM users LIMIT 3", Duration: 2 * time.Millisecond, Rows: 3, Tag: "SELECT 3",
			Decision: "allow", Columns: []string{"id", "email"}, Sample: [][]string{{"1", "a***@example.com"}, {"2", "b***@example.com"}}, Masked: []string{"users.email"}},
		{Seq: 2, Time: at(300), Statement: "DROP TABLE users", Decision: "block", Rule: "no-drops", Reason: "dropping tables is not allowed", SQLState: "42501"},
		{Seq: 3, Time: at(500), Statement: "DELETE FROM sessions", Duration: 200 * time.Millisecond, Tag: "DELETE 12", Rows: 12,
			Decision: "review-approved", Rule: "bulk-writes", Approval: "ap-7", Reviewer: "bob"},
		{Seq: 4, Time: at(900), Statement: "UPDATE users SET x = 1", Duration: 100 * time.Millisecond, Decision: "review-denied",
			Rule: "bulk-writes", Approval: "ap-8", Reviewer: "carol", Reason: "not today", SQLState: "42501", Error: "denied by carol"},
		{Seq: 5, Time: at(1100), Statement: "SELECT nope", Duration: time.Millisecond, Decision: "allow", SQLState: "42703", Error: `column "nope" does not exist`},
	}
	for _, e := range events {
		if err := s.LogQuery(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(session.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	return st, rec
}

// recordTerminalSession records a shell channel and an exec channel.
func recordTerminalSession(t *testing.T) (*session.Store, session.Record) {
	t.Helper()
	st, err := session.OpenStore(filepath.Join(t.TempDir(), "data"), session.Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := st.Open(context.Background(), session.Info{Protocol: "ssh", Target: "web1", Identity: "alice"}, session.Recording{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OpenCast(session.CastHeader{Width: 90, Height: 20, Env: map[string]string{"TERM": "xterm"}, Title: "alice@web1"})
	if err != nil {
		t.Fatal(err)
	}
	c.Output([]byte("deploy@web1:~$ "))
	time.Sleep(20 * time.Millisecond)
	c.Output([]byte("ls\r\nREADME.md  caf\xc3"))
	c.Output([]byte("\xa9.txt\r\n"))
	c.Marker("policy: allow ls")
	c.Resize(100, 30)
	c.Close()
	if err := s.Close(session.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	return st, rec
}

func exportLines(t *testing.T, st *session.Store, rec session.Record) (Header, []Event, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := ExportCast(&buf, st.Dir(), rec); err != nil {
		t.Fatalf("ExportCast: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	sc.Buffer(nil, MaxLine)
	if !sc.Scan() {
		t.Fatal("empty export")
	}
	h, err := DecodeCastHeader(sc.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	prev := 0.0
	for sc.Scan() {
		ev, err := DecodeCastEvent(sc.Bytes())
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if ev.Time < prev {
			t.Fatalf("time goes backwards at %q", sc.Text())
		}
		prev = ev.Time
		evs = append(evs, ev)
	}
	return h, evs, buf.Bytes()
}

func outputText(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Type == "o" {
			b.WriteString(e.Data)
		}
	}
	return b.String()
}

func TestExportDBTranscript(t *testing.T) {
	st, rec := recordDBSession(t)
	h, evs, _ := exportLines(t, st, rec)
	if h.Width != transcriptWidth || !strings.Contains(h.Title, "alice@appdb") {
		t.Fatalf("header %+v", h)
	}
	out := outputText(evs)
	for _, want := range []string{
		"alice@app=> ", "SELECT id, email FROM users LIMIT 3", "a***@example.com", "(3 rows, 2 shown)", "-- masked: users.email",
		"BLOCKED", "by rule no-drops: dropping tables is not allowed",
		"HELD for review", "(approval ap-7)", "APPROVED", "by bob", "DELETE 12",
		"DENIED", "by carol: not today",
		`ERROR:  column "nope" does not exist`, "(SQLSTATE 42703)", "-- session closed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	// Real timing: the approved DELETE's result comes ~200ms after it was held.
	var held, approved float64
	for _, e := range evs {
		if strings.Contains(e.Data, "(approval ap-7)") {
			held = e.Time
		}
		if strings.Contains(e.Data, "APPROVED") {
			approved = e.Time
		}
	}
	if d := approved - held; d < 0.19 || d > 0.21 {
		t.Fatalf("approval shown %.3fs after hold, want 0.2s", d)
	}
}

func TestExportTerminalCast(t *testing.T) {
	st, rec := recordTerminalSession(t)
	h, evs, _ := exportLines(t, st, rec)
	if h.Width != 90 || h.Height != 20 || h.Env["TERM"] != "xterm" {
		t.Fatalf("header %+v", h)
	}
	if out := outputText(evs); out != "deploy@web1:~$ ls\r\nREADME.md  café.txt\r\n" {
		t.Fatalf("output %q", out)
	}
	if evs[1].Time < 0.015 {
		t.Fatalf("second output at %.3fs, want the recorded ~20ms delay", evs[1].Time)
	}
}

// asciinemaPlay runs the Debian asciinema player on a cast in a pseudo
// terminal (it reads /dev/tty) and returns what it printed.
func asciinemaPlay(t *testing.T, cast []byte) string {
	t.Helper()
	if _, err := exec.LookPath("asciinema"); err != nil {
		t.Fatal("asciinema is not installed: run `apt-get install -y asciinema` (the Makefile's test target does)")
	}
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatal("script (util-linux) is not installed: it gives asciinema a terminal")
	}
	p := filepath.Join(t.TempDir(), "x.cast")
	if err := os.WriteFile(p, cast, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qec", "asciinema play -s 50 "+p, "/dev/null")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("asciinema play: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("Traceback")) || bytes.Contains(out, []byte("asciinema: error")) {
		t.Fatalf("asciinema play failed:\n%s", out)
	}
	return string(out)
}

func TestAsciinemaPlaysExportedDBTranscript(t *testing.T) {
	st, rec := recordDBSession(t)
	_, _, cast := exportLines(t, st, rec)
	out := asciinemaPlay(t, cast)
	for _, want := range []string{"SELECT id, email FROM users LIMIT 3", "BLOCKED", "APPROVED", "SQLSTATE 42703"} {
		if !strings.Contains(out, want) {
			t.Errorf("asciinema output lacks %q:\n%s", want, out)
		}
	}
}

func TestAsciinemaPlaysTerminalCast(t *testing.T) {
	st, rec := recordTerminalSession(t)
	_, _, cast := exportLines(t, st, rec)
	if out := asciinemaPlay(t, cast); !strings.Contains(out, "café.txt") {
		t.Fatalf("asciinema output lacks the recorded terminal output:\n%s", out)
	}
}
