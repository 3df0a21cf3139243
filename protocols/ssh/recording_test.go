package ssh

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/replay"
	"github.com/sluice-gw/sluice/session"
)

// closedSession waits for the one ended session of target and returns it.
func (g *testGateway) closedSession(t *testing.T, target string) session.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := g.deps.Store.List(context.Background(), session.Filter{Target: target})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 && recs[0].Status != session.StatusActive {
			return recs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no closed session for %s: %+v", target, recs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	lr, err := replay.OpenLines(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	var out [][]byte
	for {
		l, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), l...))
	}
}

// recordFiles splits a session's files into its casts and its events log.
func (g *testGateway) recordFiles(t *testing.T, rec session.Record) (casts []string, events []session.Event) {
	t.Helper()
	for _, f := range rec.Files {
		path := filepath.Join(g.deps.Store.Dir(), f)
		switch {
		case strings.Contains(filepath.Base(f), "cast"):
			casts = append(casts, path)
		case strings.HasPrefix(filepath.Base(f), "events"):
			for _, l := range readLines(t, path) {
				e, err := replay.DecodeEventLine(l)
				if err != nil {
					t.Fatal(err)
				}
				events = append(events, e)
			}
		}
	}
	return casts, events
}

func TestTerminalRecordedAsAsciicast(t *testing.T) {
	g := startGateway(t)
	args := append(g.sshArgs(g.aliceKey), "-tt", "-o", "SetEnv=TERM=xterm", "alice+web1@127.0.0.1", "echo recorded-$((6*7))")
	if r := run(t, nil, "ssh", args...); r.code != 0 || !strings.Contains(r.stdout, "recorded-42") {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	rec := g.closedSession(t, "web1")
	if rec.Identity != "alice" || rec.Protocol != "ssh" || rec.Status != session.StatusOK {
		t.Fatalf("index row: %+v", rec)
	}
	casts, events := g.recordFiles(t, rec)
	if len(casts) != 1 {
		t.Fatalf("want one cast, files %v", rec.Files)
	}
	lines := readLines(t, casts[0])
	h, err := replay.DecodeCastHeader(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	if h.Width <= 0 || !strings.Contains(h.Title, "alice on web1") || h.Command != "echo recorded-$((6*7))" {
		t.Fatalf("header %+v", h)
	}
	var out strings.Builder
	for _, l := range lines[1:] {
		e, err := replay.DecodeCastEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "i" {
			t.Fatalf("input recorded although record_input is off: %q", e.Data)
		}
		if e.Type == "o" {
			out.WriteString(e.Data)
		}
	}
	if !strings.Contains(out.String(), "recorded-42") {
		t.Fatalf("cast output %q", out.String())
	}
	if !hasEvent(events, "exec", "command", "echo recorded-$((6*7))") || !hasEvent(events, "exit-status", "status", float64(0)) {
		t.Fatalf("events %+v", events)
	}
}

func TestSftpTransferLogged(t *testing.T) {
	g := startGateway(t)
	sftpBatchOn(t, g)
	rec := g.closedSession(t, "web1")
	_, events := g.recordFiles(t, rec)
	var upload, download bool
	for _, e := range events {
		if e.Kind != "file_transfer" {
			continue
		}
		sum, _ := e.Fields["sha256"].(string)
		switch e.Fields["op"] {
		case "upload":
			upload = len(sum) == 64 && e.Fields["bytes"] == float64(1<<20+5)
		case "download":
			download = len(sum) == 64 && e.Fields["bytes"] == float64(1<<20+5)
		}
	}
	if !upload || !download {
		t.Fatalf("transfer log %+v", events)
	}
}

func hasEvent(events []session.Event, kind, field string, value any) bool {
	for _, e := range events {
		if e.Kind == kind && e.Fields[field] == value {
			return true
		}
	}
	return false
}

func TestUpstreamKilledMidSessionSealsRecording(t *testing.T) {
	g := startGateway(t)
	// The remote shell kills its own sshd session process: the upstream
	// connection dies under a live session.
	r := g.ssh(t, "alice+web1", "echo before-kill; sleep 0.2; kill -9 $PPID; sleep 5; echo after-kill")
	if r.code != 255 || !strings.Contains(r.stdout, "before-kill") || strings.Contains(r.stdout, "after-kill") ||
		!strings.Contains(r.stderr, `connection to target "web1" was lost`) {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	rec := g.closedSession(t, "web1")
	if rec.Status != session.StatusFailed {
		t.Fatalf("status %q, want %q", rec.Status, session.StatusFailed)
	}
	rep, err := g.deps.Store.Verify(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || !rep.Sealed {
		t.Fatalf("record not sealed intact: %+v", rep)
	}
	casts, _ := g.recordFiles(t, rec)
	if len(casts) != 1 {
		t.Fatalf("files %v", rec.Files)
	}
	var out strings.Builder
	for _, l := range readLines(t, casts[0])[1:] {
		if e, err := replay.DecodeCastEvent(l); err == nil && e.Type == "o" {
			out.WriteString(e.Data)
		}
	}
	if !strings.Contains(out.String(), "before-kill") {
		t.Fatalf("cast output %q", out.String())
	}
}

func TestAdminKillEndsSession(t *testing.T) {
	g := startGateway(t)
	done := make(chan runResult, 1)
	started := filepath.Join(g.remoteDir, "started")
	go func() { done <- g.ssh(t, "alice+web1", "mkdir "+started+"; sleep 30") }()
	var id string
	deadline := time.Now().Add(10 * time.Second)
	for id == "" {
		recs, err := g.deps.Store.List(context.Background(), session.Filter{Target: "web1", Status: session.StatusActive})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 {
			id = recs[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("session never became active")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			select {
			case r := <-done:
				t.Fatalf("the remote command never started: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
			default:
				t.Fatal("the remote command never started (client still running)")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !g.deps.Store.Kill(id, "security review") {
		t.Fatal("Kill reported the session was not live")
	}
	select {
	case r := <-done:
		if r.code == 0 || !strings.Contains(r.stderr, "security review") {
			t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("killed session kept running")
	}
	if rec := g.closedSession(t, "web1"); rec.Status != session.StatusKilled {
		t.Fatalf("status %q", rec.Status)
	}
}

func TestExportedCastPlaysInAsciinema(t *testing.T) {
	g := startGateway(t)
	testenvBinary(t, "asciinema")
	args := append(g.sshArgs(g.aliceKey), "-tt", "alice+web1@127.0.0.1", "echo cast-$((7*6))")
	if r := run(t, nil, "ssh", args...); r.code != 0 {
		t.Fatalf("ssh: %d %s", r.code, r.stderr)
	}
	rec := g.closedSession(t, "web1")
	castPath := filepath.Join(g.dir, "export.cast")
	f, err := os.Create(castPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := replay.ExportCast(f, g.deps.Store.Dir(), rec); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// The Debian asciinema reads /dev/tty: give it one with script(1).
	r := run(t, nil, "script", "-qec", "asciinema play -s 50 "+castPath, "/dev/null")
	if r.code != 0 || !strings.Contains(r.stdout, "cast-42") {
		t.Fatalf("asciinema play: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestGitTransferLoggedNotCast(t *testing.T) {
	g := startGateway(t)
	gitCloneOn(t, g)
	rec := g.closedSession(t, "web1")
	casts, events := g.recordFiles(t, rec)
	if len(casts) != 0 {
		t.Fatalf("a git transfer was recorded as a terminal: %v", rec.Files)
	}
	for _, e := range events {
		if e.Kind == "file_transfer" && e.Fields["op"] == "git-fetch" {
			if out, _ := e.Fields["bytes_out"].(float64); out > 0 && len(e.Fields["sha256_out"].(string)) == 64 {
				return
			}
		}
	}
	t.Fatalf("no git-fetch transfer logged: %+v", events)
}

func TestLegacyScpLoggedPerFile(t *testing.T) {
	g := startGateway(t)
	src := filepath.Join(g.dir, "legacy.bin")
	data := randomFile(t, src, 300<<10+3)
	_, port, _ := net.SplitHostPort(g.addr)
	args := append(portFlag(g.sshArgs(g.aliceKey), port, "-P"), "-O", src, "alice+web1@127.0.0.1:"+g.remoteDir+"/")
	if r := run(t, nil, "scp", args...); r.code != 0 {
		t.Fatalf("scp -O: %d %s", r.code, r.stderr)
	}
	rec := g.closedSession(t, "web1")
	_, events := g.recordFiles(t, rec)
	for _, e := range events {
		if e.Kind == "file_transfer" && e.Fields["protocol"] == "scp" && e.Fields["op"] == "upload" &&
			e.Fields["path"] == "legacy.bin" && e.Fields["sha256"] == sum(data) && e.Fields["bytes"] == float64(len(data)) {
			return
		}
	}
	t.Fatalf("no per-file scp log: %+v", events)
}

func TestSecretsMaskedInTerminalOutput(t *testing.T) {
	g := startGateway(t)
	const key = "AKIAIOSFODNN7EXAMPLE"
	// Split across two writes in one burst, and once more in a pty.
	script := "printf 'id=AKIAIOSF'; printf 'ODNN7EXAMPLE\\n'"
	r := g.ssh(t, "alice+web1", script)
	if r.code != 0 || strings.Contains(r.stdout, key) || !strings.HasPrefix(r.stdout, "id=") {
		t.Fatalf("exec: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	args := append(g.sshArgs(g.aliceKey), "-tt", "alice+web1@127.0.0.1", script)
	if r := run(t, nil, "ssh", args...); r.code != 0 || strings.Contains(r.stdout, key) {
		t.Fatalf("pty: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	// A command target's output is masked the same way.
	if r := g.ssh(t, "alice+printer", "'AKIAIOSF%s\\n'", "ODNN7EXAMPLE"); r.code != 0 || strings.Contains(r.stdout, key) || r.stdout == "" {
		t.Fatalf("command target: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := g.deps.Store.List(context.Background(), session.Filter{Target: "web1"})
		if err != nil {
			t.Fatal(err)
		}
		closed := 0
		for _, rec := range recs {
			if rec.Status != session.StatusActive {
				closed++
			}
		}
		if closed == 2 {
			for _, rec := range recs {
				casts, _ := g.recordFiles(t, rec)
				for _, c := range casts {
					for _, l := range readLines(t, c) {
						if strings.Contains(string(l), key) {
							t.Fatalf("the recording holds the secret: %s", l)
						}
					}
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions did not close: %+v", recs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
