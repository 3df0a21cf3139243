package mysql

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/session"
)

const guardedPolicy = `    rules:
      - {name: no-drops, when: {sql: [drop, truncate]}, action: block}
      - {name: bulk-writes, when: {sql: [delete, update], without_where: true}, action: review}
      - {name: no-file-read, when: {functions: [load_file]}, action: block}
    masks:
      - {columns: [users.email, "*.ssn"], method: partial}
`

func TestBlockedStatementsEveryClient(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})

	// go-sql-driver: text protocol, then the prepared path; the connection
	// stays usable after a block.
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	db.SetMaxOpenConns(1)
	_, err := db.Exec("DROP TABLE orders")
	me := mysqlErr(t, err)
	if me.Number != 1142 || string(me.SQLState[:]) != "42000" || !strings.Contains(me.Message, "no-drops") {
		t.Fatalf("text block: %v (state %s)", me, me.SQLState)
	}
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("session unusable after a block: %v", err)
	}
	err = db.QueryRow("SELECT LOAD_FILE(?)", "/etc/passwd").Scan(new(any))
	if me := mysqlErr(t, err); me.Number != 1142 || !strings.Contains(me.Message, "no-file-read") {
		t.Fatalf("prepared block: %v", me)
	}

	for _, mode := range []string{"query", "execute"} {
		res := g.runNode(t, false, mode, "TRUNCATE TABLE orders", "SELECT COUNT(*) AS n FROM orders")
		if res[0]["errno"] != float64(1142) || !strings.Contains(res[0]["message"].(string), "no-drops") {
			t.Fatalf("node %s: %v", mode, res[0])
		}
		if res[1]["rows"] == nil {
			t.Fatalf("node %s: session unusable after block: %v", mode, res[1])
		}
	}
	res := g.runPython(t, "alice", aliceToken, "query", "DROP TABLE users", "SELECT 1")
	if res[0]["errno"] != float64(1142) || res[1]["rows"] == nil {
		t.Fatalf("pymysql: %v", res)
	}
	_, errOut, code := g.runCLI(t, "alice", aliceToken, []string{"--skip-ssl"}, "DROP TABLE orders")
	if code == 0 || !strings.Contains(errOut, "ERROR 1142 (42000)") || !strings.Contains(errOut, "no-drops") {
		t.Fatalf("cli: exit %d: %s", code, errOut)
	}
	// The table is still there.
	if err := db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&one); err != nil {
		t.Fatal(err)
	}

	g.eventsWith(t, "block event", func(e session.QueryEvent) bool {
		return e.Decision == "block" && e.Rule == "no-drops" && e.Statement == "DROP TABLE orders"
	})
}

func TestMaskedTextAndBinaryRows(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	check := func(what, email, ssn string) {
		t.Helper()
		if email != "****.com" || ssn != "****6789" {
			t.Fatalf("%s: email %q ssn %q, want masked", what, email, ssn)
		}
	}
	var email, ssn, name string
	if err := db.QueryRow("SELECT email, ssn, name FROM users WHERE id = 1").Scan(&email, &ssn, &name); err != nil {
		t.Fatal(err)
	}
	check("text", email, ssn)
	if name != "Ada" {
		t.Fatalf("unmasked column changed: %q", name)
	}
	var id int
	if err := db.QueryRow("SELECT id, email, ssn FROM users WHERE id = ?", 1).Scan(&id, &email, &ssn); err != nil {
		t.Fatal(err)
	}
	check("binary", email, ssn)
	if id != 1 {
		t.Fatalf("binary id = %d", id)
	}
	// An alias does not escape the lineage-based mask.
	if err := db.QueryRow("SELECT CONCAT(email, '') AS e, ssn AS x FROM users WHERE id = ?", 1).Scan(&email, &ssn); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(email, "ada@") || strings.Contains(ssn, "123-45") {
		t.Fatalf("alias escaped the mask: %q %q", email, ssn)
	}

	for _, mode := range []string{"query", "execute"} {
		res := g.runNode(t, true, mode, "SELECT id, email, ssn FROM users ORDER BY id")
		row := res[0]["rows"].([]any)[0].(map[string]any)
		check("node "+mode, row["email"].(string), row["ssn"].(string))
	}
	res := g.runPython(t, "alice", aliceToken, "query", "SELECT email, ssn FROM users ORDER BY id")
	r := res[0]["rows"].([]any)[0].([]any)
	check("pymysql", r[0].(string), r[1].(string))
	out, errOut, code := g.runCLI(t, "alice", aliceToken, []string{"--skip-ssl"}, "SELECT email, ssn FROM users WHERE id = 1")
	if code != 0 || !strings.Contains(out, "****.com\t****6789") {
		t.Fatalf("cli: exit %d\n%s\n%s", code, out, errOut)
	}

	events := g.eventsWith(t, "masked event with a masked sample", func(e session.QueryEvent) bool {
		return len(e.Masked) > 0 && len(e.Sample) > 0 && !strings.Contains(strings.Join(e.Sample[0], ","), "ada@")
	})
	for _, e := range events {
		for _, row := range e.Sample {
			if strings.Contains(strings.Join(row, ","), "ada@example.com") {
				t.Fatalf("unmasked value in the query log: %+v", e)
			}
		}
	}
}

func TestReviewedStatement(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	db.SetMaxOpenConns(1)
	carol := policy.Reviewer{Name: "carol"}

	decideNext := func(approve bool, reason string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if p := g.broker.Pending(); len(p) > 0 {
				if _, err := g.broker.Decide(p[0].ID, approve, carol, reason); err != nil {
					t.Fatal(err)
				}
				return p[0].Statement
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("no approval request appeared")
		return ""
	}

	// Denied: text protocol.
	errc := make(chan error, 1)
	go func() { _, err := db.Exec("DELETE FROM orders"); errc <- err }()
	if stmt := decideNext(false, "not today"); stmt != "DELETE FROM orders" {
		t.Fatalf("held statement %q", stmt)
	}
	me := mysqlErr(t, <-errc)
	if me.Number != 1142 || !strings.Contains(me.Message, "denied by carol: not today") {
		t.Fatalf("denied: %v", me)
	}
	// Approved: prepared path (held at prepare, runs at execute).
	go func() { _, err := db.Exec("UPDATE orders SET total = total + ?", 0); errc <- err }()
	decideNext(true, "ok")
	if err := <-errc; err != nil {
		t.Fatalf("approved statement failed: %v", err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n != 3 {
		t.Fatalf("orders = %d, %v", n, err)
	}
	g.eventsWith(t, "denied review", func(e session.QueryEvent) bool {
		return e.Decision == "review-denied" && e.Reviewer == "carol" && e.Approval != ""
	})
	g.eventsWith(t, "approved review", func(e session.QueryEvent) bool { return e.Decision == "review-approved" })
}

// queryLog reads every query-log line the gateway's store holds.
func (g *testGateway) queryLog(t *testing.T) []session.QueryEvent {
	t.Helper()
	var out []session.QueryEvent
	deadline := time.Now().Add(5 * time.Second)
	for {
		out = out[:0]
		recs, err := g.store.List(context.Background(), session.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			out = append(out, readQueryLog(t, filepath.Join(g.store.Dir(), session.Dir(r.ID), session.QueryLogFile))...)
		}
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readQueryLog(t *testing.T, path string) []session.QueryEvent {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var out []session.QueryEvent
	br := bufio.NewReader(dec)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 1 {
			var e session.QueryEvent
			if jerr := json.Unmarshal(line, &e); jerr == nil {
				out = append(out, e)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("reading %s: %v", path, err)
			}
			return out
		}
	}
}

func hasEvent(events []session.QueryEvent, match func(session.QueryEvent) bool) bool {
	for _, e := range events {
		if match(e) {
			return true
		}
	}
	return false
}

// eventsWith waits (the log flushes periodically) until an event matches
// and returns the log read at that point; it fails the test on timeout.
func (g *testGateway) eventsWith(t *testing.T, what string, match func(session.QueryEvent) bool) []session.QueryEvent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		events := g.queryLog(t)
		if hasEvent(events, match) {
			return events
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the query log: %+v", what, events)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
