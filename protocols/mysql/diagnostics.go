package mysql

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/sluice-gw/sluice/policy"
)

// Error texts quote values (a truncated cast quotes the value, a duplicate
// key the key): ERR packets of a statement that reads masked data pass
// through the decision's ErrorMask. MySQL also keeps a statement's
// warnings for SHOW WARNINGS / SHOW ERRORS, which read them as rows after
// the statement is over (`SELECT email + 0 FROM users` warns "Truncated
// incorrect DOUBLE value: 'alice@...'" while its result is masked), so the
// connection remembers the last statement's mask for them.

// maskErr applies the run's error mask to an ERR packet, returning the
// packet to relay (p itself when nothing changed).
func maskErr(run *queryRun, se *serverError, p []byte) []byte {
	if !run.decision.Errors.MySQL(run.sql, se.Code, se.SQLState, &se.Message) {
		return p
	}
	return appendErr(nil, se.Code, se.SQLState, se.Message)
}

// diagnostics reports whether the text reads the warnings list.
func diagnostics(d policy.Decision) bool {
	for i := range d.Statements {
		if d.Statements[i].Diagnostics {
			return true
		}
	}
	return false
}

// startDiagnostics picks the mask for a run's SHOW WARNINGS rows: the
// previous statement's, or, when the text itself holds the statement that
// warned (`SELECT ...; SHOW WARNINGS`), the text's own when it reads masked
// data.
func (st *connState) startDiagnostics(run *queryRun) {
	if !diagnostics(run.decision) {
		return
	}
	run.diag, run.diagStmt = st.diagMask, st.diagStmt
	if len(run.decision.Statements) > 1 && run.decision.Errors.Values() {
		run.diag, run.diagStmt = run.decision.Errors, run.sql
	}
}

// endDiagnostics remembers a finished run's mask for a later SHOW
// WARNINGS (which itself leaves the warnings list as it was).
func (st *connState) endDiagnostics(run *queryRun) {
	if diagnostics(run.decision) && len(run.decision.Statements) == 1 {
		return
	}
	st.diagMask, st.diagStmt = run.decision.Errors, run.sql
	if st.diagMask == nil {
		st.diagStmt = ""
	}
}

// maskWarningRow applies the remembered mask to one row of SHOW WARNINGS
// (Level, Code, Message). Warnings are few: the row is rebuilt in a buffer
// of its own.
func (e *Engine) maskWarningRow(st *connState, run *queryRun, cols []columnDef, binaryRow bool, p []byte) ([]byte, error) {
	if run.diag == nil || len(cols) != 3 {
		return p, nil
	}
	if err := st.decodeRow(p, cols, binaryRow); err != nil {
		return nil, fmt.Errorf("upstream warnings row: %w", err) // unreadable: not relayed unmasked
	}
	var code uint16
	if binaryRow && len(st.values[1]) == 4 {
		code = uint16(binary.LittleEndian.Uint32(st.values[1]))
	} else if n, err := strconv.ParseUint(string(st.values[1]), 10, 16); err == nil {
		code = uint16(n)
	}
	msg := string(st.values[2])
	if !run.diag.MySQL(run.diagStmt, code, "", &msg) {
		return p, nil
	}
	st.values[2] = []byte(msg)
	// A new buffer: the row masker after this decodes into st.values and
	// re-encodes into st.rowBuf, which must not be what it reads.
	return st.encodeRow(nil, cols, binaryRow), nil
}
