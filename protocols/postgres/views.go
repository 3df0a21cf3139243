package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/policy"
)

const viewsQuery = `SELECT schemaname::text, viewname::text, definition FROM pg_catalog.pg_views
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT schemaname::text, matviewname::text, definition FROM pg_catalog.pg_matviews`

// loadViews reads the database's view definitions over pc, the gateway's
// own upstream connection, before it is handed to the client.
func loadViews(ctx context.Context, pc *pgconn.PgConn) (*policy.Views, error) {
	results, err := pc.Exec(ctx, viewsQuery).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading view definitions: %w", err)
	}
	var defs []policy.ViewDef
	for _, r := range results {
		if r.Err != nil {
			return nil, fmt.Errorf("reading view definitions: %w", r.Err)
		}
		for _, row := range r.Rows {
			if len(row) == 3 {
				defs = append(defs, policy.ViewDef{Schema: string(row[0]), Name: string(row[1]), Definition: string(row[2])})
			}
		}
	}
	return policy.NewViews(defs), nil
}
