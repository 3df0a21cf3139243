package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/sluice-gw/sluice/session"
)

func FuzzDecodeQueryLine(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-11-22T00:15:03Z","statement":"select 1","duration_ns":5,"rows":1,"decision":"allow","sample":[["1"]]}`))
	f.Add([]byte(`{"seq":"x"}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := DecodeQueryLine(line)
		if err != nil {
			return
		}
		// Whatever decodes must render without panicking.
		r := newRenderer(session.Record{Identity: "a", Target: "t"})
		r.query(e)
	})
}

func FuzzDecodeCastLines(f *testing.F) {
	f.Add([]byte(`{"version":2,"width":80,"height":24}`), []byte(`[0.5,"o","hi\r\n"]`))
	f.Add([]byte(`{"version":1}`), []byte(`[1e400,"o",""]`))
	f.Add([]byte(`{"version":2,"width":-1,"height":24}`), []byte(`[-1,"i",null]`))
	f.Fuzz(func(t *testing.T, header, event []byte) {
		if h, err := DecodeCastHeader(header); err == nil && (h.Width <= 0 || h.Height <= 0 || h.Version != 2) {
			t.Fatalf("accepted bad header %+v", h)
		}
		ev, err := DecodeCastEvent(event)
		if err != nil {
			return
		}
		if ev.Time < 0 || ev.Type == "" {
			t.Fatalf("accepted bad event %+v", ev)
		}
		if _, err := ev.MarshalJSON(); err != nil {
			t.Fatalf("re-encode %+v: %v", ev, err)
		}
	})
}

// FuzzLineReader feeds arbitrary (possibly compressed, possibly cut) bytes
// to the recording reader: it must end cleanly, never panic or hang.
func FuzzLineReader(f *testing.F) {
	enc, _ := zstd.NewWriter(nil)
	good := enc.EncodeAll([]byte("{\"a\":1}\n{\"b\":2}\n"), nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(append(append([]byte{}, good...), good[:7]...))
	f.Add([]byte("not zstd"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "x.zst")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		lr, err := OpenLines(p)
		if err != nil {
			t.Fatal(err)
		}
		defer lr.Close()
		for i := 0; ; i++ {
			line, err := lr.Next()
			if err != nil {
				return
			}
			if bytes.Contains(line, []byte("\n")) {
				t.Fatal("line contains a newline")
			}
			if i > 1<<20 {
				t.Fatal("reader does not end")
			}
		}
	})
}

func TestLineReaderStopsAtTruncatedFrame(t *testing.T) {
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	data := enc.EncodeAll([]byte("one\ntwo\n"), nil)
	second := enc.EncodeAll([]byte("three\n"), nil)
	data = append(data, second[:len(second)-4]...)
	p := filepath.Join(t.TempDir(), "x.zst")
	os.WriteFile(p, data, 0o600)
	lr, err := OpenLines(p)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	var got []string
	for {
		line, err := lr.Next()
		if err != nil {
			break
		}
		got = append(got, string(line))
	}
	if len(got) < 2 || got[0] != "one" || got[1] != "two" || len(got) > 3 {
		t.Fatalf("lines %q", got)
	}
	if len(got) == 2 && lr.Damaged == nil {
		t.Fatal("truncated frame not reported")
	}
}
