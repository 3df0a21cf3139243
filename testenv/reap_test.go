package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestReapStale(t *testing.T) {
	old := time.Now().Add(-2 * staleAfter)
	mk := func(pid string) string {
		dir, err := os.MkdirTemp("", "sluice-mariadb-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if pid != "" {
			if err := os.WriteFile(filepath.Join(dir, "mariadbd.pid"), []byte(pid+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dead := mk("999999999")
	noPID := mk("")
	live := mk(strconv.Itoa(os.Getpid()))
	fresh, err := os.MkdirTemp("", "sluice-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(fresh) })

	reapStale()
	for dir, want := range map[string]bool{dead: false, noPID: false, live: true, fresh: true} {
		_, err := os.Stat(dir)
		if exists := err == nil; exists != want {
			t.Errorf("%s exists = %v, want %v", dir, exists, want)
		}
	}
}
