package postgres

import (
	"slices"
	"strings"
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
		Tags:      sqlCommenterTags(e.statement),
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

// sqlCommenterTags extracts sqlcommenter-style tags: /* key='value',k2='v2' */.
// Keys and values are URL-encoded by convention; they are kept as written.
func sqlCommenterTags(sql string) map[string]string {
	i := strings.LastIndex(sql, "/*")
	if i < 0 {
		return nil
	}
	j := strings.Index(sql[i:], "*/")
	if j < 0 {
		return nil
	}
	body := strings.TrimSpace(sql[i+2 : i+j])
	var tags map[string]string
	for body != "" {
		eq := strings.IndexByte(body, '=')
		if eq <= 0 || eq+1 >= len(body) || body[eq+1] != '\'' {
			return tags
		}
		key := strings.TrimSpace(body[:eq])
		rest := body[eq+2:]
		end := strings.IndexByte(rest, '\'')
		if end < 0 {
			return tags
		}
		if tags == nil {
			tags = map[string]string{}
		}
		tags[key] = rest[:end]
		body = strings.TrimLeft(rest[end+1:], " ,")
	}
	return tags
}
