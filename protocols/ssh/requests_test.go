package ssh

import (
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

func TestSplitUser(t *testing.T) {
	for _, c := range []struct {
		in, name, target string
		ok               bool
	}{
		{"alice+web1", "alice", "web1", true},
		{"alice", "", "", false},
		{"+web1", "", "", false},
		{"alice+", "", "", false},
		{"", "", "", false},
	} {
		n, tg, ok := splitUser(c.in)
		if n != c.name || tg != c.target || ok != c.ok {
			t.Errorf("splitUser(%q) = %q %q %v", c.in, n, tg, ok)
		}
	}
}

func TestEnvAllowed(t *testing.T) {
	for name, want := range map[string]bool{"LANG": true, "LC_ALL": true, "LC_CTYPE": true, "TERM": true,
		"LD_PRELOAD": false, "PATH": false, "GIT_SSH_COMMAND": false, "LCX": false} {
		if envAllowed(name) != want {
			t.Errorf("envAllowed(%q) = %v", name, !want)
		}
	}
}

func TestParsePtyClampsSize(t *testing.T) {
	p, err := parsePty(gossh.Marshal(ptyRequest{Term: "xterm", Columns: 1 << 30, Rows: 50}))
	if err != nil || p.Columns != maxTermDimension || p.Rows != 50 || p.Term != "xterm" {
		t.Fatalf("got %+v %v", p, err)
	}
	if _, err := parsePty([]byte{0, 0, 0, 9, 'x'}); err == nil {
		t.Fatal("a truncated pty-req parsed")
	}
}

// FuzzRequestPayloads feeds arbitrary payloads to every request decoder.
func FuzzRequestPayloads(f *testing.F) {
	f.Add(gossh.Marshal(ptyRequest{Term: "xterm-256color", Columns: 80, Rows: 24}))
	f.Add(gossh.Marshal(windowChange{Columns: 120, Rows: 40}))
	f.Add(gossh.Marshal(directTCPIP{Host: "10.0.0.1", Port: 5432, OrigHost: "127.0.0.1", OrigPort: 5555}))
	f.Add(gossh.Marshal(envRequest{Name: "LANG", Value: "C.UTF-8"}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := parsePty(b); err == nil && (p.Columns > maxTermDimension || p.Rows > maxTermDimension) {
			t.Fatal("pty size not clamped")
		}
		if w, err := parseWindowChange(b); err == nil && (w.Columns > maxTermDimension || w.Rows > maxTermDimension) {
			t.Fatal("window size not clamped")
		}
		_ = directTCPIPDest(b)
		var e envRequest
		_ = gossh.Unmarshal(b, &e)
		var x execRequest
		_ = gossh.Unmarshal(b, &x)
		_, _, _ = splitUser(string(b))
	})
}
