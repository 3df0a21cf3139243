package session

import (
	"encoding/json"
	"testing"
)

// TestCastEventEncodingMatchesJSON: the hand-written event encoder writes
// exactly what encoding/json writes for [elapsed, kind, data].
func TestCastEventEncodingMatchesJSON(t *testing.T) {
	for _, data := range []string{"", "hello\r\n", "\x00\x01\x1b[31mred\x1b[0m", "<&>\"\\", "é€𝄞", "\xff\xfe bad", "\u2028\u2029"} {
		for _, el := range []float64{0, 0.000001, 1.5, 12.345678, 86400.25} {
			want, _ := json.Marshal([]any{el, "o", data})
			got := appendCastEvent(nil, el, "o", data)
			if string(got) != string(want) {
				t.Errorf("%v %q:\n got %s\nwant %s", el, data, got, want)
			}
		}
	}
}

func FuzzCastEventEncoding(f *testing.F) {
	f.Add(1.25, "o", "text\r\n\x1b[0m")
	f.Fuzz(func(t *testing.T, el float64, kind, data string) {
		if el < 0 || el > 1e9 || el != el {
			return
		}
		want, err := json.Marshal([]any{el, kind, data})
		if err != nil {
			return
		}
		if got := appendCastEvent(nil, el, kind, data); string(got) != string(want) {
			t.Fatalf("got %s want %s", got, want)
		}
	})
}

func TestBinaryChunkDetection(t *testing.T) {
	for in, want := range map[string]bool{
		"ls -la\r\ntotal 0\r\n":          false,
		"\x1b[31mred\x1b[0m\r\n":         false,
		"é€ text":                        false,
		string(make([]byte, 4096)):       true,
		"\xff\xfe\xfd binary":            true,
		"a\x00b\x00c\x00d\x00e\x00f\x00": true,
	} {
		if got := binaryChunk([]byte(in)); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}
