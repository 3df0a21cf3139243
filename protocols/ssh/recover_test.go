package ssh

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// A panic in one of a connection's goroutines is a bug; it must be logged
// and end that connection, not the gateway.
func TestRecoverBugLogsAndSurvives(t *testing.T) {
	var logged strings.Builder
	c := &clientConn{log: slog.New(slog.NewTextHandler(&logged, nil))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.recoverBug("request handler")
		panic("boom")
	}()
	<-done
	for _, want := range []string{"boom", "request handler", "stack"} {
		if !strings.Contains(logged.String(), want) {
			t.Fatalf("log lacks %q: %s", want, logged.String())
		}
	}
}

// panickyCast panics on output: a stand-in for a bug in the cast encoder.
type panickyCast struct{ resized int }

func (*panickyCast) Output([]byte) error           { panic("encoder bug") }
func (*panickyCast) Input([]byte) error            { return nil }
func (p *panickyCast) Resize(cols, rows int) error { p.resized++; return nil }
func (*panickyCast) Marker(string) error           { return nil }
func (*panickyCast) Close() error                  { return nil }

// A panic while recording is a recording failure (logged, and handled by
// the target's fail-open/closed setting), not a crash; the recorder keeps
// draining its queue so the relay never blocks on it.
func TestRecorderPanicIsRecordingFailure(t *testing.T) {
	var logged strings.Builder
	cfg := &config.Config{Recording: config.Recording{FailOpen: true}}
	c := &clientConn{e: &Engine{cfg: cfg}, target: &config.Target{Name: "web1"},
		log: slog.New(slog.NewTextHandler(&logged, nil))}
	w := &panickyCast{}
	r := newTerminalRecorder(c, w)
	for range recorderQueue * 2 { // more than the queue holds
		r.output([]byte("x"))
	}
	r.resize(100, 40)
	r.close()
	if w.resized != 1 {
		t.Fatalf("ops after the panic were not recorded: resized %d", w.resized)
	}
	for _, want := range []string{"encoder bug", "terminal recording failed", "stack"} {
		if !strings.Contains(logged.String(), want) {
			t.Fatalf("log lacks %q: %s", want, logged.String())
		}
	}
}
