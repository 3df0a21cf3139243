package mysql

import (
	"fmt"
	"slices"

	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-gw/sluice/policy"
)

// relayResponse streams the upstream's response to a forwarded command
// (COM_QUERY, COM_STMT_EXECUTE, COM_INIT_DB) back to the client: OK/ERR
// packets, result sets row by row (masked when the decision says so),
// several results when the server flags more, and LOAD DATA LOCAL. Rows
// are never held: each is written to the client's buffer as it arrives
// and the buffer is flushed when full or at the end of the response.
// stmt is set for a prepared statement's execution (binary rows).
func (e *Engine) relayResponse(st *connState, run *queryRun, stmt *preparedStmt) (err error) {
	st.startDiagnostics(run)
	defer func() {
		st.endDiagnostics(run)
		if err != nil {
			e.recordCutOff(st, run, err)
		}
	}()
	up, cl := st.up.leg, st.client
	for {
		p, err := up.r.Read()
		if err != nil {
			return fmt.Errorf("reading upstream response: %w", err)
		}
		switch {
		case len(p) == 0:
			return fmt.Errorf("empty upstream packet")
		case p[0] == hdrOK:
			run.results++
			run.rows += int64(okAffectedRows(p))
			if run.tag == "" {
				run.tag = "OK"
			}
			if err := cl.w.Write(p); err != nil {
				return err
			}
			status, err := okStatus(p, st.deprecateEOF())
			if err != nil {
				return fmt.Errorf("upstream OK packet: %w", err)
			}
			if status&gm.SERVER_MORE_RESULTS_EXISTS == 0 {
				return e.endResponse(st, run)
			}
		case p[0] == hdrErr:
			return e.relayErr(st, run, p)
		case p[0] == hdrInfile && stmt == nil:
			if err := e.localInfile(st, run, p); err != nil {
				return err
			}
			if run.refusal != nil {
				return e.finishRefused(st, run)
			}
		default:
			more, err := e.relayResultSet(st, run, stmt, p)
			if err != nil || !more {
				return err
			}
		}
	}
}

// endResponse flushes the response and records the run.
func (e *Engine) endResponse(st *connState, run *queryRun) error {
	e.record(st, run)
	return st.client.w.Flush()
}

func (e *Engine) relayErr(st *connState, run *queryRun, p []byte) error {
	if se, err := parseErr(p); err == nil {
		p = maskErr(run, se, p)
		run.srvErr = se
	}
	if err := st.client.w.Write(p); err != nil {
		return err
	}
	return e.endResponse(st, run)
}

// relayResultSet relays one result set starting at its column-count
// packet. more is true when another result follows.
func (e *Engine) relayResultSet(st *connState, run *queryRun, stmt *preparedStmt, first []byte) (more bool, err error) {
	up, cl := st.up.leg, st.client
	n, _, _, err := readLenEncInt(first)
	if err != nil || n == 0 || n > 4096 {
		return false, fmt.Errorf("upstream column count: %w", errMalformed)
	}
	if err := cl.w.Write(first); err != nil {
		return false, err
	}
	prev := st.lastCols
	cols := prev[:0]
	for i := range int(n) {
		p, err := up.r.Read()
		if err != nil {
			return false, fmt.Errorf("reading column definition: %w", err)
		}
		var like *columnDef
		if i < len(prev) {
			like = &prev[i] // not yet overwritten: cols[i] is written below
		}
		c, err := parseColumnDefLike(p, like)
		if err != nil {
			return false, fmt.Errorf("upstream column definition: %w", err)
		}
		cols = append(cols, c)
		if err := cl.w.Write(p); err != nil {
			return false, err
		}
	}
	st.lastCols = cols
	if stmt != nil && !slices.Equal(stmt.cols, cols) {
		stmt.cols = slices.Clone(cols)
	}
	if !st.deprecateEOF() {
		p, err := up.r.Read()
		if err != nil {
			return false, fmt.Errorf("reading metadata EOF: %w", err)
		}
		if err := cl.w.Write(p); err != nil {
			return false, err
		}
		if status, err := okStatus(p, false); err == nil && status&gm.SERVER_STATUS_CURSOR_EXISTS != 0 {
			// A cursor was opened: rows come with COM_STMT_FETCH.
			return false, e.endResponse(st, run)
		}
	}
	run.tag = "SELECT"
	if run.columns == nil {
		run.columns = st.columnNames(cols)
	}
	return e.relayRows(st, run, cols, stmt != nil)
}

// masker is mask's row masker for cols. A session that repeats a
// statement gets the same mask (shared by the policy's decision cache) and
// the same columns back: the masker is built once for them.
func (st *connState) masker(mask *policy.ResultMask, cols []columnDef, binary bool) *policy.RowMasker {
	k := &st.lastMasker
	if k.mask == mask && k.binary == binary && slices.Equal(k.cols, cols) {
		return k.masker
	}
	*k = maskerKey{mask: mask, cols: slices.Clone(cols), binary: binary, masker: mask.Columns(policyFields(cols, binary))}
	return k.masker
}

// columnNames is the names of cols for the query log.
func (st *connState) columnNames(cols []columnDef) []string {
	same := len(st.lastNames) == len(cols)
	for i := 0; same && i < len(cols); i++ {
		same = st.lastNames[i] == cols[i].Name
	}
	if !same {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		st.lastNames = names
	}
	return st.lastNames
}

// relayRows streams rows up to the result's terminator. more is true when
// another result follows.
func (e *Engine) relayRows(st *connState, run *queryRun, cols []columnDef, binary bool) (more bool, err error) {
	up, cl := st.up.leg, st.client
	var masker *policy.RowMasker
	if run.decision.Mask != nil {
		masker = st.masker(run.decision.Mask, cols, binary)
	}
	for {
		p, err := up.r.Read()
		if err != nil {
			return false, fmt.Errorf("reading row: %w", err)
		}
		switch {
		case len(p) > 0 && p[0] == hdrErr:
			// The query failed mid-result (killed, timeout).
			return false, e.relayErr(st, run, p)
		case isTerminator(p):
			run.results++
			if err := cl.w.Write(p); err != nil {
				return false, err
			}
			status, err := okStatus(p, st.deprecateEOF())
			if err != nil {
				return false, fmt.Errorf("upstream result terminator: %w", err)
			}
			if status&gm.SERVER_MORE_RESULTS_EXISTS != 0 && status&gm.SERVER_STATUS_CURSOR_EXISTS == 0 {
				return true, nil
			}
			return false, e.endResponse(st, run)
		}
		run.rows++
		if run.diag != nil {
			if p, err = e.maskWarningRow(st, run, cols, binary, p); err != nil {
				return false, err
			}
		}
		if masker != nil || len(run.sample) < sampleRows {
			if p, err = e.maskRow(st, run, cols, binary, masker, p); err != nil {
				return false, err
			}
		}
		if err := cl.w.Write(p); err != nil {
			return false, err
		}
	}
}

// maskRow decodes a row, masks it, keeps a sample for the query log and
// returns the row to send (re-encoded only when a value changed).
func (e *Engine) maskRow(st *connState, run *queryRun, cols []columnDef, binary bool, masker *policy.RowMasker, p []byte) ([]byte, error) {
	if err := st.decodeRow(p, cols, binary); err != nil {
		if masker == nil {
			// Only the log sample was wanted: relay the row as it is.
			return p, nil
		}
		// A row the gateway cannot read cannot be masked: fail closed.
		return nil, fmt.Errorf("upstream row: %w", err)
	}
	if masker != nil {
		if names := masker.MaskRow(st.values); len(names) > 0 {
			for _, n := range names {
				if !slices.Contains(run.masked, n) {
					run.masked = append(run.masked, n)
				}
			}
			st.rowBuf = st.encodeRow(st.rowBuf[:0], cols, binary)
			p = st.rowBuf
		}
	}
	if len(run.sample) < sampleRows {
		run.sample = append(run.sample, sampleOf(cols, st.values, binary))
	}
	return p, nil
}

// sampleOf renders a (masked) row as text for the query log.
func sampleOf(cols []columnDef, values [][]byte, binary bool) []string {
	out := make([]string, len(values))
	for i, v := range values {
		switch {
		case v == nil:
			out[i] = "NULL"
		case binary:
			out[i] = formatBinaryValue(cols[i], v)
		default:
			out[i] = string(v)
		}
		if len(out[i]) > sampleValueBytes {
			out[i] = out[i][:sampleValueBytes] + "…"
		}
	}
	return out
}

// localInfile answers the server's LOCAL INFILE request. Unless policy
// allowed the statement explicitly, the gateway sends the server an empty
// file and refuses the client; otherwise the client's file is relayed
// packet by packet. The gateway never opens a file of its own.
func (e *Engine) localInfile(st *connState, run *queryRun, req []byte) error {
	up, cl := st.up.leg, st.client
	if !run.localInfile {
		if err := up.writeFlush(nil); err != nil {
			return err
		}
		// Drain the server's answer to the empty file.
		if _, err := up.r.Read(); err != nil {
			return fmt.Errorf("reading upstream after refused LOCAL INFILE: %w", err)
		}
		run.logDecision = "block"
		run.refusal = policyError("sluice: LOAD DATA LOCAL INFILE is not allowed by policy for this target")
		return nil
	}
	if err := cl.writeFlush(req); err != nil {
		return err
	}
	for {
		p, err := cl.r.Read()
		if err != nil {
			return fmt.Errorf("reading LOCAL INFILE data: %w", err)
		}
		if err := up.w.Write(p); err != nil {
			return err
		}
		if len(p) == 0 {
			return up.w.Flush()
		}
	}
}

// decodeRow decodes a text or binary result row into st.values.
func (st *connState) decodeRow(p []byte, cols []columnDef, binary bool) (err error) {
	if binary {
		st.values, err = decodeBinaryRow(p, cols, st.values)
	} else {
		st.values, err = decodeTextRow(p, len(cols), st.values)
	}
	return err
}

// encodeRow appends st.values as a text or binary result row to dst.
func (st *connState) encodeRow(dst []byte, cols []columnDef, binary bool) []byte {
	if binary {
		return appendBinaryRow(dst, cols, st.values)
	}
	return appendTextRow(dst, st.values)
}
