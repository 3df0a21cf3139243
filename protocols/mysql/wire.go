package mysql

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
)

// maxPayloadChunk is the largest payload one wire packet carries; a payload
// of this size or more continues in the next packet.
const maxPayloadChunk = 1<<24 - 1

// Buffer sizes per leg. An idle session holds two readers and two writers,
// so they are kept small; a result set still goes out in 16 KiB writes.
const (
	readBufSize  = 8 << 10
	writeBufSize = 16 << 10
)

// ErrPacketTooLarge is returned when a logical packet exceeds the limit.
var ErrPacketTooLarge = errors.New("mysql: packet exceeds the configured maximum size")

// ErrSequence is returned when a packet arrives out of sequence.
var ErrSequence = errors.New("mysql: packet out of sequence")

// packetReader reads logical MySQL packets (continuations joined) from one
// leg. It owns one buffer that every Read reuses: the returned payload is
// only valid until the next Read, so callers copy what they keep.
type packetReader struct {
	br  *bufio.Reader
	buf []byte
	max int
	// seq is the sequence id of the exchange, shared with the leg's writer:
	// within one command both directions count on one sequence.
	seq *uint8
	hdr [4]byte // here, not on the stack: passed to io.ReadFull it would escape per packet
}

func newPacketReader(r io.Reader, max int, seq *uint8) *packetReader {
	return &packetReader{br: bufio.NewReaderSize(r, readBufSize), max: max, seq: seq}
}

// reset points the reader at a new underlying stream (after a TLS upgrade).
func (r *packetReader) reset(rd io.Reader) { r.br.Reset(rd) }

// Read returns the next logical packet's payload.
func (r *packetReader) Read() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		hdr := r.hdr[:]
		if _, err := io.ReadFull(r.br, hdr); err != nil {
			return nil, err
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if hdr[3] != *r.seq {
			return nil, fmt.Errorf("%w: got %d, want %d", ErrSequence, hdr[3], *r.seq)
		}
		*r.seq++
		if len(r.buf)+n > r.max {
			return nil, fmt.Errorf("%w (%d bytes)", ErrPacketTooLarge, r.max)
		}
		start := len(r.buf)
		r.buf = grow(r.buf, n)
		if _, err := io.ReadFull(r.br, r.buf[start:start+n]); err != nil {
			return nil, fmt.Errorf("mysql: short packet: %w", err)
		}
		if n < maxPayloadChunk {
			return r.buf, nil
		}
	}
}

// buffered reports whether bytes are waiting in the read buffer.
func (r *packetReader) buffered() int { return r.br.Buffered() }

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*cap(b)+n)
	copy(nb, b)
	return nb
}

// packetWriter writes packets into a buffer that is flushed explicitly at
// the end of a response (or when it fills), so a result set costs one write
// syscall per 16 KiB rather than one per row.
type packetWriter struct {
	bw  *bufio.Writer
	seq *uint8
	hdr [4]byte // here, not on the stack: passed to bufio it would escape per packet
}

func newPacketWriter(w io.Writer, seq *uint8) *packetWriter {
	return &packetWriter{bw: bufio.NewWriterSize(w, writeBufSize), seq: seq}
}

func (w *packetWriter) reset(wr io.Writer) { w.bw.Reset(wr) }

// Write frames payload as one or more packets (splitting at 16 MiB).
func (w *packetWriter) Write(payload []byte) error {
	for {
		n := min(len(payload), maxPayloadChunk)
		w.hdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), *w.seq}
		*w.seq++
		if _, err := w.bw.Write(w.hdr[:]); err != nil {
			return err
		}
		if _, err := w.bw.Write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < maxPayloadChunk {
			return nil
		}
	}
}

// Flush sends what is buffered.
func (w *packetWriter) Flush() error { return w.bw.Flush() }

// leg is one side of the relay: a connection with its packet reader and
// writer. Sequence ids are per leg: the gateway renumbers what it relays.
type leg struct {
	conn net.Conn
	seq  uint8
	r    *packetReader
	w    *packetWriter
}

func newLeg(c net.Conn, max int) *leg {
	l := &leg{conn: c}
	l.r = newPacketReader(c, max, &l.seq)
	l.w = newPacketWriter(c, &l.seq)
	return l
}

// setConn swaps the underlying connection (TLS upgrade). Nothing may be
// buffered at that point.
func (l *leg) setConn(c net.Conn) {
	l.conn = c
	l.r.reset(c)
	l.w.reset(c)
}

// startCommand resets the sequence for a new command phase.
func (l *leg) startCommand() { l.seq = 0 }

// writeFlush writes one packet and flushes.
func (l *leg) writeFlush(p []byte) error {
	if err := l.w.Write(p); err != nil {
		return err
	}
	return l.w.Flush()
}
