package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-gw/sluice/policy"
)

// crmPolicy masks the email column of the second database only.
const crmPolicy = `    rules: []
    masks:
      - {columns: [lin_crm.users.email], method: redact}
`

// seedCRM creates a second database with its own users table and a view
// over the masked column, readable by the app user.
func seedCRM(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []string{
		"CREATE DATABASE IF NOT EXISTS lin_crm",
		"CREATE TABLE IF NOT EXISTS lin_crm.users (id INT PRIMARY KEY, email VARCHAR(100))",
		"REPLACE INTO lin_crm.users VALUES (1, 'crm@example.com')",
		"CREATE OR REPLACE VIEW lin_crm.contacts AS SELECT id, email FROM lin_crm.users",
		fmt.Sprintf("GRANT ALL ON lin_crm.* TO '%s'@'%%'", mdb.User),
	} {
		if err := mdb.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { mdb.Exec(context.Background(), "DROP DATABASE IF EXISTS lin_crm") })
}

// TestMaskingFollowsCurrentDatabase: after USE (text, binary and inside a
// multi-statement text) and COM_INIT_DB, unqualified names resolve in the
// new current database, for tables and for views; a failed USE changes
// nothing.
func TestMaskingFollowsCurrentDatabase(t *testing.T) {
	seedCRM(t)
	g := startGateway(t, gatewayOptions{policy: crmPolicy, unpinned: true})
	ctx := context.Background()
	db := g.open(t, "alice", aliceToken, "interpolateParams=false&multiStatements=true")
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	app := mdb.Database
	email := func(q string, args ...any) string {
		t.Helper()
		var s string
		if err := conn.QueryRowContext(ctx, q, args...).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	exec := func(q string) error {
		_, err := conn.ExecContext(ctx, q)
		return err
	}
	expect := func(step, want string) {
		t.Helper()
		for _, q := range []string{"SELECT email FROM users WHERE id = 1", "SELECT email FROM users WHERE id = ?"} {
			var got string
			if strings.Contains(q, "?") {
				got = email(q, 1) // binary protocol
			} else {
				got = email(q)
			}
			if want == "masked" {
				if strings.Contains(got, "@example.com") {
					t.Fatalf("%s: %s returned %q unmasked", step, q, got)
				}
			} else if got != want {
				t.Fatalf("%s: %s returned %q, want %q", step, q, got, want)
			}
		}
	}

	expect("connected to the app database", "ada@example.com")
	if got := email("SELECT email FROM lin_crm.contacts WHERE id = 1"); strings.Contains(got, "@example.com") {
		t.Fatalf("qualified view in the other database: %q unmasked", got)
	}
	if err := exec("USE lin_crm"); err != nil {
		t.Fatal(err)
	}
	expect("after USE lin_crm", "masked")
	for _, q := range []string{"SELECT email FROM contacts WHERE id = 1", "SELECT * FROM contacts WHERE id = 1"} {
		var id int
		var got string
		if err := conn.QueryRowContext(ctx, q).Scan(map[bool][]any{true: {&got}, false: {&id, &got}}[strings.Contains(q, "email")]...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if strings.Contains(got, "@example.com") {
			t.Fatalf("view after USE: %s returned %q unmasked", q, got)
		}
	}
	if err := exec("USE lin_nosuch"); err == nil {
		t.Fatal("USE of a missing database succeeded")
	}
	expect("after a failed USE", "masked")
	if err := exec("USE `" + app + "`"); err != nil {
		t.Fatal(err)
	}
	expect("back in the app database", "ada@example.com")

	// Multi-statement texts: the USE ran even though a later statement failed.
	if err := exec("USE lin_crm; SELECT 1"); err != nil {
		t.Fatal(err)
	}
	expect("after a multi-statement USE", "masked")
	if err := exec("SELECT 1; USE `" + app + "`; SELECT nosuch FROM nosuch"); err == nil {
		t.Fatal("a statement on a missing table succeeded")
	}
	expect("after a multi-statement USE, then an error", "ada@example.com")
	if err := exec("SELECT nosuch FROM nosuch; USE lin_crm"); err == nil {
		t.Fatal("a statement on a missing table succeeded")
	}
	expect("after an error before a USE", "ada@example.com")
}

func TestMaskingFollowsInitDB(t *testing.T) {
	seedCRM(t)
	g := startGateway(t, gatewayOptions{policy: crmPolicy, unpinned: true})
	c, err := client.Connect(g.addr, "alice", aliceToken, mdb.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func(q string) string {
		t.Helper()
		r, err := c.Execute(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer r.Close()
		s, _ := r.GetString(0, 0)
		return s
	}
	if got := read("SELECT email FROM users WHERE id = 1"); got != "ada@example.com" {
		t.Fatalf("app database: %q", got)
	}
	// A prepared statement keeps its prepare-time database on the server,
	// as its prepare-time decision does in the gateway.
	st, err := c.Prepare("SELECT email FROM users WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := c.UseDB("lin_crm"); err != nil { // COM_INIT_DB
		t.Fatal(err)
	}
	r, err := st.Execute(1)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.GetString(0, 0); got != "ada@example.com" {
		t.Fatalf("statement prepared in the app database, executed in lin_crm: %q", got)
	}
	r.Close()
	for _, q := range []string{"SELECT email FROM users WHERE id = 1", "SELECT email FROM contacts WHERE id = 1"} {
		if got := read(q); strings.Contains(got, "@example.com") {
			t.Fatalf("after COM_INIT_DB: %s returned %q unmasked", q, got)
		}
	}
	// COM_RESET_CONNECTION keeps the current database.
	if p := rawCommand(t, c, gm.COM_RESET_CONNECTION); p[0] != hdrOK {
		t.Fatalf("reset connection: %x", p)
	}
	if got := read("SELECT DATABASE()"); got != "lin_crm" {
		t.Fatalf("after COM_RESET_CONNECTION the database is %q", got)
	}
	err = c.UseDB("lin_nosuch")
	var me *gm.MyError
	if !errors.As(err, &me) {
		t.Fatalf("COM_INIT_DB of a missing database: %v", err)
	}
	if got := read("SELECT email FROM users WHERE id = 1"); strings.Contains(got, "@example.com") {
		t.Fatalf("after a failed COM_INIT_DB: %q unmasked", got)
	}
	if err := c.UseDB(mdb.Database); err != nil {
		t.Fatal(err)
	}
	if got := read("SELECT email FROM users WHERE id = 1"); got != "ada@example.com" {
		t.Fatalf("back in the app database: %q", got)
	}
}

func TestDatabaseAfter(t *testing.T) {
	use := func(db string) policy.StatementInfo { return policy.StatementInfo{Kind: "use", Database: db} }
	sel := policy.StatementInfo{Kind: "select"}
	for _, c := range []struct {
		name    string
		stmts   []policy.StatementInfo
		results int
		failed  bool
		want    string
	}{
		{"no USE", []policy.StatementInfo{sel}, 1, false, "a"},
		{"USE", []policy.StatementInfo{use("b")}, 1, false, "b"},
		{"failed USE", []policy.StatementInfo{use("b")}, 0, true, "a"},
		{"last USE wins", []policy.StatementInfo{use("b"), sel, use("c")}, 3, false, "c"},
		{"error after a USE", []policy.StatementInfo{use("b"), sel, use("c")}, 2, true, "b"},
		{"error before a USE", []policy.StatementInfo{sel, use("b")}, 0, true, "a"},
		{"CALL before a failure", []policy.StatementInfo{{Kind: "call"}, use("b")}, 2, true, ""},
		{"CALL, all ran", []policy.StatementInfo{{Kind: "call"}, use("b")}, 3, false, "b"},
		{"unparseable", []policy.StatementInfo{{Kind: "unparseable"}}, 1, false, ""},
		{"USE only another sql_mode sees", []policy.StatementInfo{sel, {Kind: "use", Database: "x", Alternate: true}}, 1, false, ""},
		{"same USE in another sql_mode", []policy.StatementInfo{use("b"), {Kind: "use", Database: "b", Alternate: true}}, 1, false, "b"},
	} {
		run := &queryRun{decision: policy.Decision{Statements: c.stmts}, results: c.results}
		if c.failed {
			run.srvErr = &serverError{Code: 1049}
		}
		if got := databaseAfter("a", run); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
