package identity

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRevocationWatchPoll drives one watcher look by look: each newly
// revoked id is reported once, a missing file is an empty list, and a
// corrupt file reports nothing and is logged once until it is fixed.
func TestRevocationWatchPoll(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	w := &revocationWatch{r: newRevocations(dir), log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx := context.Background()
	now := time.Now()
	look := func(want ...string) {
		t.Helper()
		if got := w.poll(ctx); !slices.Equal(got, want) {
			t.Fatalf("poll = %q, want %q", got, want)
		}
	}
	revoke := func(id string) {
		t.Helper()
		if err := Revoke(dir, id, now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
	}

	look() // no file yet
	revoke("tok-a")
	look("tok-a")
	look() // reported once
	revoke("tok-c")
	revoke("tok-b")
	look("tok-b", "tok-c")
	look()

	path := filepath.Join(dir, RevocationFile)
	if err := os.WriteFile(path, []byte(`{"revoked": [{"jti": "tok-d"`), 0o600); err != nil {
		t.Fatal(err)
	}
	look()
	look()
	if n := strings.Count(logs.String(), "revocation list unreadable"); n != 1 {
		t.Fatalf("corrupt list logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), RevocationFile) {
		t.Fatalf("corrupt list log: %s", logs.String())
	}
	// Fixed by hand: only the id not seen before is new.
	fixed := `{"revoked": [{"jti": "tok-a"}, {"jti": "tok-b"}, {"jti": "tok-c"}, {"jti": "tok-d"}]}`
	if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	look("tok-d")
	if !strings.Contains(logs.String(), "revocation list readable again") {
		t.Fatalf("recovery not logged:\n%s", logs.String())
	}

	// A removed list is empty; an id listed again afterwards is new again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	look()
	revoke("tok-a")
	look("tok-a")
}

// TestRevocationWatchUnreadable: a list that cannot be read (a directory in
// its place) is logged, not fatal, and reports nothing.
func TestRevocationWatchUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, RevocationFile), 0o700); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w := &revocationWatch{r: newRevocations(dir), log: slog.New(slog.NewTextHandler(&logs, nil))}
	if got := w.poll(context.Background()); got != nil {
		t.Fatalf("poll = %q", got)
	}
	if !strings.Contains(logs.String(), "revocation list unreadable") {
		t.Fatalf("not logged: %s", logs.String())
	}
}
