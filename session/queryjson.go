package session

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendQueryEvent appends e as JSON, byte-for-byte what encoding/json
// produces for QueryEvent (the struct tags are the schema), without
// reflection or allocation: LogQuery is on the database hot path.
// queryjson_test.go checks the equivalence, also under fuzzing.
func appendQueryEvent(b []byte, e *QueryEvent, omitParams bool) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","statement":`...)
	b = appendJSONString(b, e.Statement)
	if len(e.Params) > 0 && !omitParams {
		b = append(b, `,"params":`...)
		b = appendStringArray(b, e.Params)
	}
	b = append(b, `,"duration_ns":`...)
	b = strconv.AppendInt(b, int64(e.Duration), 10)
	b = append(b, `,"rows":`...)
	b = strconv.AppendInt(b, e.Rows, 10)
	b = appendOptString(b, `,"tag":`, e.Tag)
	b = appendOptString(b, `,"sqlstate":`, e.SQLState)
	b = appendOptString(b, `,"error":`, e.Error)
	b = append(b, `,"decision":`...)
	b = appendJSONString(b, e.Decision)
	b = appendOptString(b, `,"rule":`, e.Rule)
	b = appendOptString(b, `,"approval":`, e.Approval)
	b = appendOptString(b, `,"reviewer":`, e.Reviewer)
	b = appendOptString(b, `,"reason":`, e.Reason)
	if len(e.Masked) > 0 {
		b = append(b, `,"masked":`...)
		b = appendStringArray(b, e.Masked)
	}
	if len(e.Tags) > 0 {
		b = append(b, `,"tags":`...)
		b = appendStringMap(b, e.Tags)
	}
	if len(e.Columns) > 0 {
		b = append(b, `,"columns":`...)
		b = appendStringArray(b, e.Columns)
	}
	if len(e.Sample) > 0 {
		b = append(b, `,"sample":[`...)
		for i, row := range e.Sample {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendStringArray(b, row)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendOptString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, key...)
	return appendJSONString(b, v)
}

// appendStringArray encodes a []string; nil encodes as null like encoding/json.
func appendStringArray(b []byte, a []string) []byte {
	if a == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendStringMap encodes keys in sorted order, as encoding/json does.
func appendStringMap(b []byte, m map[string]string) []byte {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s the way encoding/json does with HTML escaping on:
// invalid UTF-8 becomes U+FFFD, <, > and & and U+2028/2029 are escaped.
func appendJSONString(b []byte, s string) []byte {
	b = slices.Grow(b, len(s)+2)
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
