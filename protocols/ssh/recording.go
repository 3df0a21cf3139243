package ssh

import (
	"fmt"
	"runtime/debug"
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

// recorderQueue bounds the chunks waiting to be recorded. Recording runs on
// its own goroutine so that encoding the cast overlaps relaying (two cores
// instead of one); a full queue blocks the relay, so nothing is dropped.
const recorderQueue = 64

// recordOp is one queued recording call.
type recordOp struct {
	kind       byte // o, i, r, m
	data       []byte
	cols, rows int
	label      string
}

// terminalRecorder records one channel. A recording failure ends the
// session unless the target is fail-open: an unrecorded session must not
// go on silently. Events are timestamped when the recording goroutine
// takes them, at most recorderQueue chunks after they were relayed.
type terminalRecorder struct {
	c    *clientConn
	w    castWriter
	once sync.Once

	mu     sync.RWMutex // send holds it shared, close exclusively
	closed bool
	ops    chan recordOp
	done   chan struct{} // closed when the recording goroutine has exited
	bufs   sync.Pool
}

func newTerminalRecorder(c *clientConn, w castWriter) *terminalRecorder {
	r := &terminalRecorder{c: c, w: w, ops: make(chan recordOp, recorderQueue), done: make(chan struct{})}
	go r.loop()
	return r
}

// loop is the recording goroutine; it exits when close closes ops.
func (r *terminalRecorder) loop() {
	defer close(r.done)
	for op := range r.ops {
		r.check(r.apply(op))
		if op.data != nil {
			b := op.data[:0]
			r.bufs.Put(&b)
		}
	}
}

// apply records one op. A panic in the cast writer (a bug in sluice) is a
// recording failure like any other, never a crash of the gateway; the loop
// goes on draining so that the relay does not block on a dead recorder.
func (r *terminalRecorder) apply(op recordOp) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.c.log.Error("terminal recorder panicked: a bug in sluice",
				"panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("recorder panicked: %v", p)
		}
	}()
	switch op.kind {
	case 'o':
		return r.w.Output(op.data)
	case 'i':
		return r.w.Input(op.data)
	case 'r':
		return r.w.Resize(op.cols, op.rows)
	case 'm':
		return r.w.Marker(op.label)
	}
	return nil
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

func (r *terminalRecorder) send(op recordOp) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.closed {
		r.ops <- op
	}
}

// copyOf copies p into a pooled buffer: the caller reuses p at once.
func (r *terminalRecorder) copyOf(p []byte) []byte {
	if b, ok := r.bufs.Get().(*[]byte); ok {
		return append(*b, p...)
	}
	return append(make([]byte, 0, max(len(p), 32<<10)), p...)
}

func (r *terminalRecorder) output(p []byte)     { r.send(recordOp{kind: 'o', data: r.copyOf(p)}) }
func (r *terminalRecorder) inputEvent(p []byte) { r.send(recordOp{kind: 'i', data: r.copyOf(p)}) }
func (r *terminalRecorder) resize(cols, rows int) {
	r.send(recordOp{kind: 'r', cols: cols, rows: rows})
}
func (r *terminalRecorder) marker(label string) { r.send(recordOp{kind: 'm', label: label}) }

// close records what is queued, then closes the cast. Later calls are no-ops.
func (r *terminalRecorder) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.ops)
	r.mu.Unlock()
	<-r.done
	r.check(r.w.Close())
}

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
	ch.rec.Store(newTerminalRecorder(ch.c, w))
	ch.input.Store(ch.pty != nil && ch.c.e.cfg.RecordingFor(ch.c.target).RecordInput)
}
