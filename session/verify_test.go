package session

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sealedSession records a session with several flushed chunks across files.
func sealedSession(t *testing.T) (*Store, *Session) {
	t.Helper()
	st := openTestStore(t, time.Hour)
	return st, sealedSessionIn(t, st)
}

func sealedSessionIn(t *testing.T, st *Store) *Session {
	t.Helper()
	s := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	for i := range 3 {
		s.LogQuery(QueryEvent{Seq: int64(i + 1), Time: time.Now(), Statement: "select 1", Decision: "allow"})
		s.LogEvent("policy", map[string]any{"n": i})
		s.flush()
	}
	if err := s.Close(StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func verify(t *testing.T, st *Store, s *Session) *VerifyReport {
	t.Helper()
	r, err := st.Verify(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyIntactRecord(t *testing.T) {
	st, s := sealedSession(t)
	r := verify(t, st, s)
	if !r.OK() || !r.Sealed || r.Chunks != 6 {
		t.Fatalf("intact record: %+v", r)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"flipped byte": func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)/2] ^= 0x01
			os.WriteFile(path, b, 0o600)
		},
		"truncated": func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()-3)
		},
		"appended": func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("extra"))
			f.Close()
		},
		"seal removed": func(t *testing.T, path string) {
			os.Remove(strings.Replace(path, QueryLogFile, SealFile, 1))
		},
		"chain tail dropped": func(t *testing.T, path string) {
			cp := strings.Replace(path, QueryLogFile, ChainFile, 1)
			b, _ := os.ReadFile(cp)
			lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
			os.WriteFile(cp, []byte(strings.Join(lines[:len(lines)-1], "")), 0o600)
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			st, s := sealedSession(t)
			tamper(t, sessionFile(st, s, QueryLogFile))
			r := verify(t, st, s)
			if r.OK() {
				t.Fatalf("%s not detected: %+v", name, r)
			}
			t.Logf("%s: %v", name, r.Problems)
		})
	}
}

func TestVerifyLiveSessionIsUnsealedButConsistent(t *testing.T) {
	st := openTestStore(t, time.Hour)
	s := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	s.LogQuery(QueryEvent{Seq: 1, Statement: "select 1", Decision: "allow"})
	s.flush()
	r := verify(t, st, s)
	if !r.OK() || r.Sealed || r.Chunks != 1 || len(r.Warnings) == 0 {
		t.Fatalf("live session: %+v", r)
	}
	s.Close(StatusOK, nil)
}

func TestConcurrentLoggingKeepsEveryLineAndChain(t *testing.T) {
	st := openTestStore(t, time.Millisecond)
	s := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	c, err := s.OpenCast(CastHeader{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				if err := s.LogQuery(QueryEvent{Seq: int64(g*1000 + i), Statement: "select 1", Decision: "allow"}); err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					c.Output([]byte("x"))
					s.LogEvent("tick", nil)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	c.Close()
	if err := s.Close(StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, e := range decodeQueries(t, readLines(t, sessionFile(st, s, QueryLogFile))) {
		seen[e.Seq] = true
	}
	if len(seen) != 4000 {
		t.Fatalf("read %d distinct queries, want 4000", len(seen))
	}
	if r := verify(t, st, s); !r.OK() || !r.Sealed || r.Chunks < 3 {
		t.Fatalf("verify: %+v", r)
	}
}

// TestVerifySealMAC: with recording.seal_key a seal rewritten consistently
// (here: its status) is detected, as is a MAC removed or made under another
// key; without the key verify says the MAC went unchecked.
func TestVerifySealMAC(t *testing.T) {
	key := []byte("0123456789abcdef-seal")
	st := openKeyedStore(t, key)
	s := sealedSessionIn(t, st)
	dir := filepath.Join(st.dir, sessionDir(s.ID()))
	rec, err := st.Get(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	sealPath := filepath.Join(dir, SealFile)
	orig, err := os.ReadFile(sealPath)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, key []byte, wantProblem, wantWarning string) {
		t.Helper()
		r := checkVerifyDir(t, name, dir, rec, key, wantProblem)
		if w := strings.Join(r.Warnings, "; "); !strings.Contains(w, wantWarning) {
			t.Errorf("%s: warnings %q, want %q", name, w, wantWarning)
		}
	}
	rewrite := func(edit func(*Seal)) {
		t.Helper()
		var seal Seal
		if err := json.Unmarshal(orig, &seal); err != nil {
			t.Fatal(err)
		}
		edit(&seal)
		b, _ := json.Marshal(seal)
		if err := os.WriteFile(sealPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	check("intact", key, "", "")
	check("intact, no key", nil, "", "MAC was not checked")
	check("intact, another key", []byte("another-key-0123456"), "MAC does not match", "")

	rewrite(func(s *Seal) { s.Status = StatusKilled })
	check("status rewritten", key, "MAC does not match", "")
	check("status rewritten, no key", nil, "", "MAC was not checked") // what the key is for

	rewrite(func(s *Seal) { s.MAC = "" })
	check("MAC removed", key, "has no MAC", "")
}

// TestVerifyChainMAC: with a seal key, every chain entry carries a MAC, so
// a record the gateway never sealed (killed mid-session) cannot be altered
// unnoticed by someone who rewrites chunk, chain links and all, without the key.
func TestVerifyChainMAC(t *testing.T) {
	key := []byte("0123456789abcdef-seal")
	st := openKeyedStore(t, key)
	s := openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, Recording{})
	for i := range 3 {
		s.LogQuery(QueryEvent{Seq: int64(i + 1), Time: time.Now(), Statement: "select 1", Decision: "allow"})
		s.flush()
	}
	// No Close: the record stays unsealed, as when the gateway is killed.
	dir := filepath.Join(st.dir, sessionDir(s.ID()))
	rec, err := st.Get(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	rec.Status = StatusFailed // what the index says after a crash
	check := func(name string, key []byte, wantProblem string) {
		t.Helper()
		if r := checkVerifyDir(t, name, dir, rec, key, wantProblem); r.Sealed {
			t.Errorf("%s: reported sealed", name)
		}
	}
	check("intact", key, "")
	check("another key", []byte("another-key-0123456"), "MAC does not match")

	// Rewrite the query log and recompute the chain as someone without the
	// key can: new frames, new links, MACs kept (or dropped).
	chainPath := filepath.Join(dir, ChainFile)
	origChain, _ := os.ReadFile(chainPath)
	entries, _, err := readChain(chainPath)
	if err != nil || len(entries) != 3 {
		t.Fatalf("chain: %v %d", err, len(entries))
	}
	forge := func(dropMACs bool) {
		t.Helper()
		logPath := filepath.Join(dir, entries[0].File)
		frame := st.enc.EncodeAll([]byte(`{"seq":1,"statement":"select 2","decision":"allow"}`+"\n"), nil)
		if err := os.WriteFile(logPath, frame, 0o600); err != nil {
			t.Fatal(err)
		}
		head := chainStart(rec.ID)
		head = chainNext(head, entries[0].File, 0, frame)
		e := entries[0]
		e.Length, e.Link = int64(len(frame)), hex.EncodeToString(head[:])
		if dropMACs {
			e.MAC = ""
		}
		line, _ := json.Marshal(e)
		if err := os.WriteFile(chainPath, append(line, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	forge(false)
	check("rewritten, MACs kept", key, "MAC does not match")
	forge(true)
	check("rewritten, MACs dropped", key, "carries no MAC")
	check("rewritten, no key", nil, "") // what the key is for
	os.WriteFile(chainPath, origChain, 0o600)
	s.Close(StatusOK, nil)
}

// checkVerifyDir verifies dir with key and fails unless its problems are
// none (wantProblem "") or include wantProblem.
func checkVerifyDir(t *testing.T, name, dir string, rec Record, key []byte, wantProblem string) *VerifyReport {
	t.Helper()
	r, err := VerifyDir(dir, rec, "", key)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(r.Problems, "; ")
	if (wantProblem == "") != r.OK() || !strings.Contains(got, wantProblem) {
		t.Errorf("%s: problems %q, want %q", name, got, wantProblem)
	}
	return r
}

// openKeyedStore opens a store with recording.seal_key set.
func openKeyedStore(t *testing.T, key []byte) *Store {
	t.Helper()
	st, err := OpenStore(filepath.Join(t.TempDir(), "data"), Options{FlushInterval: time.Hour, SealKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
