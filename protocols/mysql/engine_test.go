package mysql

import (
	"database/sql"
	"strings"
	"testing"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

func TestGoDriverQueryAndPrepared(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	for _, params := range []string{"", "tls=skip-verify", "interpolateParams=false&tls=skip-verify"} {
		db := g.open(t, "alice", aliceToken, params)
		var name string
		if err := db.QueryRow("SELECT name FROM users WHERE id = 1").Scan(&name); err != nil {
			t.Fatalf("[%s] query: %v", params, err)
		}
		if name != "Ada" {
			t.Fatalf("[%s] name = %q", params, name)
		}
		// A placeholder makes go-sql-driver prepare + execute (binary rows).
		var email string
		var score sql.NullFloat64
		if err := db.QueryRow("SELECT email, score FROM users WHERE id = ?", 2).Scan(&email, &score); err != nil {
			t.Fatalf("[%s] prepared: %v", params, err)
		}
		if email != "bo@example.com" || score.Valid {
			t.Fatalf("[%s] got %q %v", params, email, score)
		}
	}
}

func TestGoDriverMultiStatements(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	db := g.open(t, "alice", aliceToken, "multiStatements=true")
	rows, err := db.Query("SELECT 1; SELECT 2, 3")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for {
		for rows.Next() {
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			got = append(got, len(cols))
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("result shapes = %v, want [1 2]", got)
	}
}

func TestWrongTokenRefusedBeforeUpstream(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	before := upstreamConnections(t)
	for _, c := range []struct{ user, token, params string }{
		{"alice", "wrong", ""},
		{"alice", "wrong", "tls=skip-verify"},
		{"nobody", "x", ""},
		{"bob", "wrong", "tls=skip-verify"},
	} {
		db := g.open(t, c.user, c.token, c.params)
		err := db.Ping()
		if err == nil {
			t.Fatalf("%s/%s: connected with a wrong token", c.user, c.params)
		}
		if me := mysqlErr(t, err); me.Number != gm.ER_ACCESS_DENIED_ERROR {
			t.Fatalf("%s: got %v, want 1045", c.user, me)
		}
	}
	// The status query's own connection is the only new one.
	if after := upstreamConnections(t); after != before+1 {
		t.Fatalf("upstream saw %d new connections during refused logins, want 0", after-before-1)
	}
}

func TestIdentityNotAllowedOnTarget(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	err := g.open(t, "mallory", "mallory-token", "").Ping()
	if me := mysqlErr(t, err); me.Number != gm.ER_DBACCESS_DENIED_ERROR || !strings.Contains(me.Message, "shop") {
		t.Fatalf("got %v", me)
	}
}

func TestHashOnlyTokenFullAuth(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	// Inside TLS the token travels in clear for caching_sha2 full auth.
	if err := g.open(t, "bob", bobToken, "tls=skip-verify").Ping(); err != nil {
		t.Fatalf("bob over TLS: %v", err)
	}
	// Over plain TCP the client fetches the gateway's RSA key.
	if err := g.open(t, "bob", bobToken, "").Ping(); err != nil {
		t.Fatalf("bob with RSA: %v", err)
	}
}
