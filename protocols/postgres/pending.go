package postgres

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-gw/sluice/policy"
)

// expect is the kind of response a forwarded client message produces. The
// client loop pushes one per message it forwards; the server loop pops as
// the responses arrive. That queue is how results, errors and masks are tied
// to the statement that caused them, in pipelines too.
type expect uint8

const (
	expParse          expect = iota + 1 // ParseComplete
	expBind                             // BindComplete
	expDescribeStmt                     // ParameterDescription, then RowDescription | NoData
	expDescribePortal                   // RowDescription | NoData
	expExecute                          // DataRow* then CommandComplete | EmptyQueryResponse | PortalSuspended
	expClose                            // CloseComplete
	expSync                             // ReadyForQuery
	expQuery                            // (results)* then ReadyForQuery
	expFunctionCall                     // FunctionCallResponse then ReadyForQuery
)

// pendingItem is one expected response.
type pendingItem struct {
	kind expect
	// swallow marks a gateway-injected message whose response the client must not see.
	swallow bool
	// stmt is the described statement (expParse, expDescribeStmt), or for
	// an expQuery or expExecute that is a COPY, the SELECT that told its
	// column names.
	stmt   *stmtState
	portal *portalState
	// entry is the query-log line this response completes (Query, Execute).
	entry *queryEntry
}

// stmtState is what the gateway knows of a prepared statement.
type stmtState struct {
	text     string
	decision policy.Decision
	// shape is the statement's result description, learned from the server.
	shape atomic.Pointer[resultShape]
	// copyColumns, for a COPY ... TO STDOUT, is the SELECT described to
	// learn its column names (describeForCopy); nil when not described.
	copyColumns *stmtState
}

// portalState is a bound portal.
type portalState struct {
	stmt    *stmtState
	formats []int16 // result format codes from Bind
	params  []string
	shape   atomic.Pointer[resultShape]
}

// queryEntry accumulates one query-log line until its statement completes.
type queryEntry struct {
	seq       int64
	start     time.Time
	statement string
	params    []string
	decision  policy.Decision
	outcome   string // decision as recorded: allow, block, review-approved, ...
	approval  string
	reviewer  string
	reason    string
	blocked   bool // the client gets decision.Message instead of the poison error
	blockCode string
	blockMsg  string

	rows     int64
	tag      string
	sqlstate string
	errMsg   string
	masked   map[string]struct{}
	columns  []string
	sample   [][]string
	done     bool // recorded
}

// pendingQueue is a FIFO shared by the two relay loops.
type pendingQueue struct {
	mu    sync.Mutex
	items []pendingItem
	head  int
}

func (q *pendingQueue) push(it pendingItem) {
	q.mu.Lock()
	if q.head > 0 && q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
}

// empty reports whether no response is outstanding.
func (q *pendingQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == len(q.items)
}

// front returns the oldest item without removing it.
func (q *pendingQueue) front() (pendingItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return pendingItem{}, false
	}
	return q.items[q.head], true
}

// pop removes the oldest item.
func (q *pendingQueue) pop() (pendingItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return pendingItem{}, false
	}
	it := q.items[q.head]
	q.items[q.head] = pendingItem{}
	q.head++
	return it, true
}

// discardUntilSync drops items up to (not including) the next Sync, as the
// server does after an error in the extended protocol. It returns the
// dropped items so their log entries can be closed.
func (q *pendingQueue) discardUntilSync() []pendingItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	var dropped []pendingItem
	for q.head < len(q.items) {
		k := q.items[q.head].kind
		if k == expSync || k == expQuery || k == expFunctionCall {
			break
		}
		dropped = append(dropped, q.items[q.head])
		q.items[q.head] = pendingItem{}
		q.head++
	}
	return dropped
}
