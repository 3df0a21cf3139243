package mysql

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// Fuzz targets for every decoder of bytes a client or upstream sends. Each
// must return an error, never panic, on any input; the round-trip targets
// also check that what decodes re-encodes to the same bytes.

func FuzzHandshakeResponse(f *testing.F) {
	caps := gm.CLIENT_PROTOCOL_41 | gm.CLIENT_SECURE_CONNECTION | gm.CLIENT_PLUGIN_AUTH |
		gm.CLIENT_CONNECT_WITH_DB | gm.CLIENT_CONNECT_ATTRS | gm.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
	var p []byte
	p = binary.LittleEndian.AppendUint32(p, caps)
	p = append(p, 0, 0, 0, 1, 45)
	p = append(p, make([]byte, 23)...)
	p = append(p, "alice\x00"...)
	p = append(p, 20)
	p = append(p, bytes.Repeat([]byte{7}, 20)...)
	p = append(p, "shop\x00caching_sha2_password\x00"...)
	p = append(p, 0x0c, 3, 'k', '1', 'x', 3, 'k', '2', 'y', 0, 0, 0)
	f.Add(p)
	f.Add(p[:32])
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0xa5, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseHandshakeResponse(b)
	})
}

func FuzzColumnDef(f *testing.F) {
	var p []byte
	for _, s := range []string{"def", "shop", "u", "users", "email", "email"} {
		p = appendLenEncString(p, []byte(s))
	}
	p = append(p, 0x0c, 45, 0, 0, 1, 0, 0, gm.MYSQL_TYPE_VAR_STRING, 0, 0, 0, 0, 0)
	f.Add(p)
	f.Add([]byte{0xfe, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseColumnDef(b)
	})
}

func FuzzTextRow(f *testing.F) {
	f.Add([]byte{3, 'A', 'd', 'a', 0xfb, 0}, 3)
	f.Add([]byte{0xfc, 1, 0, 'x'}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		n = n % 64
		if n < 0 {
			n = -n
		}
		vals, err := decodeTextRow(b, n, nil)
		if err != nil {
			return
		}
		if got := appendTextRow(nil, vals); len(vals) > 0 && !bytes.Equal(got, b) && canonicalLenEnc(b) {
			t.Fatalf("text row round trip: %x -> %x", b, got)
		}
	})
}

// canonicalLenEnc reports whether b uses only the shortest length
// encodings, the only ones a round trip can reproduce.
func canonicalLenEnc(b []byte) bool {
	for len(b) > 0 {
		if b[0] == 0xfb {
			b = b[1:]
			continue
		}
		v, _, n, err := readLenEncInt(b)
		if err != nil || len(gm.AppendLengthEncodedInteger(nil, v)) != n || uint64(len(b)-n) < v {
			return false
		}
		b = b[n+int(v):]
	}
	return true
}

// fuzzCols is a result shape with every kind of binary encoding.
var fuzzCols = []columnDef{
	{Type: gm.MYSQL_TYPE_LONG}, {Type: gm.MYSQL_TYPE_VAR_STRING}, {Type: gm.MYSQL_TYPE_DATETIME},
	{Type: gm.MYSQL_TYPE_DOUBLE}, {Type: gm.MYSQL_TYPE_TIME}, {Type: gm.MYSQL_TYPE_TINY},
	{Type: gm.MYSQL_TYPE_NEWDECIMAL}, {Type: gm.MYSQL_TYPE_SHORT}, {Type: gm.MYSQL_TYPE_NULL},
}

func FuzzBinaryRow(f *testing.F) {
	// Header, then a 2-byte NULL bitmap (9 columns + 2-bit offset): only
	// column 9 (the NULL type) is NULL.
	row := []byte{0x00, 0x00, 0x08}
	row = binary.LittleEndian.AppendUint32(row, 42)
	row = appendLenEncString(row, []byte("hi"))
	row = append(row, 7, 0xe9, 0x07, 1, 2, 3, 4, 5)
	row = binary.LittleEndian.AppendUint64(row, 0x3ff8000000000000)
	row = append(row, 8, 0, 1, 0, 0, 0, 2, 3, 4)
	row = append(row, 0xff)
	row = appendLenEncString(row, []byte("10.25"))
	row = append(row, 1, 0)
	f.Add(row)
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := decodeBinaryRow(b, fuzzCols, nil)
		if err != nil {
			return
		}
		for i, v := range vals {
			if v != nil {
				_ = formatBinaryValue(fuzzCols[i], v)
			}
		}
		got := appendBinaryRow(nil, fuzzCols, vals)
		again, err := decodeBinaryRow(got, fuzzCols, nil)
		if err != nil {
			t.Fatalf("re-encoded row does not decode: %v", err)
		}
		for i := range vals {
			if !bytes.Equal(vals[i], again[i]) || (vals[i] == nil) != (again[i] == nil) {
				t.Fatalf("column %d: %x != %x", i, vals[i], again[i])
			}
		}
	})
}

func FuzzExecuteParams(f *testing.F) {
	p := []byte{gm.COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0}
	p = append(p, 0x00, 1) // null bitmap for 3 params, new-params-bound
	p = append(p, gm.MYSQL_TYPE_LONGLONG, 0, gm.MYSQL_TYPE_VAR_STRING, 0, gm.MYSQL_TYPE_DATE, 0)
	p = binary.LittleEndian.AppendUint64(p, 7)
	p = appendLenEncString(p, []byte("x"))
	p = append(p, 4, 0xe9, 0x07, 1, 2)
	f.Add(p, 3)
	f.Add(p[:10], 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		n = n % 300
		if n < 0 {
			n = -n
		}
		_, _, _ = decodeExecuteParams(b, n, nil, nil)
	})
}

func FuzzOKAndErr(f *testing.F) {
	f.Add(appendOK(nil, hdrOK, 3, gm.SERVER_MORE_RESULTS_EXISTS))
	f.Add(appendErr(nil, 1045, "28000", "denied"))
	f.Add([]byte{0xfe, 0, 0, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = okStatus(b, true)
		_, _ = okStatus(b, false)
		_ = okAffectedRows(b)
		_, _ = parseErr(b)
		_ = isTerminator(b)
	})
}

func FuzzPacketReader(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0x0e})
	f.Add([]byte{0xff, 0xff, 0xff, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var seq uint8
		r := newPacketReader(bytes.NewReader(b), 1<<16, &seq)
		for range 8 {
			p, err := r.Read()
			if err != nil {
				return
			}
			if len(p) > 1<<16 {
				t.Fatalf("packet of %d bytes passed a 64 KiB limit", len(p))
			}
		}
	})
}

func TestKillParse(t *testing.T) {
	for _, c := range []struct {
		sql               string
		ok, unsupp, query bool
		id                uint32
	}{
		{"KILL QUERY 12", true, false, true, 12},
		{"kill 7;", true, false, false, 7},
		{"KILL CONNECTION 3", true, false, false, 3},
		{"KILL HARD QUERY ID 9", true, false, true, 9},
		{"KILL USER bob", true, true, false, 0},
		{"/* x */ KILL QUERY 1", true, true, false, 0},
		{"SELECT 'KILL 1'", false, false, false, 0},
		// Anywhere the server would run it, a KILL is refused unless it
		// is the one mapped form.
		{"SELECT 1; KILL 5", true, true, false, 0},
		{"SELECT 1;kill 5", true, true, false, 0},
		{"-- note\nKILL 5", true, true, false, 0},
		{"# note\nKILL 5", true, true, false, 0},
		{"/*! KILL 5 */", true, true, false, 0},
		{"/*!50000KILL 5 */", true, true, false, 0},
		{"/*M!100000 KILL 5 */", true, true, false, 0},
		{`SELECT 'a\' KILL 5 -- '`, true, true, false, 0}, // NO_BACKSLASH_ESCAPES: the literal ends at \'
		{"SELECT \"a\"\"b\" ; KILL 5", true, true, false, 0},
		// Not code: literals, quoted identifiers, comments, longer words.
		{"SELECT `kill` FROM t", false, false, false, 0},
		{"SELECT \"kill\"", false, false, false, 0},
		{`SELECT 'it''s KILL 1'`, false, false, false, 0},
		{"SELECT skill, killed FROM t", false, false, false, 0},
		{"/* KILL 5 */ SELECT 1", false, false, false, 0},
		{"SELECT 1 -- KILL 5", false, false, false, 0},
		{"SELECT 1 # KILL 5", false, false, false, 0},
		{"SELECT 1 /*+ KILL 5 */", false, false, false, 0},
		{"SELECT 1--1", false, false, false, 0},
	} {
		k, ok, unsupp := parseKill(c.sql)
		if ok != c.ok || unsupp != c.unsupp || (ok && !unsupp && (k.query != c.query || k.id != c.id)) {
			t.Errorf("%q: got %+v ok=%v unsupported=%v", c.sql, k, ok, unsupp)
		}
	}
}

// FuzzMentionsKill: the KILL scan never panics, finds nothing in a text
// without the letters, and agrees with parseKill.
func FuzzMentionsKill(f *testing.F) {
	for _, s := range []string{"KILL 5", "SELECT 1; KILL 5", "/*! KILL 5 */", "/*M!1 kill 1*/", "-- x\nKILL 1",
		`SELECT 'a\' KILL 5 -- '`, "SELECT `kill`", "/* unterminated", "'unterminated", "/*!", "-", "--", "#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		got := mentionsKill(sql)
		if got && !strings.Contains(strings.ToLower(sql), "kill") {
			t.Fatalf("%q: KILL found in a text without one", sql)
		}
		_, ok, _ := parseKill(sql)
		if ok != got {
			t.Fatalf("%q: parseKill ok=%v, mentionsKill=%v", sql, ok, got)
		}
	})
}
