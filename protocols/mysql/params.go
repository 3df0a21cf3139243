package mysql

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// unsignedFlag marks an unsigned integer column (column flags) and an
// unsigned parameter (high byte of a parameter type).
const unsignedFlag = 0x20

// maxParamText bounds one parameter as written to the query log.
const maxParamText = 1024

// decodeExecuteParams decodes a COM_STMT_EXECUTE packet's parameters for
// the query log. prevTypes are the types bound by an earlier execution
// (used when the client does not resend them); longData marks parameters
// sent with COM_STMT_SEND_LONG_DATA, which carry no value here. It returns
// the parameters as text and the types in force.
func decodeExecuteParams(p []byte, nparams int, prevTypes []byte, longData map[uint16]bool) ([]string, []byte, error) {
	const fixed = 10 // command, stmt id(4), flags, iteration count(4)
	if len(p) < fixed {
		return nil, nil, errMalformed
	}
	if nparams == 0 {
		return nil, nil, nil
	}
	rest := p[fixed:]
	bitmapLen := (nparams + 7) / 8
	if len(rest) < bitmapLen+1 {
		return nil, nil, errMalformed
	}
	nulls, rest := rest[:bitmapLen], rest[bitmapLen:]
	bound := rest[0]
	rest = rest[1:]
	types := prevTypes
	if bound == 1 {
		if len(rest) < 2*nparams {
			return nil, nil, errMalformed
		}
		types, rest = rest[:2*nparams], rest[2*nparams:]
	}
	if len(types) != 2*nparams {
		return nil, nil, errMalformed
	}
	out := make([]string, nparams)
	for i := range nparams {
		if nulls[i/8]&(1<<(i%8)) != 0 {
			out[i] = "NULL"
			continue
		}
		if longData[uint16(i)] {
			out[i] = "<long data>"
			continue
		}
		t, unsigned := types[2*i], types[2*i+1]&0x80 != 0
		v, n, err := binaryValue(rest, t)
		if err != nil {
			return nil, nil, err
		}
		rest = rest[n:]
		out[i] = formatBinary(t, unsigned, v)
	}
	return out, types, nil
}

// binaryValue cuts one binary-protocol value of type t from the start of
// b: fixed-width numbers raw, temporals without their length byte, others
// as the string's bytes. n is how much of b it used.
func binaryValue(b []byte, t uint8) (v []byte, n int, err error) {
	if w := fixedWidth(t); w > 0 {
		if len(b) < w {
			return nil, 0, errMalformed
		}
		return b[:w], w, nil
	}
	if t == gm.MYSQL_TYPE_NULL {
		return nil, 0, nil
	}
	if isTemporal(t) {
		if len(b) < 1 || len(b)-1 < int(b[0]) || !validTemporalLen(t, int(b[0])) {
			return nil, 0, errMalformed
		}
		return b[1 : 1+int(b[0])], 1 + int(b[0]), nil
	}
	s, _, n, err := readLenEncString(b)
	if err != nil {
		return nil, 0, err
	}
	return s, n, nil
}

// formatBinaryValue renders a result column's binary value as text.
func formatBinaryValue(c columnDef, v []byte) string {
	return formatBinary(c.Type, c.Flags&unsignedFlag != 0, v)
}

// formatBinary renders a binary-protocol value of type t as text. v has the
// shape binaryValue returns; a wrong shape renders as hex, never panics.
func formatBinary(t uint8, unsigned bool, v []byte) string {
	switch {
	case fixedWidth(t) > 0 && len(v) == fixedWidth(t):
		var u uint64
		switch len(v) {
		case 1:
			u = uint64(v[0])
		case 2:
			u = uint64(binary.LittleEndian.Uint16(v))
		case 4:
			u = uint64(binary.LittleEndian.Uint32(v))
		case 8:
			u = binary.LittleEndian.Uint64(v)
		}
		switch t {
		case gm.MYSQL_TYPE_FLOAT:
			return strconv.FormatFloat(float64(math.Float32frombits(uint32(u))), 'g', -1, 32)
		case gm.MYSQL_TYPE_DOUBLE:
			return strconv.FormatFloat(math.Float64frombits(u), 'g', -1, 64)
		}
		if unsigned || t == gm.MYSQL_TYPE_YEAR {
			return strconv.FormatUint(u, 10)
		}
		shift := 64 - 8*len(v)
		return strconv.FormatInt(int64(u<<shift)>>shift, 10)
	case isTemporal(t) && validTemporalLen(t, len(v)):
		return formatTemporal(t, v)
	case fixedWidth(t) > 0 || isTemporal(t):
		return fmt.Sprintf("0x%x", v)
	}
	s := string(v)
	if len(s) > maxParamText {
		s = s[:maxParamText] + "…"
	}
	return s
}

// formatTemporal renders packed DATE/DATETIME/TIMESTAMP and TIME values.
func formatTemporal(t uint8, v []byte) string {
	if t == gm.MYSQL_TYPE_TIME || t == gm.MYSQL_TYPE_TIME2 {
		if len(v) == 0 {
			return "00:00:00"
		}
		sign := ""
		if v[0] == 1 {
			sign = "-"
		}
		days := binary.LittleEndian.Uint32(v[1:])
		s := fmt.Sprintf("%s%02d:%02d:%02d", sign, uint64(days)*24+uint64(v[5]), v[6], v[7])
		if len(v) == 12 {
			s += fmt.Sprintf(".%06d", binary.LittleEndian.Uint32(v[8:]))
		}
		return s
	}
	if len(v) == 0 {
		return "0000-00-00 00:00:00"
	}
	s := fmt.Sprintf("%04d-%02d-%02d", binary.LittleEndian.Uint16(v), v[2], v[3])
	if len(v) >= 7 {
		s += fmt.Sprintf(" %02d:%02d:%02d", v[4], v[5], v[6])
	}
	if len(v) == 11 {
		s += fmt.Sprintf(".%06d", binary.LittleEndian.Uint32(v[7:]))
	}
	return s
}
