package mysql

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// preparedStmt is what the gateway knows of a prepared statement. Ids are
// the upstream's, passed through unchanged: each client connection has its
// own upstream connection.
type preparedStmt struct {
	sql    string
	run    *queryRun // the prepare-time decision, reused by every execution
	params int
	// paramTypes are the last bound parameter types (2 bytes each).
	paramTypes []byte
	// longData marks parameters sent with COM_STMT_SEND_LONG_DATA.
	longData map[uint16]bool
	// cols are the result columns of the last execution (for FETCH).
	cols []columnDef
}

// prepare judges the statement at COM_STMT_PREPARE: a blocked statement is
// never prepared upstream, a reviewed one waits here once and its
// executions run under the approval.
func (e *Engine) prepare(ctx context.Context, st *connState, sql string) error {
	run := e.judge(ctx, st, sql)
	if run.refusal != nil {
		return e.finishRefused(st, run)
	}
	if _, isKill, _ := parseKill(sql); isKill {
		run.refusal = &clientError{code: gm.ER_NOT_SUPPORTED_YET, state: stateSyntaxOrAccess,
			msg: "sluice: KILL cannot be prepared through the gateway; send it as a plain query"}
		return e.finishRefused(st, run)
	}
	if err := forward(st, append([]byte{gm.COM_STMT_PREPARE}, sql...)); err != nil {
		return err
	}
	up, cl := st.up.leg, st.client
	p, err := up.r.Read()
	if err != nil {
		return fmt.Errorf("reading prepare response: %w", err)
	}
	if len(p) > 0 && p[0] == hdrErr {
		run.tag = "PREPARE"
		return e.relayErr(st, run, p)
	}
	if len(p) < 12 || p[0] != hdrOK {
		return fmt.Errorf("upstream prepare response: %w", errMalformed)
	}
	id := binary.LittleEndian.Uint32(p[1:])
	ncols := int(binary.LittleEndian.Uint16(p[5:]))
	nparams := int(binary.LittleEndian.Uint16(p[7:]))
	if err := cl.w.Write(p); err != nil {
		return err
	}
	stmt := &preparedStmt{sql: sql, run: run, params: nparams}
	// Parameter and column definitions pass through raw; columns are kept
	// for masking rows that a cursor later returns through COM_STMT_FETCH.
	if err := e.relayDefs(st, nparams, nil); err != nil {
		return err
	}
	if err := e.relayDefs(st, ncols, &stmt.cols); err != nil {
		return err
	}
	st.stmts[id] = stmt
	return cl.w.Flush()
}

// relayDefs relays n definition packets (and the EOF after them unless
// DEPRECATE_EOF), parsing them into cols when cols is set.
func (e *Engine) relayDefs(st *connState, n int, cols *[]columnDef) error {
	if n == 0 {
		return nil
	}
	up, cl := st.up.leg, st.client
	for range n {
		d, err := up.r.Read()
		if err != nil {
			return fmt.Errorf("reading definitions: %w", err)
		}
		if cols != nil {
			c, err := parseColumnDef(d)
			if err != nil {
				return fmt.Errorf("upstream column definition: %w", err)
			}
			*cols = append(*cols, c)
		}
		if err := cl.w.Write(d); err != nil {
			return err
		}
	}
	if st.deprecateEOF() {
		return nil
	}
	d, err := up.r.Read()
	if err != nil {
		return fmt.Errorf("reading definitions EOF: %w", err)
	}
	return cl.w.Write(d)
}

// execute handles COM_STMT_EXECUTE under the prepare-time decision,
// logging the execution with its parameters.
func (e *Engine) execute(ctx context.Context, st *connState, p []byte) error {
	if len(p) < 10 {
		return e.refuseCommand(st, &clientError{code: gm.ER_MALFORMED_PACKET, state: stateGeneral, msg: "Malformed packet"})
	}
	id := binary.LittleEndian.Uint32(p[1:])
	stmt := st.stmts[id]
	if stmt == nil {
		// Unknown to the gateway, so never judged: let the server say so
		// without running anything.
		return e.refuseCommand(st, &clientError{code: gm.ER_UNKNOWN_STMT_HANDLER, state: stateGeneral,
			msg: fmt.Sprintf("Unknown prepared statement handler (%d) given to mysqld_stmt_execute", id)})
	}
	run := &queryRun{sql: stmt.sql, start: time.Now(), decision: stmt.run.decision,
		logDecision: stmt.run.logDecision, approval: stmt.run.approval, reviewer: stmt.run.reviewer}
	params, types, err := decodeExecuteParams(p, stmt.params, stmt.paramTypes, stmt.longData)
	if err != nil {
		return e.refuseCommand(st, &clientError{code: gm.ER_MALFORMED_PACKET, state: stateGeneral, msg: "Malformed packet"})
	}
	stmt.paramTypes = append(stmt.paramTypes[:0], types...)
	clear(stmt.longData)
	run.params = params
	if err := forward(st, p); err != nil {
		e.recordCutOff(st, run, err)
		return err
	}
	return e.relayResponse(st, run, stmt)
}

// fetch relays COM_STMT_FETCH: binary rows of an open cursor.
func (e *Engine) fetch(st *connState, p []byte) error {
	if len(p) < 9 {
		return e.refuseCommand(st, &clientError{code: gm.ER_MALFORMED_PACKET, state: stateGeneral, msg: "Malformed packet"})
	}
	stmt := st.stmts[binary.LittleEndian.Uint32(p[1:])]
	if stmt == nil {
		return e.refuseCommand(st, &clientError{code: gm.ER_UNKNOWN_STMT_HANDLER, state: stateGeneral,
			msg: "Unknown prepared statement handler given to mysqld_stmt_fetch"})
	}
	if err := forward(st, p); err != nil {
		return err
	}
	run := &queryRun{sql: stmt.sql, start: time.Now(), decision: stmt.run.decision,
		logDecision: stmt.run.logDecision, tag: "FETCH"}
	_, err := e.relayRows(st, run, stmt.cols, true)
	return err
}

// longData notes which parameters arrive as long data (for the log).
func (e *Engine) longData(st *connState, p []byte) {
	if len(p) < 7 {
		return
	}
	stmt := st.stmts[binary.LittleEndian.Uint32(p[1:])]
	if stmt == nil {
		return
	}
	if stmt.longData == nil {
		stmt.longData = map[uint16]bool{}
	}
	stmt.longData[binary.LittleEndian.Uint16(p[5:])] = true
}
