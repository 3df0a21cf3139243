// Package replay reads session recordings (query logs, events logs,
// asciicast files), turns database sessions into terminal transcripts,
// exports asciicast v2 and plays recordings in a terminal.
package replay

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/sluice-gw/sluice/session"
)

// MaxLine bounds one recorded line; a longer line is treated as damage.
const MaxLine = 16 << 20

// LineReader streams the lines of a zstd-compressed JSON-lines recording.
// A crashed gateway can leave a truncated last frame: the reader stops at
// the last complete line and reports it in Damaged instead of failing.
type LineReader struct {
	f   *os.File
	dec *zstd.Decoder
	br  *bufio.Reader
	buf []byte
	// Damaged is the decode error that ended the file early, if any.
	Damaged error
}

// OpenLines opens a compressed recording file.
func OpenLines(path string) (*LineReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open recording %s: %w", path, err)
	}
	return &LineReader{f: f, dec: dec, br: bufio.NewReaderSize(dec, 64<<10)}, nil
}

// Next returns the next complete line (without newline), valid until the
// next call, or io.EOF at the end (also after a damaged tail).
func (r *LineReader) Next() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.buf = append(r.buf, chunk...)
		switch {
		case err == nil:
			return r.buf[:len(r.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(r.buf) > MaxLine {
				r.Damaged = fmt.Errorf("line longer than %d bytes", MaxLine)
				return nil, io.EOF
			}
		case errors.Is(err, io.EOF):
			if len(r.buf) > 0 {
				r.Damaged = errors.New("incomplete last line")
			}
			return nil, io.EOF
		default:
			r.Damaged = err
			return nil, io.EOF
		}
	}
}

// Close releases the file.
func (r *LineReader) Close() error {
	r.dec.Close()
	return r.f.Close()
}

// DecodeQueryLine decodes one query-log line.
func DecodeQueryLine(line []byte) (session.QueryEvent, error) {
	var e session.QueryEvent
	if err := json.Unmarshal(line, &e); err != nil {
		return session.QueryEvent{}, fmt.Errorf("query log line: %w", err)
	}
	return e, nil
}

// DecodeEventLine decodes one events-log line.
func DecodeEventLine(line []byte) (session.Event, error) {
	var e session.Event
	if err := json.Unmarshal(line, &e); err != nil {
		return session.Event{}, fmt.Errorf("events log line: %w", err)
	}
	if e.Kind == "" {
		return session.Event{}, errors.New("events log line: no kind")
	}
	return e, nil
}

// Header is an asciicast v2 header.
type Header struct {
	Version       int               `json:"version"`
	Width         int               `json:"width"`
	Height        int               `json:"height"`
	Timestamp     int64             `json:"timestamp,omitempty"`
	IdleTimeLimit float64           `json:"idle_time_limit,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Title         string            `json:"title,omitempty"`
	Command       string            `json:"command,omitempty"`
}

// DecodeCastHeader decodes and checks an asciicast v2 header line.
func DecodeCastHeader(line []byte) (Header, error) {
	var h Header
	if err := json.Unmarshal(line, &h); err != nil {
		return Header{}, fmt.Errorf("asciicast header: %w", err)
	}
	if h.Version != 2 {
		return Header{}, fmt.Errorf("asciicast header: version %d, want 2", h.Version)
	}
	if h.Width <= 0 || h.Height <= 0 || h.Width > 10000 || h.Height > 10000 {
		return Header{}, fmt.Errorf("asciicast header: bad size %dx%d", h.Width, h.Height)
	}
	return h, nil
}

// Event is one asciicast v2 event: seconds since the header timestamp, the
// type ("o", "i", "r", "m") and its data.
type Event struct {
	Time float64
	Type string
	Data string
}

// MarshalJSON writes the event as the [time, type, data] array.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{math.Round(e.Time*1e6) / 1e6, e.Type, e.Data})
}

// DecodeCastEvent decodes one asciicast v2 event line.
func DecodeCastEvent(line []byte) (Event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return Event{}, fmt.Errorf("asciicast event: %w", err)
	}
	if len(raw) != 3 {
		return Event{}, fmt.Errorf("asciicast event: %d fields, want 3", len(raw))
	}
	var e Event
	if err := json.Unmarshal(raw[0], &e.Time); err != nil {
		return Event{}, fmt.Errorf("asciicast event time: %w", err)
	}
	if e.Time < 0 || math.IsNaN(e.Time) || math.IsInf(e.Time, 0) {
		return Event{}, fmt.Errorf("asciicast event time %v out of range", e.Time)
	}
	if err := json.Unmarshal(raw[1], &e.Type); err != nil || e.Type == "" {
		return Event{}, fmt.Errorf("asciicast event type: %s", bytes.TrimSpace(raw[1]))
	}
	if err := json.Unmarshal(raw[2], &e.Data); err != nil {
		return Event{}, fmt.Errorf("asciicast event data: %w", err)
	}
	if e.Type == "ob" || e.Type == "ib" {
		// Sluice records binary terminal bytes base64-encoded; asciicast
		// readers downstream get plain "o"/"i" events.
		b, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			return Event{}, fmt.Errorf("asciicast %s event data: %w", e.Type, err)
		}
		e.Type, e.Data = e.Type[:1], string(b)
	}
	return e, nil
}
