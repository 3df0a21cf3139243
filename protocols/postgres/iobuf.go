package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"
)

// flushThreshold bounds the output buffer: beyond it we write at once, so a
// large result streams instead of accumulating.
const flushThreshold = 64 << 10

// outbuf batches encoded messages to one peer: one write per response batch
// (flushed before the relay would block reading, or when it grows large).
// The mutex lets the client loop add a NoticeResponse while the server loop
// streams results; both add whole messages, so they interleave at message
// boundaries only.
type outbuf struct {
	mu    sync.Mutex
	buf   []byte
	w     io.Writer
	peer  string // "client" or "upstream", for writeError
	err   error
	bytes prometheus.Counter
}

// newOutbuf starts empty: an idle session should hold as little as
// possible; the buffer grows to what its responses need.
func newOutbuf(w io.Writer, peer string, bytes prometheus.Counter) *outbuf {
	return &outbuf{w: w, peer: peer, bytes: bytes}
}

// writeError is a failed write to one peer. It usually surfaces in the
// other direction's loop (a reader flushes the opposite output before it
// blocks), so it names the peer that is gone: a client that disconnects
// mid-result must not read as an upstream failure.
type writeError struct {
	peer string
	err  error
}

func (e *writeError) Error() string { return "writing to " + e.peer + ": " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// wrote reports whether err is a failed write to peer.
func wrote(err error, peer string) bool {
	var we *writeError
	return errors.As(err, &we) && we.peer == peer
}

type encoder interface {
	Encode(dst []byte) ([]byte, error)
}

// send encodes msg into the buffer, writing out if the buffer is large.
func (o *outbuf) send(msg encoder) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	b, err := msg.Encode(o.buf)
	if err != nil {
		return err // a message we cannot encode is a bug in a rewrite; the buffer is unchanged
	}
	o.buf = b
	if len(o.buf) >= flushThreshold {
		return o.flushLocked()
	}
	return nil
}

// flush writes whatever is buffered.
func (o *outbuf) flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.flushLocked()
}

func (o *outbuf) flushLocked() error {
	if o.err != nil {
		return o.err
	}
	if len(o.buf) == 0 {
		return nil
	}
	n, err := o.w.Write(o.buf)
	if o.bytes != nil {
		o.bytes.Add(float64(n))
	}
	if c := cap(o.buf); c > 16<<10 && c > 4*len(o.buf) {
		// A large result has ended: do not keep its buffer for an idle
		// session. While streaming, flushes are ~flushThreshold and it stays.
		o.buf = nil
	} else {
		o.buf = o.buf[:0]
	}
	if err != nil {
		o.err = &writeError{peer: o.peer, err: err}
	}
	return o.err
}

// flushingReader flushes the opposite direction's pending output before it
// blocks on a read: the relay writes once per burst of input, and never
// sits on output while waiting for more input.
type flushingReader struct {
	conn  net.Conn
	out   *outbuf
	bytes prometheus.Counter

	// read-ahead while the relay is not reading (waiting for a reviewer).
	pending []byte
	errHeld error
}

func (r *flushingReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	if r.errHeld != nil {
		return 0, r.errHeld
	}
	if err := r.out.flush(); err != nil {
		return 0, err
	}
	n, err := r.conn.Read(p)
	if r.bytes != nil && n > 0 {
		r.bytes.Add(float64(n))
	}
	return n, err
}

// maxReadAhead bounds what a waiting client may pipeline behind a held statement.
const maxReadAhead = 4 << 20

// watch reads ahead on the connection while the relay waits (for a
// reviewer) and closes gone if the peer disconnects. The returned stop
// function ends the read-ahead and must be called before the next Read.
func (r *flushingReader) watch() (gone <-chan struct{}, stop func()) {
	goneCh := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 16<<10)
		for len(r.pending) < maxReadAhead {
			n, err := r.conn.Read(buf)
			r.pending = append(r.pending, buf[:n]...)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					r.errHeld = err
					close(goneCh)
				}
				return
			}
		}
	}()
	return goneCh, func() {
		r.conn.SetReadDeadline(time.Now())
		<-done
		r.conn.SetReadDeadline(time.Time{})
	}
}

// waitWatching runs wait while watching the client for a disconnect; a
// disconnect cancels wait's context.
func waitWatching[T any](ctx context.Context, r *flushingReader, wait func(context.Context) T) T {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone, stop := r.watch()
	defer stop()
	go func() {
		select {
		case <-gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	return wait(ctx)
}

var _ encoder = (*pgproto3.Query)(nil)
