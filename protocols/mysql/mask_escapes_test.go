package mysql

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/session"
)

const probePolicy = `    masked_filters: block
    masks:
      - {columns: [users.email], method: partial}
`

// A masked column can be read (masked) but not probed through a filter,
// on the text and the prepared path and from the mariadb CLI.
func TestMaskedFiltersRefused(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: probePolicy})
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	db.SetMaxOpenConns(1)

	var n int
	err := db.QueryRow("SELECT COUNT(*) FROM users WHERE email LIKE 'ada%'").Scan(&n)
	if me := mysqlErr(t, err); me.Number != 1142 || !strings.Contains(me.Message, "in WHERE (users.email)") ||
		!strings.Contains(me.Message, "masked_filters") {
		t.Fatalf("text probe: %v", me)
	}
	err = db.QueryRow("SELECT id FROM users ORDER BY email LIMIT ?", 1).Scan(&n)
	if me := mysqlErr(t, err); me.Number != 1142 || !strings.Contains(me.Message, "in ORDER BY (users.email)") {
		t.Fatalf("prepared probe: %v", me)
	}
	var email string
	if err := db.QueryRow("SELECT email FROM users WHERE id = ?", 1).Scan(&email); err != nil {
		t.Fatal(err)
	}
	if email == "" || strings.Contains(email, "ada@") {
		t.Fatalf("email not masked: %q", email)
	}
	_, errOut, code := g.runCLI(t, "alice", aliceToken, []string{"--skip-ssl"},
		"SELECT id FROM users u JOIN users v ON u.email = v.email LIMIT 1")
	if code == 0 || !strings.Contains(errOut, "ERROR 1142") || !strings.Contains(errOut, "in JOIN (users.email)") {
		t.Fatalf("cli: exit %d: %s", code, errOut)
	}
	g.eventsWith(t, "masked_filters block", func(e session.QueryEvent) bool {
		return e.Decision == "block" && e.Rule == "masked_filters" && strings.Contains(e.Statement, "JOIN users v")
	})
}

// MariaDB's engine-independent statistics keep each column's min and max
// value (and a histogram): readable by an account granted them, they hold
// masked e-mails in clear. Through the gateway they are masked.
func TestStatisticsCatalogMasked(t *testing.T) {
	execUpstream(t, []string{
		"ANALYZE TABLE users PERSISTENT FOR ALL",
		"GRANT SELECT ON mysql.column_stats TO '" + mdb.User + "'@'%'",
	}, "REVOKE SELECT ON mysql.column_stats FROM '"+mdb.User+"'@'%'")
	const q = "SELECT column_name, CAST(min_value AS CHAR) FROM mysql.column_stats WHERE table_name = 'users' AND column_name = 'email'"
	direct, err := sql.Open("mysql", mdb.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	var name, min string
	if err := direct.QueryRow(q).Scan(&name, &min); err != nil || !strings.Contains(min, "@example.com") {
		t.Fatalf("direct: the test needs e-mails in column_stats: %q %v", min, err)
	}
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	for _, params := range []string{"interpolateParams=false", "interpolateParams=true"} {
		db := g.open(t, "alice", aliceToken, params)
		if err := db.QueryRow(q).Scan(&name, &min); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(min, "@") || name == "email" {
			t.Fatalf("%s: statistics not masked: %q %q", params, name, min)
		}
	}
}

// A user variable assigned from a masked column would be read back in
// clear by the next statement (SELECT @v), an upsert could copy it into an
// unmasked column, and renaming the column (or computing a new one from
// it) would unmask it for every later session: all refused, nothing
// changed.
func TestMaskEscapesThroughSinksAndDDLRefused(t *testing.T) {
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	db := g.open(t, "alice", aliceToken, "")
	db.SetMaxOpenConns(1)
	for _, q := range []string{"SET @v = (SELECT email FROM users LIMIT 1)", "SELECT @v := email FROM users LIMIT 1"} {
		_, err := db.Exec(q)
		if me := mysqlErr(t, err); me.Number != 1142 || !strings.Contains(me.Message, "users.email -> @v") {
			t.Fatalf("%s: %v", q, me)
		}
	}
	var v sql.NullString
	if err := db.QueryRow("SELECT @v").Scan(&v); err != nil || v.Valid {
		t.Fatalf("@v = %v %v", v, err)
	}
	// A counter over the rows of a masked table is fine.
	var n int
	var name string
	if err := db.QueryRow("SELECT @r := COALESCE(@r, 0) + 1, name FROM users LIMIT 1").Scan(&n, &name); err != nil || n != 1 {
		t.Fatalf("row counter: %d %v", n, err)
	}

	for q, why := range map[string]string{
		"INSERT INTO users (id, name, email) VALUES (1, 'x', 'y') ON DUPLICATE KEY UPDATE name = email":                 "users.email -> users.name",
		"ALTER TABLE users CHANGE email contact TEXT":                                                                   "renames masked column users.email to contact",
		"ALTER TABLE users ADD COLUMN contact TEXT AS (LOWER(email)) VIRTUAL":                                           "computes unmasked column users.contact",
		"CREATE VIEW sluice_v AS SELECT email FROM users":                                                               "sluice_v)",
		"RENAME TABLE users TO people_copy":                                                                             "moves masked table users to people_copy",
		"CREATE PROCEDURE sluice_copy() BEGIN UPDATE orders SET total = (SELECT LENGTH(email) FROM users LIMIT 1); END": "sluice_copy()",
	} {
		_, err := db.Exec(q)
		if me := mysqlErr(t, err); me.Number != 1142 || !strings.Contains(me.Message, why) {
			t.Fatalf("%s: %v", q, me)
		}
	}
	var email string
	if err := db.QueryRow("SELECT email, name FROM users WHERE id = 1").Scan(&email, &name); err != nil ||
		email == "" || strings.Contains(email, "ada@") || name != "Ada" {
		t.Fatalf("after the refused statements: %q %q %v", email, name, err)
	}
}

// Another connection's statement text, literals included, is in SHOW
// PROCESSLIST for connections of the same account: masked under column
// masks (directly it is there in clear).
func TestProcesslistTextMasked(t *testing.T) {
	direct, err := sql.Open("mysql", mdb.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	running := make(chan error, 1)
	go func() {
		_, err := direct.Exec("SELECT SLEEP(3), 'in-flight@example.com'")
		running <- err
	}()
	infos := func(db *sql.DB) string {
		rows, err := db.Query("SHOW FULL PROCESSLIST")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var all []string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, c := range cols {
				if strings.EqualFold(c, "Info") {
					all = append(all, vals[i].String)
				}
			}
		}
		return strings.Join(all, "\n")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(infos(direct), "in-flight@example.com") {
		if time.Now().After(deadline) {
			t.Fatal("the statement never showed in the process list")
		}
		time.Sleep(50 * time.Millisecond)
	}
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	if got := infos(g.open(t, "alice", aliceToken, "")); strings.Contains(got, "in-flight") || strings.Contains(got, "SLEEP") {
		t.Fatalf("process list texts not masked: %q", got)
	}
	if err := <-running; err != nil {
		t.Fatal(err)
	}
}
