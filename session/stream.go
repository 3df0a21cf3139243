package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// kickSize is the buffered size at which a writer wakes the flusher early, so
// a burst cannot grow a session's buffer without bound between ticks.
const kickSize = 1 << 20

// errClosed is returned for a write to a record that is already closed.
var errClosed = errors.New("session record is closed")

// recordFile is the subset of *os.File a stream writes to; tests substitute
// a real failing device (/dev/full) through Store.create.
type recordFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

// stream is one compressed JSON-lines recording file. Writers append whole
// lines to buf under mu (no syscall, no compression); the owning session's
// flush swaps the buffer out and writes it as one zstd frame.
type stream struct {
	name string // file name inside the session directory
	f    recordFile

	mu     sync.Mutex
	buf    []byte
	closed bool  // no more appends
	err    error // sticky first write failure

	// Owned by the session's flushMu.
	spare []byte
	size  int64
	done  bool // file closed after its last flush
}

// appendEncoded encodes one line straight into the buffer (no intermediate
// copy: terminal output is the bulk of what is recorded).
func (w *stream) appendEncoded(enc func(dst []byte) []byte) (kick bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false, errClosed
	}
	if w.err != nil {
		return false, w.err
	}
	w.buf = append(enc(w.buf), '\n')
	return len(w.buf) >= kickSize, nil
}

// appendLine adds one encoded line (without newline) to the buffer.
func (w *stream) appendLine(line []byte) (kick bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false, errClosed
	}
	if w.err != nil {
		return false, w.err
	}
	w.buf = append(w.buf, line...)
	w.buf = append(w.buf, '\n')
	return len(w.buf) >= kickSize, nil
}

// take swaps out the pending bytes. The caller holds the session's flushMu.
func (w *stream) take() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	out := w.buf
	w.buf = w.spare[:0]
	w.spare = nil
	return out
}

// giveBack returns a flushed buffer for reuse unless it grew large.
func (w *stream) giveBack(b []byte) {
	if cap(b) <= 4*kickSize {
		w.spare = b[:0]
	}
}

func (w *stream) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.buf = nil
	w.mu.Unlock()
}

func (w *stream) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// ChainEntry is one line of chain.jsonl: a flushed frame and the chain link
// after it.
type ChainEntry struct {
	File   string `json:"file"`
	Offset int64  `json:"off"`
	Length int64  `json:"len"`
	Link   string `json:"link"` // hex SHA-256
	// MAC is hex HMAC-SHA256 of the link under recording.seal_key (see
	// linkMAC); empty when no key is configured.
	MAC string `json:"mac,omitempty"`
}

// linkMAC authenticates one chain link. The link covers every chunk
// before it, so a valid MAC on entry n vouches for the record up to chunk
// n: a record the gateway never sealed (killed, power lost) can be altered
// only by someone holding the key; it can still lose its tail unnoticed.
func linkMAC(key []byte, id, link string) string {
	h := hmac.New(sha256.New, key)
	io.WriteString(h, "sluice-link-v1\x00"+id+"\x00"+link)
	return hex.EncodeToString(h.Sum(nil))
}

// chainStart is the first link of a session's chain: it binds the chain to
// the session id so chunks cannot be moved between sessions unnoticed.
func chainStart(id string) [32]byte {
	return sha256.Sum256([]byte("sluice-chain-v1\x00" + id))
}

// chainNext computes the link after a frame.
func chainNext(prev [32]byte, file string, off int64, frame []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write([]byte(file))
	h.Write([]byte{0})
	var o [8]byte
	binary.BigEndian.PutUint64(o[:], uint64(off))
	h.Write(o[:])
	h.Write(frame)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// flushLocked writes every pending buffer of s as one zstd frame per stream
// and extends the hash chain. The caller holds s.flushMu.
func (s *Session) flushLocked() {
	for _, w := range s.streams {
		if w.done {
			continue
		}
		s.flushStreamLocked(w)
	}
}

func (s *Session) flushStreamLocked(w *stream) {
	data := w.take()
	if data == nil {
		return
	}
	defer w.giveBack(data)
	s.frame = s.store.enc.EncodeAll(data, s.frame[:0])
	if err := s.writeFrame(w, s.frame); err != nil {
		w.fail(err)
		s.recordFailure(err)
	}
}

func (s *Session) writeFrame(w *stream, frame []byte) error {
	off := w.size
	if _, err := w.f.Write(frame); err != nil {
		return fmt.Errorf("write %s: %w", w.name, err)
	}
	w.size += int64(len(frame))
	s.head = chainNext(s.head, w.name, off, frame)
	s.chunks++
	e := ChainEntry{File: w.name, Offset: off, Length: int64(len(frame)), Link: hex.EncodeToString(s.head[:])}
	if key := s.store.opts.SealKey; len(key) > 0 {
		e.MAC = linkMAC(key, s.record.ID, e.Link)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode chain entry: %w", err)
	}
	line = append(line, '\n')
	if _, err := s.chain.Write(line); err != nil {
		return fmt.Errorf("write chain: %w", err)
	}
	return nil
}

// finishStreamLocked flushes a stream for the last time and closes its file.
func (s *Session) finishStreamLocked(w *stream) error {
	if w.done {
		return nil
	}
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	s.flushStreamLocked(w)
	w.done = true
	err := w.failure()
	if serr := w.f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("sync %s: %w", w.name, serr)
	}
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", w.name, cerr)
	}
	return err
}

// createFile opens a new record file (never an existing one).
func createFile(path string) (recordFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
}
