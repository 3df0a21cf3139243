package mysql

import "testing"

// TestConnRegistryLookup: a KILL id is a connection's gateway id or its
// upstream thread id, only among the identity's own connections; an id
// that is both (for two different connections) names neither.
func TestConnRegistryLookup(t *testing.T) {
	r := newConnRegistry()
	a := &liveConn{identity: "alice", gwID: 1, upstreamID: 10}
	b := &liveConn{identity: "alice", gwID: 2, upstreamID: 1}
	c := &liveConn{identity: "bob", gwID: 3, upstreamID: 11}
	d := &liveConn{identity: "alice", gwID: 4, upstreamID: 4} // same number both ways: one connection
	for _, lc := range []*liveConn{a, b, c, d} {
		r.add(lc.gwID, lc)
	}
	for _, tc := range []struct {
		id        uint32
		identity  string
		want      *liveConn
		ambiguous bool
	}{
		{1, "alice", nil, true}, // a's gateway id, b's thread id
		{10, "alice", a, false},
		{2, "alice", b, false},
		{4, "alice", d, false},
		{11, "alice", nil, false}, // bob's thread
		{3, "alice", nil, false},  // bob's gateway id
		{3, "bob", c, false},
		{11, "bob", c, false},
		{99, "alice", nil, false},
	} {
		got, ambiguous := r.lookup(tc.id, tc.identity)
		if got != tc.want || ambiguous != tc.ambiguous {
			t.Errorf("lookup(%d, %s) = %+v, %v; want %+v, %v", tc.id, tc.identity, got, ambiguous, tc.want, tc.ambiguous)
		}
	}
}
