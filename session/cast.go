package session

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// CastHeader describes one terminal recording (asciicast v2 header).
type CastHeader struct {
	Width, Height int
	Env           map[string]string // TERM, SHELL
	Title         string
	Command       string // exec channels: the command run
}

// castHeaderLine is the asciicast v2 header as written.
type castHeaderLine struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Env       map[string]string `json:"env,omitempty"`
	Title     string            `json:"title,omitempty"`
	Command   string            `json:"command,omitempty"`
}

// Cast records one terminal channel as asciicast v2. It is safe for
// concurrent use; every method fails after Close or after the session ends.
type Cast struct {
	s           *Session
	w           *stream
	start       time.Time
	recordInput bool

	mu      sync.Mutex
	pending [2][]byte // incomplete trailing UTF-8 rune of output (0) and input (1)
	closed  bool
}

// OpenCast starts a terminal recording in the session (one per channel).
func (s *Session) OpenCast(h CastHeader) (*Cast, error) {
	if s.unrecorded {
		return &Cast{s: s, start: time.Now()}, nil
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	if h.Width <= 0 {
		h.Width = 80
	}
	if h.Height <= 0 {
		h.Height = 24
	}
	s.flushMu.Lock()
	s.nCasts++
	name := fmt.Sprintf("cast-%d.cast.zst", s.nCasts)
	w, err := s.addStreamLocked(name)
	s.flushMu.Unlock()
	if err != nil {
		return nil, s.recordingError(err)
	}
	c := &Cast{s: s, w: w, start: time.Now(), recordInput: s.rec.RecordInput}
	line, err := json.Marshal(castHeaderLine{Version: 2, Width: h.Width, Height: h.Height, Timestamp: c.start.Unix(),
		Env: maps.Clone(h.Env), Title: h.Title, Command: h.Command})
	if err != nil {
		return nil, fmt.Errorf("encode cast header: %w", err)
	}
	if _, err := w.appendLine(line); err != nil {
		return nil, s.recordingError(err)
	}
	s.syncFiles()
	return c, nil
}

// addStreamLocked adds a record file while the session is live. The caller
// holds flushMu; record.Files is guarded by mu.
func (s *Session) addStreamLocked(name string) (*stream, error) {
	f, err := s.store.create(filepath.Join(s.store.dir, s.relDir, name))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	w := &stream{name: name, f: f}
	s.streams = append(s.streams, w)
	s.mu.Lock()
	s.record.Files = append(s.record.Files, filepath.ToSlash(filepath.Join(s.relDir, name)))
	s.mu.Unlock()
	return w, nil
}

// syncFiles writes the record's file list to the index so readers (watch,
// the admin API) find a new cast while the session is live.
func (s *Session) syncFiles() {
	s.mu.Lock()
	files := append([]string(nil), s.record.Files...)
	s.mu.Unlock()
	if err := s.store.idx.setFiles(s.ctx, s.record.ID, files); err != nil && s.ctx.Err() == nil {
		s.store.log.Warn("session index update failed", "session", s.record.ID, "err", err)
	}
}

// recordingError applies the session's fail-open setting to a write failure.
func (s *Session) recordingError(err error) error {
	if s.rec.FailOpen && !errors.Is(err, errClosed) {
		return nil
	}
	return err
}

// Write records terminal output; Cast is an io.Writer decorator for output.
func (c *Cast) Write(p []byte) (int, error) {
	if err := c.Output(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Output records bytes the terminal showed.
func (c *Cast) Output(p []byte) error { return c.data(0, "o", p) }

// Input records bytes the client typed; only when the target records input.
func (c *Cast) Input(p []byte) error {
	if !c.recordInput {
		return c.checkOpen()
	}
	return c.data(1, "i", p)
}

// Resize records a terminal size change.
func (c *Cast) Resize(w, h int) error { return c.event("r", fmt.Sprintf("%dx%d", w, h)) }

// Marker records a labelled point in time (policy events).
func (c *Cast) Marker(label string) error { return c.event("m", label) }

func (c *Cast) checkOpen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.s.closed.Load() {
		return errClosed
	}
	return nil
}

// elapsed is seconds since the header timestamp, to the microsecond.
func (c *Cast) elapsed() float64 {
	return math.Round(time.Since(c.start).Seconds()*1e6) / 1e6
}

// data records a chunk of terminal bytes. An incomplete UTF-8 rune at the
// end is held back until the next chunk so a rune split across reads is
// recorded whole; other invalid bytes become U+FFFD in the JSON.
func (c *Cast) data(which int, kind string, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.s.closed.Load() {
		return errClosed
	}
	if c.w == nil {
		return nil // fail-open session without a record
	}
	buf := append(c.pending[which], p...)
	cut := completeUTF8(buf)
	c.pending[which] = append(c.pending[which][:0:0], buf[cut:]...)
	if cut == 0 {
		return nil
	}
	return c.writeChunkLocked(kind, buf[:cut])
}

// writeChunkLocked records terminal bytes. Binary output (an exec's
// `head -c 1G /dev/zero`, a `cat` of a binary file) would grow sixfold as
// \u0000 escapes and lose its invalid bytes: it is recorded base64-encoded
// as "ob"/"ib", which replay decodes back (see doc.go).
func (c *Cast) writeChunkLocked(kind string, chunk []byte) error {
	if !binaryChunk(chunk) {
		return c.writeLocked(kind, string(chunk))
	}
	elapsed := c.elapsed()
	kick, err := c.w.appendEncoded(func(dst []byte) []byte {
		// The base64 alphabet needs no JSON escaping: encode in place.
		dst = appendCastEventHead(dst, elapsed, kind+"b")
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, chunk)
		return append(dst, '"', ']')
	})
	if err != nil {
		return c.s.recordingError(err)
	}
	if kick {
		c.s.store.wake()
	}
	return nil
}

// binaryChunk reports output that JSON text would carry badly: invalid
// UTF-8, or more than 1 in 16 bytes a control character JSON must escape.
func binaryChunk(b []byte) bool {
	ctl, limit := 0, len(b)/16
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != 0x1b {
			if ctl++; ctl > limit {
				return true
			}
		}
	}
	return !utf8.Valid(b)
}

// completeUTF8 returns the length of b without a trailing incomplete rune.
func completeUTF8(b []byte) int {
	// A rune is at most 4 bytes: look back at most 3 for its start byte.
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		if c < utf8.RuneSelf {
			return len(b)
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}

func (c *Cast) event(kind, data string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.s.closed.Load() {
		return errClosed
	}
	if c.w == nil {
		return nil
	}
	return c.writeLocked(kind, data)
}

// writeLocked appends one event line. It encodes by hand straight into the
// stream's buffer, byte for byte what encoding/json writes for [elapsed, kind, data]
// (TestCastEventEncodingMatchesJSON): this runs for every chunk of terminal
// output, and reflection-based encoding was most of an exec channel's CPU.
func (c *Cast) writeLocked(kind, data string) error {
	elapsed := c.elapsed()
	kick, err := c.w.appendEncoded(func(dst []byte) []byte { return appendCastEvent(dst, elapsed, kind, data) })
	if err != nil {
		return c.s.recordingError(err)
	}
	if kick {
		c.s.store.wake()
	}
	return nil
}

// appendCastEvent encodes [elapsed, kind, data] as encoding/json does.
func appendCastEvent(b []byte, elapsed float64, kind, data string) []byte {
	b = appendCastEventHead(b, elapsed, kind)
	b = appendJSONString(b, data)
	return append(b, ']')
}

// appendCastEventHead writes `[elapsed,"kind",`.
func appendCastEventHead(b []byte, elapsed float64, kind string) []byte {
	b = append(b, '[')
	fmtByte := byte('f')
	if a := math.Abs(elapsed); a != 0 && (a < 1e-6 || a >= 1e21) {
		fmtByte = 'e'
	}
	b = strconv.AppendFloat(b, elapsed, fmtByte, -1, 64)
	if fmtByte == 'e' {
		// strconv writes 1e-07; encoding/json cleans it up to 1e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b = append(b[:n-2], b[n-1])
		}
	}
	b = append(b, ',')
	b = appendJSONString(b, kind)
	return append(b, ',')
}

// Close flushes held-back bytes, writes the recording's last frame and
// closes its file. Later writes fail.
func (c *Cast) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	var err error
	if c.w != nil && !c.s.closed.Load() {
		for i, kind := range []string{"o", "i"} {
			if len(c.pending[i]) > 0 {
				err = errors.Join(err, c.writeChunkLocked(kind, c.pending[i]))
				c.pending[i] = nil
			}
		}
	}
	c.closed = true
	c.mu.Unlock()
	if c.w == nil {
		return err
	}
	c.s.flushMu.Lock()
	ferr := c.s.finishStreamLocked(c.w)
	c.s.flushMu.Unlock()
	return errors.Join(err, c.s.recordingError(ferr))
}
