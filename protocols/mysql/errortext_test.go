package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// seeded masked values: ada@example.com, bo@example.com, 123-45-6789, ...
var leakPattern = regexp.MustCompile(`@example|\d{3}-\d{2}-\d{4}`)

// TestMaskErrorTexts: ERR packets and the warnings SHOW WARNINGS reads
// after a statement that reads masked data do not carry its values; a
// statement that reads nothing masked keeps its messages as they were.
func TestMaskErrorTexts(t *testing.T) {
	ctx := context.Background()
	definer := fmt.Sprintf("DEFINER = '%s'@'%%'", mdb.User)
	execUpstream(t, []string{
		"CREATE OR REPLACE " + definer + ` FUNCTION fn_shout(i INT) RETURNS INT READS SQL DATA
BEGIN
  DECLARE e VARCHAR(200);
  SELECT email INTO e FROM users WHERE id = i;
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = e;
  RETURN 0;
END`,
		"CREATE OR REPLACE " + definer + ` FUNCTION fn_shout_coded(i INT) RETURNS INT READS SQL DATA
BEGIN
  DECLARE e VARCHAR(200);
  SELECT email INTO e FROM users WHERE id = i;
  SIGNAL SQLSTATE '22000' SET MESSAGE_TEXT = e, MYSQL_ERRNO = 1000;
  RETURN 0;
END`,
		"CREATE UNIQUE INDEX users_email_key ON users (email)",
	}, "DROP FUNCTION IF EXISTS fn_shout", "DROP FUNCTION IF EXISTS fn_shout_coded", "DROP INDEX users_email_key ON users")
	g := startGateway(t, gatewayOptions{policy: guardedPolicy})
	db := g.open(t, "alice", aliceToken, "interpolateParams=false")
	conn, err := db.Conn(ctx) // warnings belong to one connection
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	for _, c := range []struct {
		sql  string
		code uint16
		want string
	}{
		{"SELECT fn_shout(1)", 1644, "message withheld by sluice"},
		{"SELECT fn_shout_coded(2)", 1000, "message withheld by sluice"}, // its own errno and state
		{"INSERT INTO users (id, name, email) SELECT 100, name, email FROM users WHERE id = 2", 1062, "Duplicate entry '****' for key 'users_email_key'"},
		{"SELECT emial FROM users", 1054, "Unknown column 'emial' in '"}, // names stay
	} {
		_, err := conn.ExecContext(ctx, c.sql)
		me := mysqlErr(t, err)
		if me.Number != c.code || !strings.Contains(me.Message, c.want) || leakPattern.MatchString(me.Message) {
			t.Errorf("%s: got %d %q, want %d with %q and no masked value", c.sql, me.Number, me.Message, c.code, c.want)
		}
	}

	// Prepared ahead: preparing may reset the warnings list itself.
	prepared, err := conn.PrepareContext(ctx, "SHOW WARNINGS")
	if err != nil {
		t.Fatal(err)
	}
	defer prepared.Close()
	warningsVia := func(q string, binary bool) []string {
		t.Helper()
		var n any
		if err := conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var rows *sql.Rows
		if binary {
			rows, err = prepared.QueryContext(ctx)
		} else {
			rows, err = conn.QueryContext(ctx, "SHOW WARNINGS")
		}
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var level, msg string
			var code int
			if err := rows.Scan(&level, &code, &msg); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %d %s", level, code, msg))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	warnings := func(q string) []string { return warningsVia(q, false) }
	// CAST warns "Truncated incorrect INTEGER value: 'ada@example.com'".
	got := warnings("SELECT CAST(email AS SIGNED) FROM users WHERE id = 1")
	if len(got) == 0 || !strings.Contains(got[0], "'****'") || leakPattern.MatchString(strings.Join(got, "\n")) {
		t.Fatalf("SHOW WARNINGS after a masked read: %q", got)
	}
	// The binary protocol (SHOW WARNINGS as a prepared statement).
	got = warningsVia("SELECT CAST(email AS SIGNED) FROM users WHERE id = 2", true)
	if len(got) == 0 || !strings.Contains(got[0], "'****'") || leakPattern.MatchString(strings.Join(got, "\n")) {
		t.Fatalf("prepared SHOW WARNINGS after a masked read: %q", got)
	}
	// A statement that reads nothing masked: its warning is the server's.
	got = warnings("SELECT CAST('carol@example.com' AS SIGNED)")
	if len(got) == 0 || !strings.Contains(got[0], "'carol@example.com'") {
		t.Fatalf("SHOW WARNINGS after a clean read: %q", got)
	}

	// The mariadb CLI sends each statement of -e on its own: SHOW WARNINGS
	// reads the previous one's.
	out, errOut, code := g.runCLI(t, "alice", aliceToken, []string{"--skip-ssl"},
		"SELECT CAST(ssn AS SIGNED) AS n FROM users WHERE id = 2; SHOW WARNINGS")
	if code != 0 || !strings.Contains(out, "Truncated incorrect") || leakPattern.MatchString(out) {
		t.Fatalf("cli: exit %d\n%s\n%s", code, out, errOut)
	}

	for _, ev := range g.queryLog(t) {
		if leakPattern.MatchString(ev.Error) {
			t.Errorf("query log: %q failed with %q", ev.Statement, ev.Error)
		}
	}
}
