package policy

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

func method(t *testing.T, name string, keep int) *maskMethod {
	t.Helper()
	m, err := compileMethod("m", config.Mask{Method: name, Keep: keep}, []byte("k3y"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMaskMethods(t *testing.T) {
	text := Field{Type: TypeText, Size: -1}
	int4txt := Field{Type: TypeInt, Size: 4}
	int4bin := Field{Type: TypeInt, Size: 4, Binary: true}
	int8bin := Field{Type: TypeInt, Size: 8, Binary: true}
	int2bin := Field{Type: TypeInt, Size: 2, Binary: true}
	f8bin := Field{Type: TypeFloat, Size: 8, Binary: true}
	numTxt := Field{Type: TypeNumeric, Size: -1}
	numBin := Field{Type: TypeNumeric, Size: -1, Binary: true}
	boolF := Field{Type: TypeBool, Size: 1}
	ts := Field{Type: TypeTime, Size: 8}
	jsonTxt := Field{Type: TypeJSON, Size: -1}
	h := newHMAC([]byte("k3y"))
	cases := []struct {
		m    string
		keep int
		f    Field
		in   string
		want []byte // nil = SQL NULL
	}{
		{"redact", 0, text, "alice@example.com", []byte("****")},
		{"redact", 0, int4txt, "12345", []byte("0")},
		{"redact", 0, int4bin, "\x00\x00\x30\x39", []byte{0, 0, 0, 0}},
		{"redact", 0, int8bin, "12345678", make([]byte, 8)},
		{"redact", 0, int2bin, "\x01\x02", []byte{0, 0}},
		{"redact", 0, f8bin, "12345678", make([]byte, 8)},
		{"redact", 0, numTxt, "12.50", []byte("0")},
		{"redact", 0, numBin, "xxxx", nil},
		{"redact", 0, boolF, "t", nil},
		{"redact", 0, ts, "2024-01-01", nil},
		{"redact", 0, jsonTxt, `{"a":1}`, []byte(`"****"`)},
		{"partial", 4, text, "4111111111111111", []byte("****1111")},
		{"partial", 4, text, "abc", []byte("****")},
		{"partial", 4, text, "abcd", []byte("****")},
		{"partial", 2, text, "héllo wörld", []byte("****ld")},
		{"partial", 2, text, "xxöé", []byte("****öé")},
		{"partial", 4, int4txt, "12345", []byte("0")},
		{"email", 0, text, "alice@example.com", []byte("****@example.com")},
		{"email", 0, text, "not-an-email", []byte("****")},
		{"email", 0, text, "trailing@", []byte("****")},
		{"email", 0, int4txt, "5", []byte("0")},
		{"null", 0, text, "x", nil},
		{"null", 0, int4bin, "\x00\x00\x00\x01", nil},
	}
	for _, c := range cases {
		m := method(t, c.m, c.keep)
		f := c.f
		got := m.apply(&f, []byte(c.in), h, nil)
		if (got == nil) != (c.want == nil) || !bytes.Equal(got, c.want) {
			t.Errorf("%s %+v %q: got %q, want %q", c.m, c.f, c.in, got, c.want)
		}
	}
}

func TestHashMethod(t *testing.T) {
	m := method(t, "hash", 0)
	h := newHMAC(m.key)
	text := Field{Type: TypeText, Size: -1}
	a1 := m.apply(&text, []byte("alice@example.com"), h, nil)
	a2 := m.apply(&text, []byte("alice@example.com"), h, nil)
	b := m.apply(&text, []byte("bob@example.com"), h, nil)
	if len(a1) != 16 || !bytes.Equal(a1, a2) || bytes.Equal(a1, b) {
		t.Fatalf("text hash not stable/distinct: %q %q %q", a1, a2, b)
	}
	other, _ := compileMethod("m", config.Mask{Method: "hash"}, []byte("other-key"))
	if bytes.Equal(other.apply(&text, []byte("alice@example.com"), newHMAC(other.key), nil), a1) {
		t.Fatal("hash ignores the key")
	}
	for _, size := range []int16{2, 4, 8} {
		f := Field{Type: TypeInt, Size: size, Binary: true}
		v := m.apply(&f, []byte{0, 0, 0, 0, 0, 0, 0, 42}[:size], h, nil)
		if len(v) != int(size) {
			t.Fatalf("binary int%d hash has %d bytes", size, len(v))
		}
		if v[0]&0x80 != 0 {
			t.Fatalf("binary int%d hash is negative", size)
		}
	}
	f := Field{Type: TypeInt, Size: 2}
	v := m.apply(&f, []byte("42"), h, nil)
	if n := parseUint(t, v); n > 32767 {
		t.Fatalf("int2 text hash %d out of range", n)
	}
	f4 := Field{Type: TypeInt, Size: 4, Binary: true}
	x := m.apply(&f4, []byte{0, 0, 0, 42}, h, nil)
	y := m.apply(&f4, []byte{0, 0, 0, 42}, h, nil)
	if binary.BigEndian.Uint32(x) != binary.BigEndian.Uint32(y) {
		t.Fatal("int hash not stable")
	}
	bf := Field{Type: TypeBool}
	if m.apply(&bf, []byte("t"), h, nil) != nil {
		t.Fatal("bool hash should be NULL")
	}
}

func parseUint(t *testing.T, b []byte) uint64 {
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", b)
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

func TestDerivedMethods(t *testing.T) {
	// An expression under a method that keeps part of the value redacts.
	p := testPolicy(t, config.Policy{Masks: []config.Mask{{Columns: []string{"users.email"}, Method: "email"}}})
	d := p.CheckSQL(Postgres, alice, "SELECT email, ssn || '@' || email AS x FROM users")
	rm := d.Mask.Columns(textFields("email", "x"))
	vals := [][]byte{[]byte("alice@example.com"), []byte("123-45-6789@alice@example.com")}
	rm.MaskRow(vals)
	if string(vals[0]) != "****@example.com" || string(vals[1]) != "****" {
		t.Fatalf("got %q %q", vals[0], vals[1])
	}
}

func TestMaskRowNullsAndShortRows(t *testing.T) {
	p := maskPolicy(t, "mask")
	d := p.CheckSQL(Postgres, alice, "SELECT id, email, ssn FROM users")
	rm := d.Mask.Columns(textFields("id", "email", "ssn"))
	vals := [][]byte{[]byte("1"), nil, []byte("123456789")}
	names := rm.MaskRow(vals)
	if vals[1] != nil || string(vals[2]) != "****6789" || string(vals[0]) != "1" {
		t.Fatalf("got %q", vals)
	}
	if len(names) != 2 || names[0] != "email" || names[1] != "ssn" {
		t.Fatalf("names %v", names)
	}
	rm.MaskRow([][]byte{[]byte("1")}) // shorter than the fields: no panic
	var none *RowMasker
	if none.MaskRow(vals) != nil {
		t.Fatal("nil masker")
	}
	var noMask *ResultMask
	if noMask.Columns(textFields("a")) != nil {
		t.Fatal("nil mask")
	}
}

func TestMaskRowArenaKeepsValuesApart(t *testing.T) {
	p := maskPolicy(t, "mask")
	d := p.CheckSQL(Postgres, alice, "SELECT u.email, p.ssn, a.iban FROM users u, people p, accounts a")
	rm := d.Mask.Columns(textFields("email", "ssn", "iban"))
	for i := 0; i < 3; i++ { // the buffer is reused across rows
		row := [][]byte{[]byte("alice@example.com"), []byte("123456789"), []byte("DE89370400440532013000")}
		rm.MaskRow(row)
		if string(row[0]) != "****@example.com" || string(row[1]) != "****6789" || len(row[2]) != 16 {
			t.Fatalf("row %d: %q", i, row)
		}
		row[0] = append(row[0], 'X') // an engine appending must not clobber the next value
		if string(row[1]) != "****6789" {
			t.Fatalf("values share memory: %q", row)
		}
	}
}
