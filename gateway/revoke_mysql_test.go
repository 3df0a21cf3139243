package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gosql "github.com/go-sql-driver/mysql"

	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// TestRevokeEndsOpenMySQLSessions: revoking a gateway token ends the MySQL
// session open with it within a few seconds, a query in flight included
// (its client gets ER_CONNECTION_KILLED naming the reason), with a "killed"
// record naming the reason; the session of another token of the same
// identity goes on, on the same connection.
func TestRevokeEndsOpenMySQLSessions(t *testing.T) {
	mdb := testenv.MariaDBForTest(t)
	cfg := parse(t, fmt.Sprintf(`
data_dir: %s/data
identities: [{name: ci-deploy, kind: service}]
identity: {token_key: revoke-test-token-key}
targets:
  - {name: shop, protocol: mysql, listen: "127.0.0.1:0", upstream: {address: %q, user: %s, password: %q, database: %s, tls: {mode: verify-full, ca_file: %q}}}
`, t.TempDir(), mdb.Addr, mdb.User, mdb.Password, mdb.Database, mdb.CAFile))
	g, logs, issue := startRevokeGateway(t, cfg)
	revokedTok, revoked := issue()
	keptTok, kept := issue()

	ctx := context.Background()
	open := func(token string) *sql.DB {
		db, err := sql.Open("mysql", fmt.Sprintf("ci-deploy:%s@tcp(%s)/%s", token, g.Addrs["shop"], mdb.Database))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	// One pinned connection (one gateway session) per token.
	connect := func(token string) (*sql.Conn, int64) {
		c, err := open(token).Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		var id int64
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatalf("query with a gateway token: %v", err)
		}
		return c, id
	}
	myRevoked, _ := connect(revokedTok)
	myKept, keptThread := connect(keptTok)

	// A query runs on the revoked token's connection while it is revoked.
	queryDone := make(chan error, 1)
	go func() {
		var slept int
		queryDone <- myRevoked.QueryRowContext(ctx, "SELECT SLEEP(30)").Scan(&slept)
	}()
	direct, err := sql.Open("mysql", mdb.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	testenv.WaitFor(t, "the SLEEP running upstream", 15*time.Second, func() bool {
		var n int
		err := direct.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(30)%'").Scan(&n)
		return err == nil && n == 1
	})
	if live, err := g.Deps().Store.List(ctx, session.Filter{Status: session.StatusActive}); err != nil || len(live) != 2 {
		t.Fatalf("live sessions before the revocation: %d %v", len(live), err)
	}

	start := revokeNow(t, cfg, revoked)
	select {
	case err := <-queryDone:
		var me *gosql.MySQLError
		if !errors.As(err, &me) || me.Number != 1927 || !strings.Contains(me.Message, "gateway token revoked") {
			t.Fatalf("mysql client of the revoked token got %v, want ERR 1927 naming the revocation", err)
		}
	case <-time.After(revokeWithin):
		t.Fatal("mysql session of the revoked token still running")
	}
	t.Logf("revoked session ended %v after the revocation", time.Since(start).Round(time.Millisecond))

	// The other token's session goes on, on the same upstream connection.
	var thread int64
	if err := myKept.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&thread); err != nil || thread != keptThread {
		t.Fatalf("mysql session of the other token: thread %d (was %d) %v", thread, keptThread, err)
	}
	// The revoked token opens nothing new.
	var me *gosql.MySQLError
	if err := open(revokedTok).PingContext(ctx); !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("new connection with the revoked token: %v, want access denied (1045)", err)
	}

	// Records: the revoked token's session is killed with the reason, the
	// other one live.
	testenv.WaitFor(t, "the revoked session's record closed", 15*time.Second, func() bool {
		killed, err := g.Deps().Store.List(ctx, session.Filter{Status: session.StatusKilled})
		return err == nil && len(killed) == 1
	})
	killed, err := g.Deps().Store.List(ctx, session.Filter{Status: session.StatusKilled})
	if err != nil {
		t.Fatal(err)
	}
	if r := killed[0]; r.Protocol != "mysql" || r.Identity != "ci-deploy" || r.CredentialID != revoked.ID || !strings.Contains(r.Error, "gateway token revoked") {
		t.Fatalf("killed record: %+v", r)
	}
	if live, err := g.Deps().Store.List(ctx, session.Filter{Status: session.StatusActive}); err != nil || len(live) != 1 || live[0].Protocol != "mysql" || live[0].CredentialID != kept.ID {
		t.Fatalf("live sessions after the revocation: %+v %v", live, err)
	}

	checkRevokeAudit(t, logs, revoked.ID, revokedTok)
}
