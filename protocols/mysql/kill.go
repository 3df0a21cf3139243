package mysql

import (
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sluice-gw/sluice/policy"
)

// connRegistry maps the connection ids the gateway issues to clients (in
// the greeting) to live connections, so `KILL QUERY n` reaches the right
// upstream thread. Clients never see upstream thread ids.
type connRegistry struct {
	next  atomic.Uint32
	mu    sync.Mutex
	conns map[uint32]*liveConn
}

// liveConn is what a KILL needs of another connection.
type liveConn struct {
	identity   string
	gwID       uint32
	upstreamID uint32
	// kill ends the connection's session with a reason (KILL CONNECTION).
	kill func(reason string)
}

func newConnRegistry() *connRegistry { return &connRegistry{conns: map[uint32]*liveConn{}} }

func (r *connRegistry) nextID() uint32 {
	for {
		id := r.next.Add(1)
		if id != 0 {
			return id
		}
	}
}

func (r *connRegistry) add(id uint32, c *liveConn) {
	r.mu.Lock()
	r.conns[id] = c
	r.mu.Unlock()
}

func (r *connRegistry) remove(id uint32) {
	r.mu.Lock()
	delete(r.conns, id)
	r.mu.Unlock()
}

// lookup returns the connection of identity that id names: the gateway id
// its client got in the greeting, or its upstream thread id (what SELECT
// CONNECTION_ID() returns through the gateway). Other identities'
// connections are unknown, as MySQL does for threads a user may not see.
// An id that is one connection's gateway id and another's thread id names
// neither: ambiguous is set and nil returned, rather than guess which.
func (r *connRegistry) lookup(id uint32, identity string) (c *liveConn, ambiguous bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gw := r.conns[id]; gw != nil && gw.identity == identity {
		c = gw
	}
	for _, other := range r.conns {
		if other.identity != identity || other.upstreamID != id || other == c {
			continue
		}
		if c != nil {
			return nil, true
		}
		c = other
	}
	return c, false
}

// killStmt is `KILL [HARD|SOFT] [CONNECTION|QUERY] [ID] n` (MySQL and
// MariaDB forms), alone in the text: the one form the gateway maps to an
// upstream thread. Any other text with a KILL in it (comments before it,
// other statements around it, KILL USER, an executable comment) is
// refused: see parseKill.
var killStmt = regexp.MustCompile(`(?is)^\s*KILL\s+(?:(?:HARD|SOFT)\s+)?(CONNECTION\s+|QUERY\s+)?(?:ID\s+)?([0-9]+)\s*;?\s*$`)

// killRequest is a parsed KILL statement.
type killRequest struct {
	query bool // KILL QUERY: stop the running statement, keep the connection
	id    uint32
}

// preparesKill reports whether the judged text prepares a KILL (PREPARE s
// FROM 'KILL n'), which EXECUTE would run later with an upstream thread id.
// Only a judged text (a target with a policy) carries its statements.
func preparesKill(d policy.Decision) bool {
	for _, s := range d.Statements {
		if slices.Contains(s.Also, "kill") {
			return true
		}
	}
	return false
}

// parseKill recognises KILL statements. ok is false for SQL with no KILL
// in it; unsupported is true for a KILL the gateway cannot map (it would
// name an upstream thread or user directly) and must refuse.
func parseKill(sql string) (req killRequest, ok, unsupported bool) {
	if !mentionsKill(sql) {
		return req, false, false
	}
	m := killStmt.FindStringSubmatch(sql)
	if m == nil {
		return req, true, true
	}
	n, err := strconv.ParseUint(m[2], 10, 32)
	if err != nil {
		return req, true, true
	}
	return killRequest{query: len(m[1]) > 0 && (m[1][0] == 'Q' || m[1][0] == 'q'), id: uint32(n)}, true, false
}
