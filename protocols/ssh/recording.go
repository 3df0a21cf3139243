package ssh

import (
	"fmt"
	"sync"
)

// castWriter is the subset of the session's asciicast writer this package
// uses (one per terminal or exec channel).
type castWriter interface {
	Output(p []byte) error
	Input(p []byte) error
	Resize(cols, rows int) error
	Marker(label string) error
	Close() error
}

// terminalRecorder records one channel. A recording failure ends the
// session unless the target is fail-open: an unrecorded session must not
// go on silently.
type terminalRecorder struct {
	c    *clientConn
	w    castWriter
	once sync.Once
}

func (r *terminalRecorder) check(err error) {
	if err == nil {
		return
	}
	r.once.Do(func() {
		r.c.log.Error("terminal recording failed", "err", err)
		if !r.c.e.cfg.RecordingFor(r.c.target).FailOpen {
			r.c.sconn.Close()
		}
	})
}

func (r *terminalRecorder) output(p []byte)       { r.check(r.w.Output(p)) }
func (r *terminalRecorder) inputEvent(p []byte)   { r.check(r.w.Input(p)) }
func (r *terminalRecorder) resize(cols, rows int) { r.check(r.w.Resize(cols, rows)) }
func (r *terminalRecorder) marker(label string)   { r.check(r.w.Marker(label)) }
func (r *terminalRecorder) close()                { r.check(r.w.Close()) }
func castTitle(identity, target, command string) string {
	if command == "" {
		return fmt.Sprintf("%s on %s", identity, target)
	}
	return fmt.Sprintf("%s on %s: %s", identity, target, command)
}

// startRecording opens the channel's cast: a terminal cast when a pty was
// requested, else the exec's output stream.
func (ch *sessionChannel) startRecording(command string) {
	cols, rows, term := 80, 24, ""
	if ch.pty != nil {
		cols, rows, term = int(ch.pty.Columns), int(ch.pty.Rows), ch.pty.Term
	}
	w, err := ch.c.openCast(cols, rows, term, castTitle(ch.c.id.Name, ch.c.target.Name, command), command)
	if err != nil {
		ch.c.log.Error("opening terminal recording", "err", err)
		if !ch.c.e.cfg.RecordingFor(ch.c.target).FailOpen {
			ch.c.sconn.Close()
		}
		return
	}
	ch.rec.Store(&terminalRecorder{c: ch.c, w: w})
	ch.input.Store(ch.pty != nil && ch.c.e.cfg.RecordingFor(ch.c.target).RecordInput)
}
