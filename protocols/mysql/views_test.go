package mysql

import (
	"context"
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
		var email string
		var err error
		if strings.Contains(q, "?") {
			err = db.QueryRow(q, 1).Scan(&email) // binary protocol
		} else {
			err = db.QueryRow(q).Scan(&email)
		}
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if strings.Contains(strings.ToLower(email), "@example") || strings.Contains(strings.ToLower(email), "ada@") {
			t.Fatalf("%s: leaked %q through a view", q, email)
		}
	}
}
