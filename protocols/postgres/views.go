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

// funcsQuery lists the database's own functions with their source, so
// that lineage can tell which of them may read masked columns. A
// SQL-standard body (BEGIN ATOMIC, Postgres 14+) leaves prosrc empty: its
// text comes from pg_get_functiondef (only then: it refuses aggregates).
const funcsQuery = `SELECT n.nspname::text, p.proname::text,
  CASE WHEN p.prosrc <> '' THEN p.prosrc ELSE pg_catalog.pg_get_functiondef(p.oid) END
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')`

// loadViews reads the database's view definitions and functions over pc,
// the gateway's own upstream connection, before it is handed to the client.
func loadViews(ctx context.Context, pc *pgconn.PgConn) (*policy.Views, error) {
	results, err := pc.Exec(ctx, viewsQuery+";\n"+funcsQuery).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading view and function definitions: %w", err)
	}
	if len(results) != 2 {
		return nil, fmt.Errorf("reading view and function definitions: %d results, want 2", len(results))
	}
	var defs []policy.ViewDef
	var fns []policy.FuncDef
	for i, r := range results {
		if r.Err != nil {
			return nil, fmt.Errorf("reading view and function definitions: %w", r.Err)
		}
		for _, row := range r.Rows {
			if len(row) != 3 {
				continue
			}
			if i == 0 {
				defs = append(defs, policy.ViewDef{Schema: string(row[0]), Name: string(row[1]), Definition: string(row[2])})
			} else {
				fns = append(fns, policy.FuncDef{Schema: string(row[0]), Name: string(row[1]), Body: string(row[2])})
			}
		}
	}
	return policy.NewViews(defs).WithFuncs(fns), nil
}
