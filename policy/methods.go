package policy

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
// the method is not hash).
func (m *maskMethod) apply(f *Field, v []byte, h hash.Hash) []byte {
	switch m.kind {
	case methodNull:
		return nil
	case methodHash:
		return hashValue(f, v, h)
	case methodPartial:
		if f.Type == TypeText {
			return partialText(v, m.keep)
		}
	case methodEmail:
		if f.Type == TypeText {
			return emailText(v)
		}
	}
	return redactValue(f)
}

// partialText keeps the last n characters; a value not longer than n is
// fully redacted (keeping it all would reveal it).
func partialText(v []byte, n int) []byte {
	if utf8.RuneCount(v) <= n {
		return stars
	}
	cut := len(v)
	for i := 0; i < n; i++ {
		_, size := utf8.DecodeLastRune(v[:cut])
		cut -= size
	}
	out := make([]byte, 0, 4+len(v)-cut)
	out = append(out, stars...)
	return append(out, v[cut:]...)
}

// emailText keeps the domain: alice@example.com -> ****@example.com.
func emailText(v []byte) []byte {
	at := -1
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '@' {
			at = i
			break
		}
	}
	if at < 0 || at == len(v)-1 {
		return stars
	}
	out := make([]byte, 0, 4+len(v)-at)
	out = append(out, stars...)
	return append(out, v[at:]...)
}

// hashValue is a keyed HMAC-SHA256: 16 hex characters for text, a stable
// non-negative integer of the column's width for ints, NULL otherwise.
func hashValue(f *Field, v []byte, h hash.Hash) []byte {
	h.Reset()
	h.Write(v)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	switch f.Type {
	case TypeText:
		out := make([]byte, 16)
		hex.Encode(out, sum[:8])
		return out
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
			return strconv.AppendUint(nil, u, 10)
		}
		if f.Type != TypeInt {
			return nil
		}
		out := make([]byte, size)
		switch size {
		case 2:
			binary.BigEndian.PutUint16(out, uint16(u))
		case 4:
			binary.BigEndian.PutUint32(out, uint32(u))
		default:
			binary.BigEndian.PutUint64(out, u)
		}
		return out
	}
	return nil
}

func newHMAC(key []byte) hash.Hash { return hmac.New(sha256.New, key) }
