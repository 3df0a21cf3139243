package mysql

import (
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-gw/sluice/policy"
)

// binaryCharset is the collation id MySQL uses for binary strings (BLOB,
// VARBINARY): their values are bytes, not text.
const binaryCharset = 63

// fixedWidth is the on-wire width of a binary-protocol value of type t, or
// 0 when the value is length-prefixed.
func fixedWidth(t uint8) int {
	switch t {
	case gm.MYSQL_TYPE_TINY:
		return 1
	case gm.MYSQL_TYPE_SHORT, gm.MYSQL_TYPE_YEAR:
		return 2
	case gm.MYSQL_TYPE_LONG, gm.MYSQL_TYPE_INT24, gm.MYSQL_TYPE_FLOAT:
		return 4
	case gm.MYSQL_TYPE_LONGLONG, gm.MYSQL_TYPE_DOUBLE:
		return 8
	}
	return 0
}

// isTemporal reports whether binary values of type t carry a one-byte
// length followed by packed date/time fields.
func isTemporal(t uint8) bool {
	switch t {
	case gm.MYSQL_TYPE_DATE, gm.MYSQL_TYPE_DATETIME, gm.MYSQL_TYPE_TIMESTAMP,
		gm.MYSQL_TYPE_TIME, gm.MYSQL_TYPE_NEWDATE,
		gm.MYSQL_TYPE_TIMESTAMP2, gm.MYSQL_TYPE_DATETIME2, gm.MYSQL_TYPE_TIME2:
		return true
	}
	return false
}

// validTemporalLen reports whether n is a legal packed length for type t.
func validTemporalLen(t uint8, n int) bool {
	switch t {
	case gm.MYSQL_TYPE_TIME, gm.MYSQL_TYPE_TIME2:
		return n == 0 || n == 8 || n == 12
	}
	return n == 0 || n == 4 || n == 7 || n == 11
}

// typeClass maps a MySQL column type to the policy's protocol-neutral class.
func typeClass(c columnDef) policy.TypeClass {
	switch c.Type {
	case gm.MYSQL_TYPE_TINY, gm.MYSQL_TYPE_SHORT, gm.MYSQL_TYPE_LONG, gm.MYSQL_TYPE_INT24,
		gm.MYSQL_TYPE_LONGLONG, gm.MYSQL_TYPE_YEAR:
		return policy.TypeInt
	case gm.MYSQL_TYPE_FLOAT, gm.MYSQL_TYPE_DOUBLE:
		return policy.TypeFloat
	case gm.MYSQL_TYPE_DECIMAL, gm.MYSQL_TYPE_NEWDECIMAL:
		return policy.TypeNumeric
	case gm.MYSQL_TYPE_JSON:
		return policy.TypeJSON
	case gm.MYSQL_TYPE_BIT, gm.MYSQL_TYPE_GEOMETRY:
		return policy.TypeBytes
	case gm.MYSQL_TYPE_NULL:
		return policy.TypeOther
	case gm.MYSQL_TYPE_VARCHAR, gm.MYSQL_TYPE_VAR_STRING, gm.MYSQL_TYPE_STRING,
		gm.MYSQL_TYPE_ENUM, gm.MYSQL_TYPE_SET,
		gm.MYSQL_TYPE_TINY_BLOB, gm.MYSQL_TYPE_MEDIUM_BLOB, gm.MYSQL_TYPE_LONG_BLOB, gm.MYSQL_TYPE_BLOB:
		if c.Charset == binaryCharset {
			return policy.TypeBytes
		}
		return policy.TypeText
	}
	if isTemporal(c.Type) {
		return policy.TypeTime
	}
	return policy.TypeOther
}

// policyFields describes result columns for the masker.
func policyFields(cols []columnDef, binary bool) []policy.Field {
	fs := make([]policy.Field, len(cols))
	for i, c := range cols {
		size := int16(-1)
		if binary {
			if w := fixedWidth(c.Type); w > 0 {
				size = int16(w)
			}
		}
		fs[i] = policy.Field{Name: c.Name, Type: typeClass(c), Size: size, Binary: binary}
	}
	return fs
}

// decodeBinaryRow splits a binary-protocol row (header 0x00, NULL bitmap
// with a 2-bit offset, then each non-NULL value in its type's encoding)
// into values: fixed-width numbers as their raw little-endian bytes,
// temporals as their packed bytes without the length byte, everything else
// as the string's bytes. nil = NULL. Values alias p; dst is reused.
func decodeBinaryRow(p []byte, cols []columnDef, dst [][]byte) ([][]byte, error) {
	dst = dst[:0]
	bitmapLen := (len(cols) + 7 + 2) / 8
	if len(p) < 1+bitmapLen || p[0] != hdrOK {
		return dst, errMalformed
	}
	bitmap := p[1 : 1+bitmapLen]
	pos := 1 + bitmapLen
	for i, c := range cols {
		bit := i + 2
		if bitmap[bit/8]&(1<<(bit%8)) != 0 {
			dst = append(dst, nil)
			continue
		}
		switch w := fixedWidth(c.Type); {
		case w > 0:
			if len(p)-pos < w {
				return dst, errMalformed
			}
			dst = append(dst, p[pos:pos+w:pos+w])
			pos += w
		case isTemporal(c.Type):
			if len(p)-pos < 1 {
				return dst, errMalformed
			}
			n := int(p[pos])
			if len(p)-pos-1 < n || !validTemporalLen(c.Type, n) {
				return dst, errMalformed
			}
			end := pos + 1 + n
			dst = append(dst, p[pos+1:end:end])
			pos = end
		default:
			s, _, n, err := readLenEncString(p[pos:])
			if err != nil {
				return dst, err
			}
			if s == nil {
				s = []byte{}
			}
			dst = append(dst, s)
			pos += n
		}
	}
	if pos != len(p) {
		return dst, errMalformed
	}
	return dst, nil
}

// appendBinaryRow encodes values as a binary-protocol row. A value that a
// masker left in a shape the type cannot carry (a fixed-width number of the
// wrong width, a temporal of an illegal length) is sent as NULL: the client
// must never receive a malformed row, and NULL reveals nothing.
func appendBinaryRow(dst []byte, cols []columnDef, values [][]byte) []byte {
	bitmapLen := (len(cols) + 7 + 2) / 8
	dst = append(dst, hdrOK)
	bm := len(dst)
	for range bitmapLen {
		dst = append(dst, 0)
	}
	for i, c := range cols {
		v := values[i]
		if v != nil {
			switch w := fixedWidth(c.Type); {
			case w > 0:
				if len(v) != w {
					v = nil
				}
			case isTemporal(c.Type):
				if !validTemporalLen(c.Type, len(v)) {
					v = nil
				}
			}
		}
		if v == nil {
			bit := i + 2
			dst[bm+bit/8] |= 1 << (bit % 8)
			continue
		}
		switch {
		case fixedWidth(c.Type) > 0:
			dst = append(dst, v...)
		case isTemporal(c.Type):
			dst = append(dst, byte(len(v)))
			dst = append(dst, v...)
		default:
			dst = appendLenEncString(dst, v)
		}
	}
	return dst
}
