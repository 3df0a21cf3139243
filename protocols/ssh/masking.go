package ssh

import (
	"io"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/policy"
)

// maskQuiet is how long output must pause before the masker releases what
// it holds back (a possible start of a secret): interactive echo is delayed
// by at most this, and only on targets whose policy has detectors.
const maskQuiet = 20 * time.Millisecond

// outputMasker applies the policy's content detectors to one output stream
// of a channel before the client and the recording see it. Secrets split
// across reads are caught; a secret split across a pause longer than
// maskQuiet is not (the held part is released by then).
type outputMasker struct {
	mu     sync.Mutex
	m      *policy.StreamMasker
	dst    io.Writer
	tap    func([]byte) // recording and screen model, fed the masked bytes
	timer  *time.Timer  // releases held bytes after maskQuiet; stopped by close
	closed bool
	err    error // the first write error; later writes fail fast
}

func newOutputMasker(m *policy.StreamMasker, dst io.Writer, tap func([]byte)) *outputMasker {
	return &outputMasker{m: m, dst: dst, tap: tap}
}

// Write masks p and passes on what is safe to show now.
func (o *outputMasker) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	o.emit(o.m.Mask(p))
	if o.timer == nil {
		o.timer = time.AfterFunc(maskQuiet, o.release)
	} else {
		o.timer.Reset(maskQuiet)
	}
	return len(p), o.err
}

func (o *outputMasker) emit(out []byte) {
	if len(out) == 0 || o.err != nil {
		return
	}
	o.tap(out)
	if _, err := o.dst.Write(out); err != nil {
		o.err = err
	}
}

// release runs on the timer: the stream went quiet.
func (o *outputMasker) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.emit(o.m.Flush())
	}
}

// close flushes what is held (the stream ended) and stops the timer.
func (o *outputMasker) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	if o.timer != nil {
		o.timer.Stop()
	}
	o.emit(o.m.Flush())
}
