package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/session"
)

// queryRun is one judged client unit (a COM_QUERY text, a prepared
// statement's execution) and what its response turned out to be: the
// material of one query-log line.
type queryRun struct {
	sql      string
	params   []string
	start    time.Time
	decision policy.Decision
	// logDecision is the query log's decision word (allow, block, review-*).
	logDecision string
	approval    string
	reviewer    string
	reason      string
	// refusal, when set, is sent instead of forwarding.
	refusal *clientError
	// localInfile allows LOAD DATA LOCAL for this statement.
	localInfile bool

	rows int64
	// results counts the results (OK packets, result sets) the upstream
	// completed: with an ERR, how far a multi-statement text got.
	results int
	tag     string
	srvErr  *serverError
	masked  []string
	columns []string
	sample  [][]string
	// recorded: the query-log line is written (exactly once).
	recorded bool
	// diag masks the rows of SHOW WARNINGS / SHOW ERRORS: the mask of the
	// statement whose messages they are, and its text.
	diag     *policy.ErrorMask
	diagStmt string
}

// sampleRows and sampleValueBytes bound what the query log keeps of results.
const (
	sampleRows       = 5
	sampleValueBytes = 200
)

// judge asks policy about sql and, for a review, holds the statement until
// a reviewer decides (the client simply waits; its disconnect cancels).
func (e *Engine) judge(ctx context.Context, st *connState, sql string) *queryRun {
	run := &queryRun{sql: sql, start: time.Now()}
	d := e.policy.CheckSQL(policy.MySQL, st.sub, sql)
	run.decision = d
	e.decisions.Inc(d.Action.String(), d.Rule)
	switch d.Action {
	case policy.Allow:
		run.logDecision = "allow"
		// LOAD DATA LOCAL reads a client file into the server: only a rule
		// that explicitly allows the statement unlocks it, never the default.
		run.localInfile = d.Rule != ""
	case policy.Block:
		run.logDecision = "block"
		run.refusal = policyError(blockMessage(d))
	case policy.Review:
		e.review(ctx, st, run)
	}
	return run
}

func blockMessage(d policy.Decision) string {
	msg := d.Message
	if msg == "" {
		msg = "statement blocked by policy"
	}
	if d.Rule != "" && !strings.Contains(msg, d.Rule) {
		msg += fmt.Sprintf(" (rule %q)", d.Rule)
	}
	return "sluice: " + msg
}

// review files the statement with the broker and waits for the outcome.
func (e *Engine) review(ctx context.Context, st *connState, run *queryRun) {
	req, err := e.deps.Broker.Submit(policy.ApprovalRequest{
		Session: st.sess.ID(), Protocol: protocolName, Target: e.target.Name,
		Identity: st.id.Name, Groups: st.id.Groups, Statement: run.sql, Rule: run.decision.Rule,
	})
	if err != nil {
		run.logDecision = "review-denied"
		run.reason = "approval could not be filed"
		run.refusal = policyError(fmt.Sprintf("sluice: statement needs approval (rule %q) but the approval could not be filed", run.decision.Rule))
		return
	}
	run.approval = req.ID
	out := e.waitWhileClientConnected(ctx, st, req.ID)
	run.reviewer, run.reason = out.Reviewer, out.Reason
	outcome := "denied"
	switch {
	case ctx.Err() != nil:
		// The session was killed while the statement waited: it does not
		// run, whatever the outcome, and the client hears why.
		run.logDecision = "review-denied"
		outcome = "cancelled"
		run.reason = "cancelled: session ended"
		run.refusal = endedError(context.Cause(ctx))
	case out.Approved:
		run.logDecision = "review-approved"
		e.deps.Metrics.Approvals.WithLabelValues("approved").Inc()
		return
	case out.TimedOut:
		run.logDecision = "review-timeout"
		outcome = "timeout"
		run.refusal = policyError(fmt.Sprintf("sluice: approval %s (rule %q) timed out without a decision", req.ID, run.decision.Rule))
	case out.Cancelled:
		run.logDecision = "review-denied"
		outcome = "cancelled"
		run.reason = "cancelled: client disconnected or session ended"
		run.refusal = policyError(fmt.Sprintf("sluice: approval %s was cancelled", req.ID))
	default:
		run.logDecision = "review-denied"
		msg := fmt.Sprintf("sluice: approval %s (rule %q) was denied", req.ID, run.decision.Rule)
		if out.Reviewer != "" {
			msg += " by " + out.Reviewer
		}
		if out.Reason != "" {
			msg += ": " + out.Reason
		}
		run.refusal = policyError(msg)
	}
	e.deps.Metrics.Approvals.WithLabelValues(outcome).Inc()
}

// waitWhileClientConnected waits on the broker, cancelling the wait when
// the client hangs up. A watcher goroutine peeks at the client's socket
// (without consuming anything); it is stopped with a past read deadline
// before the relay reads the client again.
func (e *Engine) waitWhileClientConnected(ctx context.Context, st *connState, id string) policy.Outcome {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := st.client.r.br.Peek(1); err != nil && isDisconnect(err) {
			cancel()
		}
	}()
	out := e.deps.Broker.Wait(wctx, id)
	_ = st.client.conn.SetReadDeadline(time.Unix(1, 0))
	<-done
	_ = st.client.conn.SetReadDeadline(time.Time{})
	return out
}

// query handles COM_QUERY: judge, map KILL, forward, stream the response.
func (e *Engine) query(ctx context.Context, st *connState, sql string) error {
	run := e.judge(ctx, st, sql)
	if run.refusal != nil {
		return e.finishRefused(st, run)
	}
	if preparesKill(run.decision) {
		run.refusal = &clientError{code: gm.ER_NOT_SUPPORTED_YET, state: stateSyntaxOrAccess,
			msg: "sluice: KILL cannot be prepared through the gateway; send it as a plain query"}
		return e.finishRefused(st, run)
	}
	if k, isKill, unsupported := parseKill(sql); isKill {
		if unsupported {
			run.refusal = &clientError{code: gm.ER_NOT_SUPPORTED_YET, state: stateSyntaxOrAccess,
				msg: "sluice: only KILL [CONNECTION|QUERY] <id>, alone in the query and with the id of one of your connections, is supported"}
			return e.finishRefused(st, run)
		}
		if !k.query {
			return e.kill(st, k, sql)
		}
		target, refusal := e.lookupKill(st, k.id)
		if refusal != nil {
			run.refusal = refusal
			return e.finishRefused(st, run)
		}
		// The upstream thread behind the id; both run on the same upstream
		// server, so this connection can issue the KILL.
		sql = fmt.Sprintf("KILL QUERY %d", target.upstreamID)
	}
	payload := append(append(st.rowBuf[:0], gm.COM_QUERY), sql...)
	st.rowBuf = payload[:0]
	if err := forward(st, payload); err != nil {
		e.recordCutOff(st, run, err)
		return err
	}
	if err := e.relayResponse(st, run, nil); err != nil {
		return err
	}
	st.sub.Database = databaseAfter(st.sub.Database, run)
	return nil
}

// kill ends another connection of the same identity (KILL CONNECTION n,
// COM_PROCESS_KILL).
func (e *Engine) kill(st *connState, k killRequest, text string) error {
	run := &queryRun{sql: text, start: time.Now(), logDecision: "allow"}
	target, refusal := e.lookupKill(st, k.id)
	if refusal != nil {
		run.refusal = refusal
		return e.finishRefused(st, run)
	}
	if target.gwID == st.gwID {
		e.record(st, run)
		return errQuit
	}
	// Killed like any session: a command in flight there gets ERR 1927
	// naming this KILL, and its record says who ended it.
	target.kill(fmt.Sprintf("KILL CONNECTION %d from connection %d", k.id, st.gwID))
	run.tag = "OK"
	e.record(st, run)
	return st.client.writeFlush(appendOK(nil, hdrOK, 0, gm.SERVER_STATUS_AUTOCOMMIT))
}

// lookupKill finds the connection a KILL of the session's identity names,
// or the ERR to answer with.
func (e *Engine) lookupKill(st *connState, id uint32) (*liveConn, *clientError) {
	target, ambiguous := e.conns.lookup(id, st.id.Name)
	switch {
	case ambiguous:
		return nil, &clientError{code: gm.ER_NO_SUCH_THREAD, state: stateGeneral, msg: fmt.Sprintf(
			"sluice: thread id %d is ambiguous: it is one of your connections' gateway id and another's server thread id", id)}
	case target == nil:
		return nil, &clientError{code: gm.ER_NO_SUCH_THREAD, state: stateGeneral, msg: fmt.Sprintf("Unknown thread id: %d", id)}
	}
	return target, nil
}

// finishRefused sends the refusal, records it, and keeps the session.
func (e *Engine) finishRefused(st *connState, run *queryRun) error {
	run.srvErr = &serverError{Code: run.refusal.code, SQLState: run.refusal.state, Message: run.refusal.msg}
	e.record(st, run)
	return e.refuseCommand(st, run.refusal)
}

// record writes the run's query-log line. A failing record ends the
// session unless the target is fail-open.
func (e *Engine) record(st *connState, run *queryRun) {
	if run.recorded {
		return
	}
	run.recorded = true
	st.seq++
	ev := session.QueryEvent{
		Seq: st.seq, Time: run.start, Statement: run.sql, Duration: time.Since(run.start),
		Rows: run.rows, Tag: run.tag, Decision: run.logDecision, Rule: run.decision.Rule,
		Approval: run.approval, Reviewer: run.reviewer, Reason: run.reason, Masked: run.masked,
		Columns: run.columns, Sample: run.sample, Tags: session.SQLCommenterTags(run.sql),
	}
	slices.Sort(ev.Masked)
	if !st.rec.OmitParams {
		ev.Params = run.params
	}
	if run.srvErr != nil {
		ev.SQLState = run.srvErr.SQLState
		ev.Error = fmt.Sprintf("%d: %s", run.srvErr.Code, run.srvErr.Message)
	}
	if err := st.sess.LogQuery(ev); err != nil && !st.rec.FailOpen {
		st.sess.Close(session.StatusFailed, fmt.Errorf("query log: %w", err))
	}
}

// recordCutOff logs a run whose response never completed (the client or
// the upstream gone mid-result, the session killed): the log must show what
// was sent, with the rows streamed so far, even when no answer ended it.
func (e *Engine) recordCutOff(st *connState, run *queryRun, err error) {
	if run.recorded {
		return
	}
	why := err.Error()
	if cause := context.Cause(st.sess.Context()); cause != nil {
		why = cause.Error()
	}
	run.srvErr = &serverError{Code: crServerLost, SQLState: stateCommLink, Message: "not completed: " + why}
	e.record(st, run)
}
