package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// psqlScript exercises \copy both ways, \d, a multi-statement line and a
// rolled-back transaction in one psql session.
const psqlScript = `\set ON_ERROR_STOP 1
CREATE TEMP TABLE t(a int, b text);
\copy t FROM '%[1]s/in.csv' WITH (FORMAT csv)
SELECT 'count=' || count(*) || ' sum=' || sum(a) FROM t;
\copy (SELECT a, b FROM t ORDER BY a) TO '%[1]s/out.csv' WITH (FORMAT csv)
\d users
BEGIN;
INSERT INTO t VALUES (100000, 'in tx');
SELECT 'in_tx=' || count(*) FROM t;
ROLLBACK;
SELECT 'after_rollback=' || count(*) FROM t;
SELECT 'first' \; SELECT 'second';
`

func TestPsqlScriptedSession(t *testing.T) {
	g := startGateway(t, "")
	dir := t.TempDir()
	var in strings.Builder
	for i := 1; i <= 5000; i++ {
		fmt.Fprintf(&in, "%d,\"row, %d\"\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.csv"), []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "s.sql")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(psqlScript, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := psqlRun(t, g.dsn("alice", aliceToken, ""), "-A", "-t", "-f", script)
	if code != 0 {
		t.Fatalf("psql exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"count=5000 sum=12502500",
		"email|text",          // \d users (unaligned)
		"in_tx=5001",          // inside the transaction
		"after_rollback=5000", // rolled back
		"first", "second",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("psql output lacks %q:\n%s", want, out)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "out.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != in.String() {
		t.Fatalf("\\copy TO wrote %d bytes, want the %d bytes copied in", len(got), in.Len())
	}
}

func TestPsqlCtrlCCancels(t *testing.T) {
	g := startGateway(t, "")
	su := superConn(t)
	psql := testenv.RequireBinary(t, "psql", "postgresql-client")
	const marker = "/* psql-ctrl-c */"
	cmd := exec.Command(psql, "-X", "-d", g.dsn("alice", aliceToken, ""), "-c", "select pg_sleep(30) "+marker)
	cmd.Env = append(os.Environ(), "PSQLRC=/dev/null")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	// The statement must be running upstream before the interrupt means anything.
	waitFor(t, 10*time.Second, "pg_sleep to run upstream", func() bool { return backendsActive(t, su, marker) == 1 })
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-waited
		t.Fatalf("psql still running 10s after Ctrl-C; stderr %q", errOut.String())
	}
	if !strings.Contains(errOut.String(), "canceling statement due to user request") {
		t.Fatalf("psql stderr %q", errOut.String())
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("cancel took %v", el)
	}
	waitFor(t, 5*time.Second, "the upstream backend to stop running pg_sleep", func() bool { return backendsActive(t, su, marker) == 0 })
}

// backendsActive counts upstream backends actively running a query containing marker.
func backendsActive(t testing.TB, su *pgx.Conn, marker string) int {
	t.Helper()
	var n int
	err := su.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = 'active' AND position($1 in query) > 0", marker).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPsqlInteractiveTmux(t *testing.T) {
	g := startGateway(t, "")
	tmux := testenv.RequireBinary(t, "tmux", "tmux")
	psql := testenv.RequireBinary(t, "psql", "postgresql-client")
	sock := fmt.Sprintf("sluice-pg-%d", os.Getpid())
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	shell := fmt.Sprintf("PSQLRC=/dev/null %s -X -d '%s'", psql, g.dsn("alice", aliceToken, "application_name=tmux-psql"))
	run("new-session", "-d", "-s", "psql", "-x", "160", "-y", "40", shell)
	t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
	pane := func() string { return run("capture-pane", "-p", "-t", "psql") }
	waitFor(t, 15*time.Second, "the psql prompt", func() bool { return strings.Contains(pane(), "app=>") })
	// \g, not ";": tmux reads a trailing ";" as its own command separator.
	run("send-keys", "-t", "psql", "-l", `SELECT 40 + 2 AS answer, current_user AS who \g`)
	run("send-keys", "-t", "psql", "Enter")
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pane:\n%s", last)
		}
	})
	waitFor(t, 15*time.Second, "the query result", func() bool {
		last = pane()
		return strings.Contains(last, "42") && strings.Contains(last, "(1 row)")
	})
	run("send-keys", "-t", "psql", "-l", `\q`)
	run("send-keys", "-t", "psql", "Enter")
	waitFor(t, 15*time.Second, "psql to quit", func() bool {
		return exec.Command(tmux, "-L", sock, "has-session", "-t", "psql").Run() != nil
	})
}

func TestPsqlTLSModes(t *testing.T) {
	g := startGateway(t, "")
	cert := filepath.Join(g.cfg.DataDir, "gateway-cert.pem")
	for _, mode := range []string{"sslmode=require", "sslmode=verify-full sslrootcert=" + cert} {
		dsn := strings.Replace(g.dsn("alice", aliceToken, mode), "sslmode=disable ", "", 1)
		out, errOut, code := psqlRun(t, dsn, "-A", "-t", "-c", "SELECT 'tls=' || (SELECT count(*) FROM users)")
		if code != 0 || !strings.Contains(out, "tls=5000") {
			t.Fatalf("%s: exit %d out %q err %q", mode, code, out, errOut)
		}
	}
	// Each psql above ended with Terminate: a clean end, whatever order the
	// gateway notices the two sides closing in.
	for i := 0; i < 10; i++ {
		if _, errOut, code := psqlRun(t, g.dsn("alice", aliceToken, ""), "-c", "SELECT 1"); code != 0 {
			t.Fatalf("psql: %s", errOut)
		}
	}
	waitFor(t, 10*time.Second, "sessions to close", func() bool {
		for _, r := range sessionStatuses(t, g) {
			if r.Status == session.StatusActive {
				return false
			}
		}
		return true
	})
	for _, r := range sessionStatuses(t, g) {
		if r.Status != session.StatusOK {
			t.Errorf("session %s after a clean psql exit: status %s (%s), want closed", r.ID, r.Status, r.Error)
		}
	}

	// verify-full against a certificate it does not trust fails.
	dsn := strings.Replace(g.dsn("alice", aliceToken, "sslmode=verify-full sslrootcert="+pg.CAFile), "sslmode=disable ", "", 1)
	_, errOut, code := psqlRun(t, dsn, "-c", "SELECT 1")
	if code == 0 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("verify-full with the wrong root: exit %d err %q", code, errOut)
	}
}

// TestPsqlCopyMaskedByName: psql's \copy of a whole table through a masked
// target masks only the masked columns (the gateway describes the table
// first), and psql notices nothing of it.
func TestPsqlCopyMaskedByName(t *testing.T) {
	g := startGateway(t, guardedYAML)
	out, errOut, code := psqlRun(t, g.dsn("alice", aliceToken, ""), "-A", "-t",
		"-c", `\copy users TO STDOUT`, "-c", "SELECT 'after=' || count(*) FROM users WHERE id <= 3")
	if code != 0 {
		t.Fatalf("psql exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	first, _, _ := strings.Cut(out, "\n")
	cols := strings.Split(first, "\t")
	if len(cols) != 6 || cols[0] != "1" || cols[1] != "User 1" || strings.Contains(cols[2], "@example") ||
		!strings.HasSuffix(cols[2], ".com") || strings.HasPrefix(cols[3], "101-") {
		t.Errorf("first row %q: want id and name in clear, e-mail and ssn masked", first)
	}
	if strings.Contains(out, "@example") {
		t.Error("\\copy output leaks an e-mail")
	}
	if !strings.Contains(out, "after=3") {
		t.Errorf("the session after \\copy:\n%s", out)
	}
}
