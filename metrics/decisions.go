package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DecisionCounters counts policy decisions of one protocol and target. The
// database engines count every statement; resolving the vector's four
// labels per statement (hashing, a lock, a variadic slice) showed in their
// profiles, so the counters are resolved once per action and rule and read
// lock-free after.
type DecisionCounters struct {
	vec              *prometheus.CounterVec
	protocol, target string

	mu       sync.Mutex // serialises additions to byAction
	byAction atomic.Pointer[map[decisionKey]prometheus.Counter]
}

type decisionKey struct{ action, rule string }

// DecisionCounters returns the decision counters of protocol and target;
// nil (which counts nothing) when m is nil.
func (m *Metrics) DecisionCounters(protocol, target string) *DecisionCounters {
	if m == nil {
		return nil
	}
	d := &DecisionCounters{vec: m.Decisions, protocol: protocol, target: target}
	d.byAction.Store(&map[decisionKey]prometheus.Counter{})
	return d
}

// Inc counts one decision.
func (d *DecisionCounters) Inc(action, rule string) {
	if d == nil {
		return
	}
	k := decisionKey{action, rule}
	if c, ok := (*d.byAction.Load())[k]; ok {
		c.Inc()
		return
	}
	d.mu.Lock()
	cur := *d.byAction.Load()
	c, ok := cur[k]
	if !ok {
		c = d.vec.WithLabelValues(d.protocol, d.target, action, rule)
		// Copy on write: readers never see a map being modified. The set
		// is small (actions times the rules that decide).
		next := make(map[decisionKey]prometheus.Counter, len(cur)+1)
		for kk, vv := range cur {
			next[kk] = vv
		}
		next[k] = c
		d.byAction.Store(&next)
	}
	d.mu.Unlock()
	c.Inc()
}
