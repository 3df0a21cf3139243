package ssh

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// SFTP (draft-ietf-secsh-filexfer-02, what OpenSSH speaks) packet framing:
// uint32 length, byte type, body. The gateway only reads what it relays to
// log transfers; it never changes a byte.

// SFTP packet types the transfer log reads.
const (
	fxpInit     = 1
	fxpOpen     = 3
	fxpClose    = 4
	fxpRead     = 5
	fxpWrite    = 6
	fxpRemove   = 13
	fxpMkdir    = 14
	fxpRmdir    = 15
	fxpRename   = 18
	fxpStatus   = 101
	fxpHandle   = 102
	fxpData     = 103
	fxfWrite    = 0x02 // SSH_FXF_WRITE open flag
	fxOK        = 0
	maxSFTPBody = 256 << 10 // OpenSSH's SFTP_MAX_MSG_LENGTH; larger is not SFTP we can follow
)

var errSFTPTooLarge = errors.New("sftp: packet larger than 256 KiB")

// sftpFramer splits a byte stream into SFTP packets, holding at most one
// packet. After an error it stays broken: the stream is no longer in sync.
type sftpFramer struct {
	buf    []byte
	broken error
}

// feed appends p and calls emit for every complete packet (type, body).
// body is only valid during the call.
func (f *sftpFramer) feed(p []byte, emit func(typ byte, body []byte)) error {
	if f.broken != nil {
		return f.broken
	}
	f.buf = append(f.buf, p...)
	for {
		if len(f.buf) < 4 {
			return nil
		}
		n := binary.BigEndian.Uint32(f.buf)
		if n == 0 || n > maxSFTPBody {
			f.broken = fmt.Errorf("%w (length %d)", errSFTPTooLarge, n)
			f.buf = nil
			return f.broken
		}
		if uint64(len(f.buf)) < 4+uint64(n) {
			return nil
		}
		emit(f.buf[4], f.buf[5:4+n])
		rest := copy(f.buf, f.buf[4+n:])
		f.buf = f.buf[:rest]
	}
}

// sftpReader reads SFTP fields off a packet body, bounded by it.
type sftpReader struct {
	b   []byte
	err error
}

var errSFTPShort = errors.New("sftp: packet too short")

func (r *sftpReader) uint32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errSFTPShort
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *sftpReader) uint64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errSFTPShort
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// bytes reads a length-prefixed string without copying.
func (r *sftpReader) bytes() []byte {
	n := r.uint32()
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.err = errSFTPShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *sftpReader) string() string { return string(r.bytes()) }
