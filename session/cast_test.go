package session

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// castEvents decodes a cast file into its header and events, checking each
// line is valid JSON.
func castEvents(t *testing.T, path string) (castHeaderLine, [][3]any) {
	t.Helper()
	lines := readLines(t, path)
	if len(lines) == 0 {
		t.Fatal("empty cast")
	}
	var h castHeaderLine
	if err := json.Unmarshal(lines[0], &h); err != nil {
		t.Fatalf("header %q: %v", lines[0], err)
	}
	var evs [][3]any
	for _, l := range lines[1:] {
		if !json.Valid(l) {
			t.Fatalf("invalid JSON line %q", l)
		}
		var ev [3]any
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatalf("event %q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	return h, evs
}

func TestCastSplitsUTF8AcrossWrites(t *testing.T) {
	st := openTestStore(t, time.Hour)
	s := openTestSession(t, st, Info{Protocol: "ssh", Target: "web1", Identity: "alice"}, Recording{})
	const text = "héllo 世界 🙂 done\r\n"
	// Split the text at every byte boundary, in separate casts.
	for cut := 0; cut <= len(text); cut++ {
		c, err := s.OpenCast(CastHeader{Width: 100, Height: 30, Env: map[string]string{"TERM": "xterm"}, Title: "alice@web1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Output([]byte(text[:cut])); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(text[cut:])); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Output([]byte("late")); err == nil {
			t.Fatal("Output after Cast.Close: want error")
		}
	}
	s.Close(StatusOK, nil)
	for cut := 0; cut <= len(text); cut++ {
		h, evs := castEvents(t, sessionFile(st, s, castName(cut+1)))
		if h.Version != 2 || h.Width != 100 || h.Height != 30 || h.Env["TERM"] != "xterm" || h.Title != "alice@web1" || h.Timestamp == 0 {
			t.Fatalf("header %+v", h)
		}
		var got strings.Builder
		for _, ev := range evs {
			if ev[1] != "o" {
				t.Fatalf("event type %v", ev[1])
			}
			if _, ok := ev[0].(float64); !ok {
				t.Fatalf("elapsed %v", ev[0])
			}
			got.WriteString(ev[2].(string))
		}
		if got.String() != text {
			t.Fatalf("cut %d: output %q, want %q", cut, got.String(), text)
		}
	}
	r, _ := st.Get(t.Context(), s.ID())
	if len(r.Files) != 1+len(text)+1 { // events log + one cast per cut
		t.Fatalf("files %v", r.Files)
	}
}

func castName(n int) string { return "cast-" + itoa(n) + ".cast.zst" }

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestCastInvalidUTF8StaysValidJSON(t *testing.T) {
	st := openTestStore(t, time.Hour)
	s := openTestSession(t, st, Info{Protocol: "ssh", Target: "web1", Identity: "alice"}, Recording{RecordInput: true})
	c, err := s.OpenCast(CastHeader{})
	if err != nil {
		t.Fatal(err)
	}
	c.Output([]byte("a\xffb\xc3")) // invalid byte, then a trailing half rune
	c.Input([]byte("pw\n"))
	c.Resize(120, 40)
	c.Marker("blocked: rm -rf /")
	c.Close() // the held-back half rune is written at Close
	s.Close(StatusOK, nil)
	h, evs := castEvents(t, sessionFile(st, s, castName(1)))
	if h.Width != 80 || h.Height != 24 {
		t.Fatalf("default size %+v", h)
	}
	// Invalid UTF-8 is kept losslessly as base64 "ob" events (replay turns
	// them back into "o"); the file stays valid JSON either way.
	want := [][2]string{{"ob", "Yf9i"}, {"i", "pw\n"}, {"r", "120x40"}, {"m", "blocked: rm -rf /"}, {"ob", "ww=="}}
	if len(evs) != len(want) {
		t.Fatalf("events %v", evs)
	}
	for i, w := range want {
		if evs[i][1] != w[0] || evs[i][2] != w[1] {
			t.Fatalf("event %d = %v, want %v", i, evs[i], w)
		}
		if !utf8.ValidString(evs[i][2].(string)) {
			t.Fatalf("event %d not UTF-8", i)
		}
	}
}

func TestCastInputOffByDefault(t *testing.T) {
	st := openTestStore(t, time.Hour)
	s := openTestSession(t, st, Info{Protocol: "ssh", Target: "web1", Identity: "alice"}, Recording{})
	c, _ := s.OpenCast(CastHeader{Command: "uptime"})
	c.Input([]byte("secret password\n"))
	c.Output([]byte("up 3 days\n"))
	c.Close()
	s.Close(StatusOK, nil)
	h, evs := castEvents(t, sessionFile(st, s, castName(1)))
	if h.Command != "uptime" || len(evs) != 1 || evs[0][1] != "o" {
		t.Fatalf("header %+v events %v: input must not be recorded by default", h, evs)
	}
}

func TestCompleteUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{{"", 0}, {"abc", 3}, {"a\xc3", 1}, {"a\xc3\xa9", 3}, {"\xe4\xb8", 0}, {"\xf0\x9f\x99", 0}, {"\xf0\x9f\x99\x82", 4}, {"\xff", 1}, {"a\x80\x80\x80\x80", 5}} {
		if got := completeUTF8([]byte(tc.in)); got != tc.want {
			t.Errorf("completeUTF8(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
