package mysql

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/session"
)

// The policy classifies LOAD DATA as kind "copy" (Postgres COPY FROM's twin).
func TestLoadDataLocalAllowedByRule(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: `    rules:
      - {name: imports, when: {sql: [copy], tables: [orders]}, action: allow}
`})
	file := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(file, []byte("200,9,5\n201,9,6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stmt := fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE orders FIELDS TERMINATED BY ','", file)
	_, errOut, code := g.runCLI(t, "alice", aliceToken, []string{"--skip-ssl", "--local-infile=1"}, stmt)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	out, _, _ := g.runCLI(t, "alice", aliceToken, []string{"--skip-ssl"}, "SELECT COUNT(*) FROM orders WHERE user_id = 9; DELETE FROM orders WHERE user_id = 9")
	if !strings.Contains(out, "\n2") {
		t.Fatalf("rows not loaded: %s", out)
	}
}

func TestReviewCancelledWhenClientLeaves(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	db := g.open(t, "alice", aliceToken, "")
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := db.ExecContext(ctx, "DELETE FROM orders"); errc <- err }()
	waitFor(t, "request filed", func() bool { return len(g.broker.Pending()) == 1 })
	// go-sql-driver closes the connection when the context is cancelled.
	cancel()
	<-errc
	waitFor(t, "request cancelled", func() bool { return len(g.broker.Pending()) == 0 })
	var n int
	if err := g.open(t, "alice", aliceToken, "").QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n != 3 {
		t.Fatalf("orders = %d, %v", n, err)
	}
}

func TestAdminKillEndsSession(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	db := g.open(t, "alice", aliceToken, "")
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	var id string
	waitFor(t, "active session", func() bool {
		recs, err := g.store.List(context.Background(), session.Filter{Status: session.StatusActive})
		if err != nil || len(recs) == 0 {
			return false
		}
		id = recs[0].ID
		return true
	})
	if !g.store.Kill(id, "test says so") {
		t.Fatal("session not live")
	}
	waitFor(t, "killed status", func() bool {
		r, err := g.store.Get(context.Background(), id)
		return err == nil && r.Status == session.StatusKilled
	})
	if r, err := g.store.Get(context.Background(), id); err != nil || !strings.Contains(r.Error, "test says so") {
		t.Fatalf("killed record without the reason: %+v %v", r, err)
	}
	db.SetMaxIdleConns(0) // the dead connection must not be reused
	if err := db.QueryRow("SELECT 1").Err(); err != nil {
		t.Fatalf("a new session after the kill: %v", err)
	}
}

func TestLongDataParameter(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	// A small maxAllowedPacket makes go-sql-driver send big arguments with
	// COM_STMT_SEND_LONG_DATA.
	db := g.open(t, "alice", aliceToken, "interpolateParams=false&maxAllowedPacket=4096")
	blob := bytes.Repeat([]byte("z"), 10000)
	var n int
	if err := db.QueryRow("SELECT LENGTH(?)", blob).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(blob) {
		t.Fatalf("LENGTH = %d", n)
	}
	g.eventsWith(t, "long-data execution", func(e session.QueryEvent) bool {
		return e.Statement == "SELECT LENGTH(?)" && len(e.Params) == 1 && e.Params[0] == "<long data>"
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQueryLogTagsAndParams(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	if err := db.QueryRow("SELECT name FROM users WHERE id = ? /* app='web',route='checkout' */", 2).Scan(new(string)); err != nil {
		t.Fatal(err)
	}
	g.eventsWith(t, "execution with tags, params, rows and sample", func(e session.QueryEvent) bool {
		return strings.HasPrefix(e.Statement, "SELECT name FROM users") && e.Tags["app"] == "web" &&
			e.Tags["route"] == "checkout" && len(e.Params) == 1 && e.Params[0] == "2" && e.Rows == 1 &&
			len(e.Sample) == 1 && e.Sample[0][0] == "Bo" && e.Decision == "allow"
	})
}
