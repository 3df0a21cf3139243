package postgres_test

import (
	"context"
	"strings"
	"testing"
)

// pg_stats keeps samples of every column for the planner: a histogram of
// users.email holds e-mails. Read directly they are in clear; through the
// gateway, under a policy that masks the column, they are not.
func TestStatisticsCatalogMasked(t *testing.T) {
	const q = `SELECT attname, histogram_bounds::text FROM pg_stats WHERE tablename = 'users' AND attname = 'email'`
	ctx := context.Background()
	direct := connect(t, pg.DSN("app"))
	var name, hist string
	if err := direct.QueryRow(ctx, q).Scan(&name, &hist); err != nil || !strings.Contains(hist, "@example.com") {
		t.Fatalf("direct: the test needs sampled e-mails in pg_stats: %q %v", hist, err)
	}
	g := startGateway(t, guardedYAML)
	for _, mode := range []string{"simple_protocol", "cache_statement"} {
		c := connect(t, g.dsn("alice", aliceToken, "default_query_exec_mode="+mode))
		if err := c.QueryRow(ctx, q).Scan(&name, &hist); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if strings.Contains(hist, "@") || name == "email" {
			t.Fatalf("%s: statistics not masked: %q %q", mode, name, hist)
		}
	}
}
