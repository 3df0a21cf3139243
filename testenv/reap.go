package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// staleAfter is how old a server dir without a live process must be before
// it is removed. Generous, so a server still starting is never touched.
const staleAfter = 10 * time.Minute

// serverPIDFiles maps each dir prefix to its server's pid file: a dir whose
// process is gone was left by a test binary that died without Stop.
var serverPIDFiles = map[string]string{
	"sluice-pg-":        "data/postmaster.pid",
	"sluice-mariadb-":   "mariadbd.pid",
	"sluice-sshd-":      "sshd.pid",
	"sluice-pgbouncer-": "pgbouncer.pid",
}

// reapStale removes server dirs left behind by crashed test runs, so a
// shared machine's temp dir does not fill up with data directories.
// Errors are ignored: reaping is housekeeping, never a reason to fail.
func reapStale() {
	for _, parent := range []string{os.TempDir(), "/tmp"} {
		for prefix, pidFile := range serverPIDFiles {
			dirs, _ := filepath.Glob(filepath.Join(parent, prefix+"*"))
			for _, dir := range dirs {
				st, err := os.Stat(dir)
				if err != nil || !st.IsDir() || time.Since(st.ModTime()) < staleAfter {
					continue
				}
				if pidAlive(filepath.Join(dir, pidFile)) {
					continue
				}
				_ = os.RemoveAll(dir)
			}
		}
	}
}

// pidAlive reports whether the pid in the file's first line is a running
// process; a missing or unreadable file counts as not alive.
func pidAlive(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return false
	}
	// Signal 0 checks existence; EPERM still means the process exists.
	err = syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
