package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// Packet headers (first payload byte).
const (
	hdrOK     = 0x00
	hdrEOF    = 0xfe
	hdrErr    = 0xff
	hdrInfile = 0xfb
)

// errMalformed is returned by every decoder here for truncated or
// inconsistent input. Decoders never panic: every length is checked.
var errMalformed = errors.New("mysql: malformed packet")

// readLenEncInt decodes a length-encoded integer at the start of b.
// null is true for the 0xfb marker (NULL in rows).
func readLenEncInt(b []byte) (v uint64, null bool, n int, err error) {
	if len(b) == 0 {
		return 0, false, 0, errMalformed
	}
	switch b[0] {
	case 0xfb:
		return 0, true, 1, nil
	case 0xfc:
		if len(b) < 3 {
			return 0, false, 0, errMalformed
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), false, 3, nil
	case 0xfd:
		if len(b) < 4 {
			return 0, false, 0, errMalformed
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, false, 4, nil
	case 0xfe:
		if len(b) < 9 {
			return 0, false, 0, errMalformed
		}
		return binary.LittleEndian.Uint64(b[1:]), false, 9, nil
	case 0xff:
		return 0, false, 0, errMalformed
	}
	return uint64(b[0]), false, 1, nil
}

// readLenEncString decodes a length-encoded string; the result aliases b.
func readLenEncString(b []byte) (s []byte, null bool, n int, err error) {
	v, null, n, err := readLenEncInt(b)
	if err != nil || null {
		return nil, null, n, err
	}
	if v > uint64(len(b)-n) {
		return nil, false, 0, errMalformed
	}
	end := n + int(v)
	return b[n:end:end], false, end, nil
}

func appendLenEncString(dst, s []byte) []byte {
	dst = gm.AppendLengthEncodedInteger(dst, uint64(len(s)))
	return append(dst, s...)
}

// isTerminator reports whether a packet read where rows may appear ends the
// rows: an EOF packet, or with DEPRECATE_EOF an OK packet with the 0xfe
// header. A row can start with 0xfe only when its first value is at least
// 16 MiB long, so the payload length tells them apart.
func isTerminator(p []byte) bool {
	return len(p) > 0 && p[0] == hdrEOF && len(p) < maxPayloadChunk
}

// okStatus extracts the server status flags from an OK packet (0x00 or, as
// a terminator, 0xfe) or from an EOF packet.
func okStatus(p []byte, deprecateEOF bool) (uint16, error) {
	if len(p) == 0 {
		return 0, errMalformed
	}
	if p[0] == hdrEOF && (!deprecateEOF || len(p) < 7) {
		// Classic EOF: header, warnings(2), status(2).
		if len(p) < 5 {
			return 0, errMalformed
		}
		return binary.LittleEndian.Uint16(p[3:]), nil
	}
	pos := 1
	for range 2 { // affected rows, last insert id
		_, _, n, err := readLenEncInt(p[pos:])
		if err != nil {
			return 0, err
		}
		pos += n
	}
	if len(p) < pos+2 {
		return 0, errMalformed
	}
	return binary.LittleEndian.Uint16(p[pos:]), nil
}

// okAffectedRows returns the affected-rows count of an OK packet.
func okAffectedRows(p []byte) uint64 {
	if len(p) < 2 {
		return 0
	}
	v, _, _, err := readLenEncInt(p[1:])
	if err != nil {
		return 0
	}
	return v
}

// serverError is a decoded ERR packet.
type serverError struct {
	Code     uint16
	SQLState string
	Message  string
}

func (e *serverError) Error() string {
	return fmt.Sprintf("ERROR %d (%s): %s", e.Code, e.SQLState, e.Message)
}

// parseErr decodes an ERR packet (protocol 4.1 layout).
func parseErr(p []byte) (*serverError, error) {
	if len(p) < 3 || p[0] != hdrErr {
		return nil, errMalformed
	}
	e := &serverError{Code: binary.LittleEndian.Uint16(p[1:])}
	rest := p[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.SQLState = string(rest[1:6])
		rest = rest[6:]
	}
	e.Message = string(rest)
	return e, nil
}

// appendErr encodes an ERR packet.
func appendErr(dst []byte, code uint16, sqlState, msg string) []byte {
	if len(sqlState) != 5 {
		sqlState = "HY000"
	}
	dst = append(dst, hdrErr, byte(code), byte(code>>8), '#')
	dst = append(dst, sqlState...)
	return append(dst, msg...)
}

// appendOK encodes an OK packet with the given status.
func appendOK(dst []byte, header byte, affected uint64, status uint16) []byte {
	dst = append(dst, header)
	dst = gm.AppendLengthEncodedInteger(dst, affected)
	dst = gm.AppendLengthEncodedInteger(dst, 0)
	return append(dst, byte(status), byte(status>>8), 0, 0)
}

// columnDef is what the gateway needs of a ColumnDefinition41 packet.
type columnDef struct {
	Table    string
	OrgTable string
	Name     string
	OrgName  string
	Charset  uint16
	Type     uint8
	Flags    uint16
}

// parseColumnDef decodes a ColumnDefinition41 packet. The raw packet is
// relayed unchanged; only this summary is kept.
func parseColumnDef(p []byte) (columnDef, error) { return parseColumnDefLike(p, nil) }

// parseColumnDefLike is parseColumnDef reusing prev's strings where they are
// equal: a session that runs the same statement repeatedly gets the same
// definitions back every time, and should not allocate them again.
func parseColumnDefLike(p []byte, prev *columnDef) (columnDef, error) {
	var c columnDef
	var strs [6][]byte
	pos := 0
	for i := range strs {
		s, _, n, err := readLenEncString(p[pos:])
		if err != nil {
			return c, err
		}
		strs[i] = s
		pos += n
	}
	// length of fixed fields (0x0c), charset(2), length(4), type(1), flags(2), decimals(1)
	_, _, n, err := readLenEncInt(p[pos:])
	if err != nil {
		return c, err
	}
	pos += n
	if len(p) < pos+10 {
		return c, errMalformed
	}
	var old columnDef
	if prev != nil {
		old = *prev
	}
	c.Table, c.OrgTable = reuseString(old.Table, strs[2]), reuseString(old.OrgTable, strs[3])
	c.Name, c.OrgName = reuseString(old.Name, strs[4]), reuseString(old.OrgName, strs[5])
	c.Charset = binary.LittleEndian.Uint16(p[pos:])
	c.Type = p[pos+6]
	c.Flags = binary.LittleEndian.Uint16(p[pos+7:])
	return c, nil
}

// reuseString is old when it equals b, else a new string of b.
func reuseString(old string, b []byte) string {
	if old == string(b) { // compared without converting
		return old
	}
	return string(b)
}

// decodeTextRow splits a text-protocol row into values (nil = NULL). The
// values alias p; dst is reused.
func decodeTextRow(p []byte, ncols int, dst [][]byte) ([][]byte, error) {
	dst = dst[:0]
	pos := 0
	for range ncols {
		s, null, n, err := readLenEncString(p[pos:])
		if err != nil {
			return dst, err
		}
		if null {
			s = nil
		} else if s == nil {
			s = []byte{}
		}
		dst = append(dst, s)
		pos += n
	}
	if pos != len(p) {
		return dst, errMalformed
	}
	return dst, nil
}

// appendTextRow encodes values as a text-protocol row.
func appendTextRow(dst []byte, values [][]byte) []byte {
	for _, v := range values {
		if v == nil {
			dst = append(dst, 0xfb)
			continue
		}
		dst = appendLenEncString(dst, v)
	}
	return dst
}
