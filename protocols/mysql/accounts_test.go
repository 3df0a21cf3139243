package mysql

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/session"
)

// upstream.accounts maps an identity to its own upstream account: bob
// (named there) reads as a read-only account the server itself holds to
// SELECT, alice keeps the target's account; the record names the account.
func TestUpstreamAccountPerIdentity(t *testing.T) {
	execUpstream(t, []string{
		"CREATE USER IF NOT EXISTS 'sluice_reader'@'%' IDENTIFIED BY 'reader-pw'",
		"GRANT SELECT ON " + mdb.Database + ".* TO 'sluice_reader'@'%'",
	}, "DROP USER IF EXISTS 'sluice_reader'@'%'")
	g := startGateway(t, gatewayOptions{upstream: "      accounts:\n        - {identities: [bob], user: sluice_reader, password: reader-pw}\n"})

	who := func(user, token string) string {
		db := g.open(t, user, token, "")
		var u string
		if err := db.QueryRow("SELECT CURRENT_USER()").Scan(&u); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		return u
	}
	if u := who("bob", bobToken); !strings.HasPrefix(u, "sluice_reader@") {
		t.Fatalf("bob's upstream account is %q", u)
	}
	if u := who("alice", aliceToken); !strings.HasPrefix(u, mdb.User+"@") {
		t.Fatalf("alice's upstream account is %q", u)
	}
	bob := g.open(t, "bob", bobToken, "")
	_, err := bob.Exec("DELETE FROM orders WHERE id = -1")
	if me := mysqlErr(t, err); me.Number != 1142 || !strings.Contains(me.Message, "DELETE command denied to user 'sluice_reader'") {
		t.Fatalf("the read-only account deleted, or the gateway refused instead of the server: %v", me)
	}

	recs, err := g.store.List(t.Context(), session.Filter{Identity: "bob"})
	if err != nil || len(recs) == 0 {
		t.Fatalf("records: %v %v", recs, err)
	}
	if got := recs[0].Tags["upstream_user"]; got != "sluice_reader" {
		t.Fatalf("record tags %v", recs[0].Tags)
	}
}
