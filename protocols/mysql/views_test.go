package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// TestMaskingThroughExistingView: a view created on the server outside the
// gateway over a masked column is masked when read through the gateway
// (lineage from information_schema.VIEWS), in text and binary protocol.
func TestMaskingThroughExistingView(t *testing.T) {
	ctx := context.Background()
	if err := mdb.ExecIn(ctx, mdb.Database, "CREATE OR REPLACE VIEW user_contacts AS SELECT id, email FROM users"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.ExecIn(context.Background(), mdb.Database, "DROP VIEW IF EXISTS user_contacts") })
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	for _, q := range []string{"SELECT email FROM user_contacts WHERE id = 1", "SELECT UPPER(email) FROM user_contacts WHERE id = ?"} {
		email, err := scanOne(db, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if strings.Contains(strings.ToLower(email), "@example") || strings.Contains(strings.ToLower(email), "ada@") {
			t.Fatalf("%s: leaked %q through a view", q, email)
		}
	}
}

// TestMaskingThroughExistingFunction: a stored function created outside
// the gateway that reads a masked column returns data of unknown origin
// (masked or refused), in text and binary protocol; one that reads nothing
// masked stays in clear.
func TestMaskingThroughExistingFunction(t *testing.T) {
	// Defined by the gateway's upstream account, which may then read their
	// bodies; fn_hidden is root's, whose body that account cannot see.
	definer := fmt.Sprintf("DEFINER = '%s'@'%%'", mdb.User)
	execUpstream(t, []string{
		"CREATE OR REPLACE " + definer + " FUNCTION fn_contact_of(i INT) RETURNS VARCHAR(200) READS SQL DATA RETURN (SELECT email FROM users WHERE id = i)",
		"CREATE OR REPLACE " + definer + " FUNCTION fn_double(i INT) RETURNS INT DETERMINISTIC RETURN i * 2",
		"CREATE OR REPLACE FUNCTION fn_hidden(i INT) RETURNS INT DETERMINISTIC RETURN i * 3",
	}, "DROP FUNCTION IF EXISTS fn_contact_of", "DROP FUNCTION IF EXISTS fn_double", "DROP FUNCTION IF EXISTS fn_hidden")
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	for _, q := range []string{"SELECT fn_contact_of(1)", "SELECT UPPER(fn_contact_of(?))", "SELECT " + mdb.Database + ".fn_contact_of(1)"} {
		email, err := scanOne(db, q)
		if err != nil {
			if me := mysqlErr(t, err); me.Number != 0 {
				t.Logf("%s refused: %v", q, err) // fail closed
				continue
			}
		}
		if strings.Contains(strings.ToLower(email), "@") {
			t.Errorf("%s: leaked %q through a stored function", q, email)
		}
	}
	var n int
	if err := db.QueryRow("SELECT fn_double(21)").Scan(&n); err != nil || n != 42 {
		t.Errorf("a function that reads nothing masked: %d %v, want 42 in clear", n, err)
	}
	// A body the gateway cannot see may read anything: masked (0 for an INT).
	if err := db.QueryRow("SELECT fn_hidden(21)").Scan(&n); err == nil && n == 63 {
		t.Errorf("a function whose body is not visible: %d in clear, want it masked", n)
	}
}

// scanOne reads one string value; a text with a "?" goes through the
// binary protocol with 1 as its parameter.
func scanOne(db *sql.DB, q string) (string, error) {
	var v string
	if strings.Contains(q, "?") {
		return v, db.QueryRow(q, 1).Scan(&v)
	}
	return v, db.QueryRow(q).Scan(&v)
}

// execUpstream runs setup directly on MariaDB (not through the gateway),
// failing the test on an error, and cleanup when the test ends.
func execUpstream(t *testing.T, setup []string, cleanup ...string) {
	t.Helper()
	for _, q := range setup {
		if err := mdb.ExecIn(context.Background(), mdb.Database, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, q := range cleanup {
			mdb.ExecIn(context.Background(), mdb.Database, q)
		}
	})
}
