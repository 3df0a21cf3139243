package postgres

import (
	"slices"
	"time"

	"github.com/sluice-gw/sluice/session"
)

// record writes a completed entry to the session's query log. A failing
// record ends the session unless the target is fail-open.
func (r *relay) record(e *queryEntry) {
	if e == nil || e.done {
		return
	}
	e.done = true
	ev := session.QueryEvent{
		Seq:       e.seq,
		Time:      e.start,
		Statement: e.statement,
		Params:    e.params,
		Duration:  time.Since(e.start),
		Rows:      e.rows,
		Tag:       e.tag,
		SQLState:  e.sqlstate,
		Error:     e.errMsg,
		Decision:  e.outcome,
		Rule:      e.decision.Rule,
		Approval:  e.approval,
		Reviewer:  e.reviewer,
		Reason:    e.reason,
		Columns:   e.columns,
		Sample:    e.sample,
		Tags:      session.SQLCommenterTags(e.statement),
	}
	if len(e.masked) > 0 {
		ev.Masked = make([]string, 0, len(e.masked))
		for k := range e.masked {
			ev.Masked = append(ev.Masked, k)
		}
		slices.Sort(ev.Masked)
	}
	if err := r.sess.LogQuery(ev); err != nil && !r.failOpen {
		r.fail(err)
	}
}
