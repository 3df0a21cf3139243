package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
)

// syncBuffer is a bytes.Buffer safe for the demo goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoRunsAndStopsCleanly runs `sluice demo` against real servers,
// uses the printed psql line, and stops it like Ctrl-C would.
func TestDemoRunsAndStopsCleanly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDemo(ctx, &out, dir, false) }()

	psqlLine := regexp.MustCompile(`psql "([^"]+)"`)
	deadline := time.Now().Add(3 * time.Minute)
	var dsn string
	for dsn == "" {
		if m := psqlLine.FindStringSubmatch(out.String()); m != nil {
			dsn = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("demo exited early: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("demo printed no psql line:\n%s", out.String())
		}
	}
	for _, want := range []string{"MySQL (target shop)", "SSH (target web1", "approvals --config", "Ctrl-C stops"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	res, err := exec.Command("psql", dsn, "-XAt", "-c", "SELECT email FROM users WHERE id = 1", "-c", "DROP TABLE orders").CombinedOutput()
	if !strings.Contains(string(res), "****@example.com") || !strings.Contains(string(res), "no-drops") {
		t.Errorf("psql through the demo gateway (err %v):\n%s", err, res)
	}
	if _, err := config.Load(filepath.Join(dir, "sluice.yaml")); err != nil {
		t.Errorf("the demo config does not load: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo stop: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo did not stop after cancel")
	}
	if !strings.Contains(out.String(), "recordings sealed") {
		t.Errorf("no stop message:\n%s", out.String())
	}
}
