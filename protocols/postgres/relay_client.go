package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-gw/sluice/policy"
)

// clientLoop reads client messages, judges each statement, and forwards it
// (or its poison replacement) upstream. It returns when the client leaves.
func (r *relay) clientLoop(ctx context.Context) error {
	for {
		msg, err := r.be.Receive()
		if err != nil {
			var tooBig *pgproto3.ExceededMaxBodyLenErr
			if errors.As(err, &tooBig) {
				r.toClient.send(fatal(codeProtocolViolation, fmt.Sprintf(
					"sluice: a %d-byte message exceeds the gateway's limit of %d bytes (limits.max_message_bytes)",
					tooBig.ActualBodyLen, tooBig.MaxExpectedBodyLen), nil).response())
				r.toClient.flush()
			}
			if wrote(err, "upstream") {
				return err // the flush before this read failed
			}
			return fmt.Errorf("client: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			if err := r.onQuery(ctx, m); err != nil {
				return err
			}
		case *pgproto3.Parse:
			if err := r.onParse(ctx, m); err != nil {
				return err
			}
		case *pgproto3.Bind:
			r.onBind(m)
		case *pgproto3.Describe:
			it := pendingItem{kind: expDescribeStmt, stmt: r.stmts[m.Name]}
			if m.ObjectType == 'P' {
				it = pendingItem{kind: expDescribePortal, portal: r.portals[m.Name]}
			}
			r.forward(it, m)
		case *pgproto3.Execute:
			r.onExecute(m)
		case *pgproto3.Close:
			if m.ObjectType == 'P' {
				delete(r.portals, m.Name)
			} else {
				delete(r.stmts, m.Name)
			}
			r.forward(pendingItem{kind: expClose}, m)
		case *pgproto3.Sync:
			r.forward(pendingItem{kind: expSync}, m)
			// An unnamed portal does not survive the end of the transaction;
			// keeping it would only pin memory.
			delete(r.portals, "")
		case *pgproto3.Flush, *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			if err := r.toUp.send(m.(encoder)); err != nil {
				return err
			}
		case *pgproto3.FunctionCall:
			r.onFunctionCall(m)
		case *pgproto3.Terminate:
			r.clientQuit.Store(true)
			r.toUp.send(m)
			r.toUp.flush()
			return nil
		default:
			return fatal(codeProtocolViolation, fmt.Sprintf("unexpected message %T", msg), nil)
		}
		switch msg.(type) {
		case *pgproto3.Parse, *pgproto3.Bind, *pgproto3.Describe, *pgproto3.Execute, *pgproto3.Close:
			r.batchOpen = true
		case *pgproto3.Sync, *pgproto3.Query:
			r.batchOpen = false
		}
		if err := r.toUp.err; err != nil {
			return fmt.Errorf("upstream write: %w", err)
		}
	}
}

// forward queues the expectation and the message, in that order, so the
// response can never overtake its queue entry.
func (r *relay) forward(it pendingItem, m encoder) {
	r.pending.push(it)
	r.toUp.send(m)
}

func (r *relay) newEntry(text string, params []string, d policy.Decision) *queryEntry {
	r.seq++
	return &queryEntry{seq: r.seq, start: time.Now(), statement: text, params: params, decision: d, outcome: d.Action.String()}
}

func (r *relay) onQuery(ctx context.Context, m *pgproto3.Query) error {
	d := r.pol.CheckSQL(policy.Postgres, r.sub, m.String)
	e := r.newEntry(m.String, nil, d)
	r.decide(ctx, e)
	if e.blocked {
		r.forward(pendingItem{kind: expQuery, entry: e}, &pgproto3.Query{String: r.poison})
		return nil
	}
	it := pendingItem{kind: expQuery, entry: e}
	if sql := d.Mask.CopyDescribe(); sql != "" && r.pending.empty() && !r.batchOpen {
		it.stmt = r.describeForCopy(sql)
	}
	r.forward(it, m)
	return nil
}

// describeForCopy asks the server for the column names of a COPY ... TO
// STDOUT, which its CopyOutResponse does not give (without them the masks
// cannot tell the columns apart and mask every one that might be masked):
// ahead of the COPY it describes a SELECT with the same columns as a
// prepared statement of its own, then closes it. The client sees none of
// the responses. Only when nothing is in flight: the injected Sync must
// not end a batch of the client's. If any of it fails (an aborted
// transaction, the name taken), the COPY is masked without names.
func (r *relay) describeForCopy(sql string) *stmtState {
	st := &stmtState{text: sql}
	name := "sluice_copy_columns_" + strings.ReplaceAll(r.sess.ID(), "-", "_") // shows in server logs: say what it is
	r.forward(pendingItem{kind: expParse, swallow: true}, &pgproto3.Parse{Name: name, Query: sql})
	r.forward(pendingItem{kind: expDescribeStmt, stmt: st, swallow: true}, &pgproto3.Describe{ObjectType: 'S', Name: name})
	r.forward(pendingItem{kind: expClose, swallow: true}, &pgproto3.Close{ObjectType: 'S', Name: name})
	r.forward(pendingItem{kind: expSync, swallow: true}, &pgproto3.Sync{})
	return st
}

func (r *relay) onParse(ctx context.Context, m *pgproto3.Parse) error {
	d := r.pol.CheckSQL(policy.Postgres, r.sub, m.Query)
	st := &stmtState{text: m.Query, decision: d}
	r.stmts[m.Name] = st
	if d.Action == policy.Allow {
		r.forwardParse(st, m)
		return nil
	}
	// Blocked and held statements are recorded at Parse: that is where the
	// decision is made, and it holds for every execution of the statement.
	e := r.newEntry(m.Query, nil, d)
	r.decide(ctx, e)
	if e.blocked {
		r.forward(pendingItem{kind: expParse, stmt: st, entry: e}, &pgproto3.Parse{Name: m.Name, Query: r.poison})
		return nil
	}
	r.record(e)
	st.decision.Action = policy.Allow
	r.forwardParse(st, m)
	return nil
}

// forwardParse forwards an allowed Parse. For a COPY ... TO STDOUT whose
// columns the masks tell apart by name, the columns are described first,
// as for a simple-query COPY (describeForCopy), when the Parse opens a
// batch and nothing is in flight.
func (r *relay) forwardParse(st *stmtState, m *pgproto3.Parse) {
	if sql := st.decision.Mask.CopyDescribe(); sql != "" && r.pending.empty() && !r.batchOpen {
		st.copyColumns = r.describeForCopy(sql)
	}
	r.forward(pendingItem{kind: expParse, stmt: st}, m)
}

// onFunctionCall relays the fast-path function call. It names a function by
// OID, which the policy cannot judge without the catalog, so under any policy
// it is refused (fail closed); without a policy it is relayed and logged.
func (r *relay) onFunctionCall(m *pgproto3.FunctionCall) {
	text := fmt.Sprintf("-- fast-path FunctionCall oid=%d args=%d", m.Function, len(m.Arguments))
	if r.pol == nil {
		r.forward(pendingItem{kind: expFunctionCall, entry: r.newEntry(text, nil, policy.Decision{})}, m)
		return
	}
	e := r.newEntry(text, nil, policy.Decision{Action: policy.Block, Rule: "function-call",
		Message: "sluice: fast-path FunctionCall is not allowed under a policy (a function named by OID cannot be judged); use SELECT"})
	r.decide(context.Background(), e)
	// The poison Query answers ErrorResponse + ReadyForQuery, the same shape
	// as a failed FunctionCall.
	r.forward(pendingItem{kind: expFunctionCall, entry: e}, &pgproto3.Query{String: r.poison})
}

func (r *relay) onBind(m *pgproto3.Bind) {
	st := r.stmts[m.PreparedStatement]
	if st == nil {
		// Unknown to us (prepared before a gateway restart is impossible, so
		// the server will answer "does not exist"); track it as empty.
		st = &stmtState{}
	}
	p := &portalState{stmt: st, formats: append([]int16(nil), m.ResultFormatCodes...)}
	if !r.omitParams && len(m.Parameters) > 0 {
		p.params = formatParams(m.Parameters, m.ParameterFormatCodes)
	}
	r.portals[m.DestinationPortal] = p
	r.forward(pendingItem{kind: expBind}, m)
}

func (r *relay) onExecute(m *pgproto3.Execute) {
	p := r.portals[m.Portal]
	if p == nil {
		p = &portalState{stmt: &stmtState{}}
	}
	e := r.newEntry(p.stmt.text, p.params, p.stmt.decision)
	if p.stmt.decision.Mask != nil && p.shape.Load() == nil && p.stmt.shape.Load() == nil {
		// Masking needs the column types; the client never asked for them.
		// Ask on its behalf and keep the answer from it.
		r.forward(pendingItem{kind: expDescribePortal, portal: p, swallow: true}, &pgproto3.Describe{ObjectType: 'P', Name: m.Portal})
	}
	r.forward(pendingItem{kind: expExecute, portal: p, entry: e, stmt: p.stmt.copyColumns}, m)
}

// decide resolves review decisions (waiting for a reviewer) and marks the
// entry blocked when the statement must not run.
func (r *relay) decide(ctx context.Context, e *queryEntry) {
	d := e.decision
	switch d.Action {
	case policy.Allow:
		r.e.decisions.Inc("allow", d.Rule)
		return
	case policy.Block:
		e.blocked = true
		e.blockCode = codeInsufficientPrivilege
		e.blockMsg = d.Message
		if e.blockMsg == "" {
			e.blockMsg = fmt.Sprintf("sluice: statement blocked by rule %q", d.Rule)
		}
		r.e.decisions.Inc("block", d.Rule)
		return
	case policy.Review:
		r.review(ctx, e)
	}
}

func (r *relay) review(ctx context.Context, e *queryEntry) {
	d := e.decision
	req, err := r.e.deps.Broker.Submit(policy.ApprovalRequest{
		Session: r.sess.ID(), Protocol: "postgres", Target: r.sub.Target,
		Identity: r.sub.Identity, Groups: r.sub.Groups, Statement: e.statement, Rule: d.Rule,
	})
	if err != nil {
		e.blocked, e.outcome = true, "review-error"
		e.blockCode = codeInsufficientPrivilege
		e.blockMsg = fmt.Sprintf("sluice: statement needs approval (rule %q) but the request could not be filed", d.Rule)
		r.log.Error("filing approval request", "err", err)
		return
	}
	e.approval = req.ID
	// Tell the waiting client what it is waiting for; psql shows NOTICEs at once.
	r.toClient.send(&pgproto3.NoticeResponse{
		Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "01000",
		Message: fmt.Sprintf("sluice: statement held for approval %s (rule %q); waiting for a reviewer", req.ID, d.Rule),
		Hint:    fmt.Sprintf("a reviewer runs: sluice approve %s", req.ID),
	})
	r.toClient.flush()
	r.e.decisions.Inc("review", d.Rule)
	out := waitWatching(ctx, r.clientIn, func(ctx context.Context) policy.Outcome {
		return r.e.deps.Broker.Wait(ctx, req.ID)
	})
	e.reviewer, e.reason = out.Reviewer, out.Reason
	switch {
	case out.Approved:
		e.outcome = "review-approved"
		return
	case out.TimedOut:
		e.outcome = "review-timeout"
		e.blockMsg = fmt.Sprintf("sluice: approval %s timed out (rule %q)", req.ID, d.Rule)
	case out.Cancelled:
		e.outcome = "review-cancelled"
		e.blockMsg = fmt.Sprintf("sluice: approval %s was cancelled", req.ID)
	default:
		e.outcome = "review-denied"
		e.blockMsg = fmt.Sprintf("sluice: approval %s denied by %s (rule %q)", req.ID, out.Reviewer, d.Rule)
		if out.Reason != "" {
			e.blockMsg += ": " + out.Reason
		}
	}
	e.blocked = true
	e.blockCode = codeInsufficientPrivilege
}

// formatParams renders bind parameters for the query log: text as is,
// binary as \x hex, NULL as nil-marker.
func formatParams(vals [][]byte, formats []int16) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		f := int16(0)
		switch {
		case len(formats) == 1:
			f = formats[0]
		case i < len(formats):
			f = formats[i]
		}
		switch {
		case v == nil:
			out[i] = "NULL"
		case f == 0:
			out[i] = string(v)
		default:
			out[i] = `\x` + fmt.Sprintf("%x", v)
		}
	}
	return out
}
