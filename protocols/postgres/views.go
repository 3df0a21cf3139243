package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/policy"
)

// viewsTTL is how long a database's view snapshot is reused. A view created
// outside the gateway is followed by masking at most this long after.
// (Views created through the gateway over masked columns are refused.)
const viewsTTL = 30 * time.Second

const viewsQuery = `SELECT schemaname::text, viewname::text, definition FROM pg_catalog.pg_views
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT schemaname::text, matviewname::text, definition FROM pg_catalog.pg_matviews`

// viewCache holds each upstream database's view snapshot for viewsTTL.
type viewCache struct {
	mu sync.Mutex
	m  map[string]viewEntry
}

type viewEntry struct {
	at    time.Time
	views *policy.Views
}

// get returns the snapshot for database, reading pg_views over pc (the
// gateway's own upstream connection, before it is handed to the client)
// when the cached one is stale.
func (c *viewCache) get(ctx context.Context, pc *pgconn.PgConn, database string) (*policy.Views, error) {
	c.mu.Lock()
	e, ok := c.m[database]
	c.mu.Unlock()
	if ok && time.Since(e.at) < viewsTTL {
		return e.views, nil
	}
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
	v := policy.NewViews(defs)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]viewEntry{}
	}
	c.m[database] = viewEntry{at: time.Now(), views: v}
	c.mu.Unlock()
	return v, nil
}
