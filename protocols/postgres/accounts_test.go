package postgres_test

import (
	"context"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/session"
)

// upstream.accounts maps identities to their own upstream account: the
// reviewers group (bob) reads as a role the server itself holds to
// SELECT, alice keeps the target's account; the record names the account.
func TestUpstreamAccountPerIdentity(t *testing.T) {
	ctx := context.Background()
	if err := pg.Exec(ctx, `DROP ROLE IF EXISTS sluice_reader;
CREATE ROLE sluice_reader LOGIN PASSWORD 'reader-pw';
GRANT SELECT ON users TO sluice_reader`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Exec(ctx, "REVOKE ALL ON users FROM sluice_reader; DROP ROLE IF EXISTS sluice_reader") })
	g := startGateway(t, "", func(cfg *config.Config) {
		cfg.Targets[0].Upstream.Accounts = []config.UpstreamAccount{
			{Groups: []string{"reviewers"}, User: "sluice_reader", Password: "reader-pw"},
		}
	})
	// bob's token is stored hashed, so it travels over TLS only.
	who := func(user, token string) string {
		var u string
		if err := connect(t, g.dsn(user, token, "sslmode=require")).QueryRow(ctx, "SELECT current_user").Scan(&u); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		return u
	}
	if u := who("bob", bobToken); u != "sluice_reader" {
		t.Fatalf("bob's upstream account is %q", u)
	}
	if u := who("alice", aliceToken); u != pg.User {
		t.Fatalf("alice's upstream account is %q", u)
	}
	bob := connect(t, g.dsn("bob", bobToken, "sslmode=require"))
	_, err := bob.Exec(ctx, "DELETE FROM users WHERE id = -1")
	wantPgErr(t, "delete as the reader", err, "42501", "permission denied for table users")

	var recs []session.Record
	for _, r := range mustList(t, g) {
		if r.Identity == "bob" {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 || recs[0].Tags["upstream_user"] != "sluice_reader" {
		t.Fatalf("bob's records %+v", recs)
	}
}

func mustList(t *testing.T, g *gw) []session.Record {
	t.Helper()
	recs, err := g.Deps().Store.List(context.Background(), session.Filter{Target: "appdb"})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
