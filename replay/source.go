package replay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/sluice-gw/sluice/session"
)

// Stream is a recording as asciicast events, read lazily: a recorded
// terminal session or a transcript generated from a query log.
type Stream interface {
	Header() Header
	// Next returns the next event in time order, or io.EOF.
	Next() (Event, error)
	Close() error
}

// Open returns the recording of rec as a Stream: its casts (merged in time
// order when the session had several channels), else a transcript of its
// query log, else a transcript of its events log.
func Open(dataDir string, rec session.Record) (Stream, error) {
	var casts, queries, events []string
	for _, f := range rec.Files {
		p, err := recordingPath(dataDir, f)
		if err != nil {
			return nil, err
		}
		switch base := path.Base(f); {
		case strings.HasSuffix(base, ".cast.zst"):
			casts = append(casts, p)
		case base == session.QueryLogFile:
			queries = append(queries, p)
		case base == session.EventLogFile:
			events = append(events, p)
		}
	}
	switch {
	case len(casts) > 0:
		return openCasts(casts)
	case len(queries) > 0:
		return newTranscript(rec, queries[0], false)
	case len(events) > 0:
		return newTranscript(rec, events[0], true)
	}
	return nil, fmt.Errorf("session %s has no recording", rec.ID)
}

// recordingPath resolves a Record.Files entry inside dataDir, refusing
// paths that would leave it.
func recordingPath(dataDir, rel string) (string, error) {
	clean := path.Clean(rel)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("recording path %q leaves the data dir", rel)
	}
	return filepath.Join(dataDir, filepath.FromSlash(clean)), nil
}

// castFile reads one recorded cast.
type castFile struct {
	lr     *LineReader
	header Header
	head   *Event // next event, read ahead for merging
	err    error
}

func openCastFile(p string) (*castFile, error) {
	lr, err := OpenLines(p)
	if err != nil {
		return nil, err
	}
	line, err := lr.Next()
	if err != nil {
		lr.Close()
		return nil, fmt.Errorf("cast %s: no header", filepath.Base(p))
	}
	h, err := DecodeCastHeader(line)
	if err != nil {
		lr.Close()
		return nil, fmt.Errorf("cast %s: %w", filepath.Base(p), err)
	}
	return &castFile{lr: lr, header: h}, nil
}

// next reads the following event; damaged lines end the cast.
func (c *castFile) next() (Event, error) {
	line, err := c.lr.Next()
	if err != nil {
		return Event{}, err
	}
	ev, err := DecodeCastEvent(line)
	if err != nil {
		c.lr.Damaged = err
		return Event{}, io.EOF
	}
	return ev, nil
}

// castMerge interleaves several casts of one session by absolute time.
type castMerge struct {
	files  []*castFile
	header Header
	base   int64 // header timestamp of the merged stream
}

func openCasts(paths []string) (Stream, error) {
	m := &castMerge{}
	for _, p := range paths {
		c, err := openCastFile(p)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.files = append(m.files, c)
	}
	m.header = m.files[0].header
	m.base = m.header.Timestamp
	for _, c := range m.files[1:] {
		m.header.Width = max(m.header.Width, c.header.Width)
		m.header.Height = max(m.header.Height, c.header.Height)
		if c.header.Timestamp < m.base && c.header.Timestamp > 0 {
			m.base = c.header.Timestamp
		}
	}
	m.header.Timestamp = m.base
	return m, nil
}

func (m *castMerge) Header() Header { return m.header }

func (m *castMerge) Next() (Event, error) {
	var best *castFile
	var bestT float64
	for _, c := range m.files {
		if c.head == nil && c.err == nil {
			ev, err := c.next()
			if err != nil {
				c.err = err
				continue
			}
			ev.Time += float64(c.header.Timestamp - m.base)
			c.head = &ev
		}
		if c.head != nil && (best == nil || c.head.Time < bestT) {
			best, bestT = c, c.head.Time
		}
	}
	if best == nil {
		return Event{}, io.EOF
	}
	ev := *best.head
	best.head = nil
	return ev, nil
}

func (m *castMerge) Close() error {
	var errs []error
	for _, c := range m.files {
		errs = append(errs, c.lr.Close())
	}
	return errors.Join(errs...)
}

// ReadCast reads an uncompressed asciicast v2 (an export, or the admin
// API's /api/sessions/{id}/cast) as a Stream.
func ReadCast(r io.Reader) (Stream, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	c := &plainCast{br: br}
	line, err := c.line()
	if err != nil {
		return nil, fmt.Errorf("asciicast: no header: %w", err)
	}
	if c.header, err = DecodeCastHeader(line); err != nil {
		return nil, err
	}
	return c, nil
}

type plainCast struct {
	br     *bufio.Reader
	header Header
	buf    []byte
}

func (c *plainCast) line() ([]byte, error) {
	c.buf = c.buf[:0]
	for {
		chunk, err := c.br.ReadSlice('\n')
		c.buf = append(c.buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(c.buf) > MaxLine {
				return nil, fmt.Errorf("asciicast line longer than %d bytes", MaxLine)
			}
			continue
		}
		if err != nil && (len(c.buf) == 0 || !errors.Is(err, io.EOF)) {
			return nil, err
		}
		return bytes.TrimRight(c.buf, "\r\n"), nil
	}
}

func (c *plainCast) Header() Header { return c.header }

func (c *plainCast) Next() (Event, error) {
	for {
		line, err := c.line()
		if err != nil {
			return Event{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return DecodeCastEvent(line)
	}
}

func (c *plainCast) Close() error { return nil }
