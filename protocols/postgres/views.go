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

// inheritsQuery lists partitions and inheritance children with their
// parents: a child's rows are its parent's, under another name.
const inheritsQuery = `SELECT cn.nspname::text, c.relname::text, pn.nspname::text, p.relname::text
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace`

// loadViews reads the database's view definitions, functions and
// inheritance over pc, the gateway's own upstream connection, before it is
// handed to the client.
func loadViews(ctx context.Context, pc *pgconn.PgConn) (*policy.Views, error) {
	results, err := pc.Exec(ctx, viewsQuery+";\n"+funcsQuery+";\n"+inheritsQuery).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading view and function definitions: %w", err)
	}
	if len(results) != 3 {
		return nil, fmt.Errorf("reading view and function definitions: %d results, want 3", len(results))
	}
	var defs []policy.ViewDef
	var fns []policy.FuncDef
	var parents []policy.ParentDef
	for i, r := range results {
		if r.Err != nil {
			return nil, fmt.Errorf("reading view and function definitions: %w", r.Err)
		}
		for _, row := range r.Rows {
			switch {
			case i == 0 && len(row) == 3:
				defs = append(defs, policy.ViewDef{Schema: string(row[0]), Name: string(row[1]), Definition: string(row[2])})
			case i == 1 && len(row) == 3:
				fns = append(fns, policy.FuncDef{Schema: string(row[0]), Name: string(row[1]), Body: string(row[2])})
			case i == 2 && len(row) == 4:
				parents = append(parents, policy.ParentDef{Schema: string(row[0]), Name: string(row[1]),
					ParentSchema: string(row[2]), ParentName: string(row[3])})
			}
		}
	}
	return policy.NewViews(defs).WithFuncs(fns).WithParents(parents), nil
}
