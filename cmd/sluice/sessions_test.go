package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/replay"
	"github.com/sluice-gw/sluice/session"
)

// runCLI runs the root command with args and returns stdout and the error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue) || (err != nil && isCobraUsage(err))
}

// recordSessions writes two closed sessions into a fresh data dir and a
// config file pointing at it.
func recordSessions(t *testing.T) (dataDir, cfgPath string, db, shell session.Record) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	st, err := session.OpenStore(dataDir, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	s, err := st.Open(ctx, session.Info{Protocol: "postgres", Target: "appdb", Identity: "alice", ClientAddr: "127.0.0.1:1",
		AuthMethod: "gateway-token", CredentialID: "tok-abc"}, session.Recording{})
	if err != nil {
		t.Fatal(err)
	}
	s.LogQuery(session.QueryEvent{Seq: 1, Time: time.Now(), Statement: "SELECT 1", Tag: "SELECT 1", Rows: 1, Decision: "allow"})
	s.Close(session.StatusOK, nil)
	time.Sleep(2 * time.Millisecond)
	s2, err := st.Open(ctx, session.Info{Protocol: "ssh", Target: "web1", Identity: "bob"}, session.Recording{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s2.OpenCast(session.CastHeader{Width: 80, Height: 24})
	c.Output([]byte("$ whoami\r\ndeploy\r\n"))
	c.Close()
	s2.Close(session.StatusOK, nil)
	db, _ = st.Get(ctx, s.ID())
	shell, _ = st.Get(ctx, s2.ID())
	cfgPath = filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: "+dataDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dataDir, cfgPath, db, shell
}

func TestSessionsCommand(t *testing.T) {
	dataDir, cfgPath, db, shell := recordSessions(t)
	out, err := runCLI(t, "sessions", "--config", cfgPath)
	if err != nil {
		t.Fatalf("sessions: %v\n%s", err, out)
	}
	if !strings.Contains(out, db.ID) || !strings.Contains(out, shell.ID) || strings.Index(out, shell.ID) > strings.Index(out, db.ID) {
		t.Fatalf("table (newest first):\n%s", out)
	}
	out, err = runCLI(t, "sessions", "--data-dir", dataDir, "--protocol", "postgres", "--since", "1h", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var recs []session.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) != 1 || recs[0].ID != db.ID || recs[0].Queries != 1 {
		t.Fatalf("json %q: %v", out, err)
	}
	out, err = runCLI(t, "sessions", "--data-dir", dataDir, "--credential", "tok-abc", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) != 1 || recs[0].ID != db.ID {
		t.Fatalf("--credential json %q: %v", out, err)
	}
	out, _ = runCLI(t, "sessions", "--data-dir", dataDir, "--credential", "tok-other")
	if !strings.Contains(out, "(no sessions)") {
		t.Fatalf("--credential of another token: %s", out)
	}
	out, _ = runCLI(t, "sessions", "--data-dir", dataDir, "--user", "nobody")
	if !strings.Contains(out, "(no sessions)") {
		t.Fatalf("empty filter: %s", out)
	}
	for _, args := range [][]string{
		{"sessions"},
		{"sessions", "--config", cfgPath, "--data-dir", dataDir},
		{"sessions", "--data-dir", dataDir, "--since", "yesterday"},
		{"sessions", "--data-dir", dataDir, "--limit", "-1"},
		{"sessions", "--admin", "127.0.0.1:1"}, // no token in the environment
		{"sessions", "--config", filepath.Join(t.TempDir(), "missing.yaml")},
		{"replay", db.ID, "--data-dir", dataDir, "--export", "gif"},
		{"replay", db.ID, "--data-dir", dataDir, "--speed", "0"},
		{"verify"},
	} {
		t.Setenv("SLUICE_ADMIN_TOKEN", "")
		if _, err := runCLI(t, args...); !isUsage(err) {
			t.Errorf("%v: %v, want a usage error (exit 2)", args, err)
		}
	}
	if _, err := runCLI(t, "replay", "nope", "--data-dir", dataDir); err == nil || isUsage(err) {
		t.Errorf("replay of an unknown id: %v, want a runtime error", err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1h": now.Add(-time.Hour), "2d": now.AddDate(0, 0, -2), "2026-11-01T00:00:00Z": time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1h", "-2d", "1y"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q): want error", bad)
		}
	}
}

func TestReplayVerifyWatchCommands(t *testing.T) {
	dataDir, cfgPath, db, shell := recordSessions(t)
	out, err := runCLI(t, "replay", db.ID, "--config", cfgPath, "--export", "cast")
	if err != nil {
		t.Fatal(err)
	}
	s, err := replay.ReadCast(strings.NewReader(out))
	if err != nil {
		t.Fatalf("exported cast: %v\n%s", err, out)
	}
	if h := s.Header(); h.Version != 2 || !strings.Contains(h.Title, "alice@appdb") {
		t.Fatalf("header %+v", h)
	}
	out, err = runCLI(t, "replay", shell.ID, "--data-dir", dataDir, "--speed", "100", "--idle-limit", "10ms")
	if err != nil || !strings.Contains(out, "deploy") {
		t.Fatalf("replay play: %v\n%q", err, out)
	}
	out, err = runCLI(t, "verify", db.ID, "--config", cfgPath)
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = runCLI(t, "watch", shell.ID, "--data-dir", dataDir)
	if err != nil || !strings.Contains(out, "deploy") {
		t.Fatalf("watch of an ended session: %v\n%s", err, out)
	}

	// Tamper with the query log: verify must fail with a runtime error.
	p := filepath.Join(dataDir, filepath.FromSlash(session.Dir(db.ID)), session.QueryLogFile)
	b, _ := os.ReadFile(p)
	b[len(b)-2] ^= 0xff
	os.WriteFile(p, b, 0o600)
	out, err = runCLI(t, "verify", db.ID, "--data-dir", dataDir)
	if err == nil || isUsage(err) || !strings.Contains(out, "PROBLEM") {
		t.Fatalf("verify of a tampered record: %v\n%s", err, out)
	}
}

// TestVerifyWithSealKey: verify takes the seal key from --config
// (recording.seal_key) or $SLUICE_SEAL_KEY with --data-dir, and a wrong key
// fails verification.
func TestVerifyWithSealKey(t *testing.T) {
	const key = "0123456789abcdef-cli"
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	st, err := session.OpenStore(dataDir, session.Options{SealKey: []byte(key)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Open(context.Background(), session.Info{Protocol: "postgres", Target: "appdb", Identity: "alice"}, session.Recording{})
	if err != nil {
		t.Fatal(err)
	}
	s.LogQuery(session.QueryEvent{Seq: 1, Time: time.Now(), Statement: "SELECT 1", Decision: "allow"})
	s.Close(session.StatusOK, nil)
	st.Close()
	cfgPath := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: "+dataDir+"\nrecording: {seal_key: \"${SEAL}\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEAL", key)
	if out, err := runCLI(t, "verify", s.ID(), "--config", cfgPath); err != nil || !strings.Contains(out, ": ok") {
		t.Fatalf("verify with the key from --config: %v\n%s", err, out)
	}
	t.Setenv("SLUICE_SEAL_KEY", key)
	if out, err := runCLI(t, "verify", s.ID(), "--data-dir", dataDir); err != nil || strings.Contains(out, "warning") {
		t.Fatalf("verify with $SLUICE_SEAL_KEY: %v\n%s", err, out)
	}
	t.Setenv("SLUICE_SEAL_KEY", "another-key-0123456789")
	if out, err := runCLI(t, "verify", s.ID(), "--data-dir", dataDir); err == nil || !strings.Contains(out, "MAC does not match") {
		t.Fatalf("verify with a wrong key: %v\n%s", err, out)
	}
	t.Setenv("SLUICE_SEAL_KEY", "")
	if out, err := runCLI(t, "verify", s.ID(), "--data-dir", dataDir); err != nil || !strings.Contains(out, "MAC was not checked") {
		t.Fatalf("verify without a key: %v\n%s", err, out)
	}
}
