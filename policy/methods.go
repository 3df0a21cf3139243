package policy

// Mask methods, per column type (Field.Type / Field.Binary / Field.Size):
//
//	redact   text: "****"; JSON text: "\"****\""; int/float/numeric text: "0";
//	         binary int2/int4/int8 and float4/float8: zero of that width;
//	         anything else (bool, time, bytes, binary numeric/JSON): NULL.
//	partial  text: "****" + last keep characters (runes); a value no longer
//	         than keep is fully "****"; other types: as redact.
//	hash     text: 16 hex chars of HMAC-SHA256(hash_key, value) (stable, so
//	         joins and GROUP BY still work); int: a non-negative integer of
//	         the column's width from the same HMAC (text digits, or binary
//	         big-endian of Size 2/4/8); float/numeric text: that integer in
//	         int4 range; other types and binary float/numeric: NULL.
//	null     NULL for every type.
//	email    text: "****" + "@domain" (from the last @); no @: "****";
//	         other types: as redact.
//
// A column that is an expression of a masked column (upper(email), a CASE,
// an aggregate) gets redact instead of partial/email: keeping "the last 4
// characters" of an arbitrary expression could keep anything. NULL stays
// NULL under every method.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"unicode/utf8"

	"github.com/sluice-gw/sluice/config"
)

// methodKind is a masking method.
type methodKind uint8

const (
	methodRedact methodKind = iota
	methodPartial
	methodHash
	methodNull
	methodEmail
)

// maskMethod is a compiled mask method.
type maskMethod struct {
	kind methodKind
	keep int
	key  []byte
}

// String is the method's name in the config.
func (k methodKind) String() string {
	switch k {
	case methodPartial:
		return "partial"
	case methodHash:
		return "hash"
	case methodNull:
		return "null"
	case methodEmail:
		return "email"
	}
	return "redact"
}

// redactMethod masks columns whose lineage is derived or unknown.
var redactMethod = &maskMethod{kind: methodRedact}

func compileMethod(key string, mc config.Mask, hashKey []byte) (*maskMethod, error) {
	m := &maskMethod{key: hashKey}
	switch mc.Method {
	case "", "redact":
		m.kind = methodRedact
	case "partial":
		m.kind, m.keep = methodPartial, mc.Keep
		if m.keep <= 0 {
			m.keep = 4
		}
	case "hash":
		m.kind = methodHash
		if len(hashKey) == 0 {
			// Without a key a hash is a lookup table away from the value.
			return nil, fmt.Errorf("%s.method: hash needs the policy's hash_key", key)
		}
	case "null":
		m.kind = methodNull
	case "email":
		m.kind = methodEmail
	default:
		return nil, fmt.Errorf("%s.method: %q is not redact, partial, hash, null or email", key, mc.Method)
	}
	return m, nil
}

// forDerived is the method for an expression of a masked column: methods
// that keep part of the value (partial, email) would keep part of whatever
// the expression put there (`ssn || '@x'` under email), so they redact.
func (m *maskMethod) forDerived() *maskMethod {
	if m.kind == methodPartial || m.kind == methodEmail {
		return redactMethod
	}
	return m
}

// Shared replacement values. Engines must not modify returned slices.
var (
	stars     = []byte("****")
	zeroText  = []byte("0")
	jsonStars = []byte(`"****"`)
	zero2     = make([]byte, 2)
	zero4     = make([]byte, 4)
	zero8     = make([]byte, 8)
)

// redactValue is a type-correct stand-in: "****" for text, 0 for numbers,
// a JSON string for JSON, NULL where no value is sensible.
func redactValue(f *Field) []byte {
	switch f.Type {
	case TypeText:
		return stars
	case TypeInt, TypeFloat, TypeNumeric:
		if !f.Binary {
			return zeroText
		}
		// Zero is all zero bytes for big-endian ints and IEEE floats.
		if f.Type != TypeNumeric {
			switch f.Size {
			case 2:
				return zero2
			case 4:
				return zero4
			case 8:
				return zero8
			}
		}
		return nil
	case TypeJSON:
		if !f.Binary {
			return jsonStars
		}
	}
	return nil
}

// apply masks one non-NULL value. h is the caller's reusable HMAC (nil when
// no method hashes). New values are appended to *arena when it is not nil,
// so a row costs no allocation once the arena has grown; they stay valid
// until the arena is reset.
func (m *maskMethod) apply(f *Field, v []byte, h hash.Hash, arena *[]byte) []byte {
	var local []byte
	if arena == nil {
		arena = &local
	}
	start := len(*arena)
	switch m.kind {
	case methodNull:
		return nil
	case methodHash:
		if h == nil {
			return redactValue(f) // Columns builds h whenever a method hashes
		}
		var ok bool
		if *arena, ok = appendHash(*arena, f, v, h); !ok {
			return nil
		}
	case methodPartial:
		if f.Type != TypeText {
			return redactValue(f)
		}
		*arena = appendPartial(*arena, v, m.keep)
	case methodEmail:
		if f.Type != TypeText {
			return redactValue(f)
		}
		*arena = appendEmail(*arena, v)
	default:
		return redactValue(f)
	}
	return (*arena)[start:len(*arena):len(*arena)]
}

// partialText keeps the last n characters; a value not longer than n is
// fully redacted (keeping it all would reveal it).
func appendPartial(dst, v []byte, n int) []byte {
	if utf8.RuneCount(v) <= n {
		return append(dst, stars...)
	}
	cut := len(v)
	for i := 0; i < n; i++ {
		_, size := utf8.DecodeLastRune(v[:cut])
		cut -= size
	}
	dst = append(dst, stars...)
	return append(dst, v[cut:]...)
}

// emailText keeps the domain: alice@example.com -> ****@example.com.
func appendEmail(dst, v []byte) []byte {
	at := -1
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '@' {
			at = i
			break
		}
	}
	dst = append(dst, stars...)
	if at < 0 || at == len(v)-1 {
		return dst
	}
	return append(dst, v[at:]...)
}

// appendHash appends a keyed HMAC-SHA256 of v: 16 hex characters for
// text, a stable non-negative integer of the column's width for ints (and,
// in text format, numeric/float). ok=false: no sensible value (NULL).
func appendHash(dst []byte, f *Field, v []byte, h hash.Hash) ([]byte, bool) {
	h.Reset()
	h.Write(v)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	switch f.Type {
	case TypeText:
		return hex.AppendEncode(dst, sum[:8]), true
	case TypeInt, TypeNumeric, TypeFloat:
		u := binary.BigEndian.Uint64(sum[:8])
		size := f.Size
		if f.Type != TypeInt || size <= 0 {
			size = 4 // unknown width: fits every integer type
		}
		switch size {
		case 2:
			u &= 0x7fff
		case 4:
			u &= 0x7fffffff
		default:
			u &= 0x7fffffffffffffff
		}
		if !f.Binary {
			return strconv.AppendUint(dst, u, 10), true
		}
		switch {
		case f.Type != TypeInt:
			return dst, false
		case size == 2:
			return binary.BigEndian.AppendUint16(dst, uint16(u)), true
		case size == 4:
			return binary.BigEndian.AppendUint32(dst, uint32(u)), true
		}
		return binary.BigEndian.AppendUint64(dst, u), true
	}
	return dst, false
}

func newHMAC(key []byte) hash.Hash { return hmac.New(sha256.New, key) }
