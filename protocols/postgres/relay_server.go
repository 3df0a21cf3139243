package postgres

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-gw/sluice/policy"
)

// sampleRows is how many result rows the query log keeps for the replay transcript.
const sampleRows = 5

// resultState is the result set being streamed to the client.
type resultState struct {
	entry   *queryEntry
	masker  *policy.RowMasker
	columns []string
	fields  []policy.Field // type class and format per column, for samples
	copyOut bool           // streaming COPY TO rows as CopyData
}

// serverLoop reads upstream messages, masks rows, ties responses to their
// statements through the pending queue, and forwards to the client.
func (r *relay) serverLoop() error {
	var cur resultState
	for {
		msg, err := r.fe.Receive()
		if err != nil {
			if wrote(err, "client") {
				return err // the flush before this read failed
			}
			return fmt.Errorf("upstream: %w", err)
		}
		forward := true
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			if cur.entry == nil {
				if it, ok := r.pending.front(); ok && it.kind == expExecute && it.entry != nil {
					cur = r.executeResult(it)
				}
			}
			if cur.entry != nil {
				r.onDataRow(&cur, m)
			}
		case *pgproto3.RowDescription:
			it, _ := r.pending.front()
			shape := r.shapes.fromDescription(m.Fields)
			switch it.kind {
			case expDescribeStmt:
				r.pending.pop()
				if it.stmt != nil {
					it.stmt.shape.Store(shape)
				}
				forward = !it.swallow
			case expDescribePortal:
				r.pending.pop()
				if it.portal != nil {
					it.portal.shape.Store(shape)
				}
				forward = !it.swallow
			case expQuery:
				cur = r.startResult(it.entry, it.entry.decision.Mask, shape)
			}
		case *pgproto3.NoData:
			it, _ := r.pending.pop()
			forward = !it.swallow
		case *pgproto3.ParameterDescription:
			// Part of a statement Describe; its RowDescription/NoData pops.
			it, _ := r.pending.front()
			forward = !it.swallow
		case *pgproto3.ParseComplete, *pgproto3.BindComplete, *pgproto3.CloseComplete:
			it, _ := r.pending.pop()
			forward = !it.swallow
		case *pgproto3.CommandComplete:
			r.onComplete(&cur, string(m.CommandTag))
		case *pgproto3.EmptyQueryResponse:
			r.onComplete(&cur, "")
		case *pgproto3.PortalSuspended:
			r.onComplete(&cur, "SUSPENDED")
		case *pgproto3.ErrorResponse:
			msg = r.onError(&cur, m)
			forward = msg != nil
		case *pgproto3.NoticeResponse:
			r.maskNotice(m)
		case *pgproto3.ReadyForQuery:
			if injected := r.onReady(&cur); injected {
				continue // answers the gateway's own Sync
			}
			if err := r.toClient.send(m); err != nil {
				return err
			}
			continue
		case *pgproto3.ParameterStatus:
			if m.Name == "session_authorization" {
				msg = &pgproto3.ParameterStatus{Name: m.Name, Value: r.sub.Identity}
			}
		case *pgproto3.BackendKeyData:
			forward = false // never leak the upstream key
		case *pgproto3.CopyOutResponse:
			cur = r.startCopyOut(m)
		case *pgproto3.CopyData:
			if cur.entry != nil && cur.copyOut {
				cur.entry.rows++
				if cur.masker != nil {
					data, names := cur.masker.MaskCopyText(m.Data)
					cur.noteMasked(names)
					if len(names) > 0 {
						msg = &pgproto3.CopyData{Data: data}
					}
				}
			}
		case *pgproto3.CopyInResponse, *pgproto3.CopyBothResponse:
			if it, ok := r.pending.front(); ok && (it.kind == expExecute || it.kind == expQuery) {
				cur = resultState{entry: it.entry}
			}
		}
		if forward {
			if err := r.toClient.send(msg.(encoder)); err != nil {
				return err
			}
		}
	}
}

// startCopyOut prepares masking of COPY ... TO STDOUT rows. CopyOutResponse
// names no columns: the names come from the Describe the client loop sent
// ahead (describeForCopy), else the masker gets nameless text fields and
// masks every column that might be masked. The policy refuses csv and
// binary COPY of masked data at Parse/Query time, so only the text format
// reaches here with a mask.
func (r *relay) startCopyOut(m *pgproto3.CopyOutResponse) resultState {
	it, ok := r.pending.front()
	if !ok || (it.kind != expExecute && it.kind != expQuery) || it.entry == nil {
		return resultState{}
	}
	rs := resultState{entry: it.entry, copyOut: true}
	if mask := it.entry.decision.Mask; mask != nil && m.OverallFormat == 0 {
		fields := make([]policy.Field, len(m.ColumnFormatCodes))
		var described *resultShape
		if it.stmt != nil {
			described = it.stmt.shape.Load() // see describeForCopy
		}
		named := described != nil && len(described.columns) == len(fields)
		for i := range fields {
			fields[i] = policy.Field{Type: policy.TypeText, Size: -1}
			if named {
				fields[i].Name = described.columns[i]
			}
		}
		if named && it.entry.columns == nil {
			it.entry.columns = described.columns
		}
		rs.masker = mask.Columns(fields)
	}
	return rs
}

// noteMasked records masked column names on the entry.
func (rs *resultState) noteMasked(names []string) {
	if len(names) == 0 {
		return
	}
	if rs.entry.masked == nil {
		rs.entry.masked = map[string]struct{}{}
	}
	for _, n := range names {
		rs.entry.masked[n] = struct{}{}
	}
}

// startResult prepares masking and sampling for a result set. shape is nil
// when nothing described the result.
func (r *relay) startResult(e *queryEntry, mask *policy.ResultMask, shape *resultShape) resultState {
	rs := resultState{entry: e}
	if shape != nil {
		rs.fields, rs.columns = shape.fields, shape.columns
	}
	if mask != nil {
		rs.masker = r.shapes.maskerFor(mask, shape)
	}
	if e != nil && e.columns == nil {
		e.columns = rs.columns
	}
	return rs
}

// executeResult prepares the result of an Execute from what Describe told us.
func (r *relay) executeResult(it pendingItem) resultState {
	p := it.portal
	shape := p.shape.Load()
	if shape == nil {
		if st := p.stmt.shape.Load(); st != nil {
			// A statement Describe reports text format; Bind chose the real formats.
			shape = r.shapes.withFormats(st, p.formats)
		}
	}
	var mask *policy.ResultMask
	if it.entry != nil {
		mask = it.entry.decision.Mask
	}
	rs := r.startResult(it.entry, mask, shape)
	if mask != nil && rs.masker == nil && len(rs.fields) == 0 {
		// No description at all: fail closed by masking every column.
		rs.masker = mask.Columns(nil)
	}
	return rs
}

func (r *relay) onDataRow(cur *resultState, m *pgproto3.DataRow) {
	e := cur.entry
	e.rows++
	if cur.masker != nil {
		cur.noteMasked(cur.masker.MaskRow(m.Values))
	}
	if len(e.sample) < sampleRows {
		row := make([]string, len(m.Values))
		for i, v := range m.Values {
			var f policy.Field
			if i < len(cur.fields) {
				f = cur.fields[i]
			}
			row[i] = sampleText(f, v)
		}
		e.sample = append(e.sample, row)
	}
}

// sampleText renders a value for the query log's sample rows: text format
// as is, binary decoded for the common fixed-width types, else \x hex.
func sampleText(f policy.Field, v []byte) string {
	if v == nil {
		return "NULL"
	}
	if !f.Binary {
		return string(v)
	}
	switch {
	case f.Type == policy.TypeText:
		return string(v)
	case f.Type == policy.TypeInt && len(v) == 2:
		return strconv.FormatInt(int64(int16(binary.BigEndian.Uint16(v))), 10)
	case f.Type == policy.TypeInt && len(v) == 4:
		return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(v))), 10)
	case f.Type == policy.TypeInt && len(v) == 8:
		return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)
	case f.Type == policy.TypeFloat && len(v) == 4:
		return strconv.FormatFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(v))), 'g', -1, 32)
	case f.Type == policy.TypeFloat && len(v) == 8:
		return strconv.FormatFloat(math.Float64frombits(binary.BigEndian.Uint64(v)), 'g', -1, 64)
	case f.Type == policy.TypeBool && len(v) == 1:
		if v[0] != 0 {
			return "t"
		}
		return "f"
	}
	return fmt.Sprintf(`\x%x`, v)
}

// onComplete ends one statement's result.
func (r *relay) onComplete(cur *resultState, tag string) {
	it, ok := r.pending.front()
	if !ok {
		return
	}
	switch it.kind {
	case expExecute:
		r.pending.pop()
		e := it.entry
		if cur.entry != e {
			// No rows were streamed (INSERT, or an empty result).
			*cur = resultState{entry: e}
		}
		e.tag = tag
		e.rows = max(e.rows, rowsFromTag(tag))
		r.record(e)
	case expQuery:
		e := it.entry
		e.tag = tag
		if n := rowsFromTag(tag); n > 0 && cur.entry == nil {
			e.rows += n
		}
	}
	*cur = resultState{}
}

// onError ties an error to its statement. A poison error for a blocked
// statement becomes the policy's own error, SQLSTATE 42501. It returns nil
// when the client must not see the error: it answers a message of the
// gateway's own (describeForCopy; a FATAL is always passed on).
func (r *relay) onError(cur *resultState, m *pgproto3.ErrorResponse) pgproto3.BackendMessage {
	*cur = resultState{}
	if m.Severity == "FATAL" || m.Severity == "PANIC" {
		msg := m.Code + " " + m.Message
		r.upstreamFatal.Store(&msg)
	}
	it, ok := r.pending.front()
	if !ok {
		return m // asynchronous (e.g. FATAL on shutdown)
	}
	mask, stmt := errorMaskOf(it)
	maskErrorText(mask, stmt, m)
	var out pgproto3.BackendMessage = m
	// The gateway's own Parse/Describe/Close ahead of a COPY (with their own
	// Sync) fail unseen. Not an injected portal Describe: its error stands
	// for the client's Execute, which the server now discards.
	if it.swallow && it.kind != expDescribePortal && m.Severity != "FATAL" && m.Severity != "PANIC" {
		out = nil
	}
	e := it.entry
	if e != nil && e.blocked && m.Code == "42601" {
		out = &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: e.blockCode, Message: e.blockMsg,
			Detail: blockDetail(e)}
		e.sqlstate, e.errMsg = e.blockCode, e.blockMsg
	} else if e != nil {
		e.sqlstate, e.errMsg = m.Code, m.Message
	}
	switch it.kind {
	case expQuery, expSync, expFunctionCall:
		// The Query goes on to ReadyForQuery; the entry completes there.
	default:
		r.pending.pop()
		if e != nil {
			r.record(e)
		}
		for _, d := range r.pending.discardUntilSync() {
			if d.entry != nil {
				d.entry.errMsg = "not executed: an earlier message in the pipeline failed"
				d.entry.sqlstate = "25P02"
				r.record(d.entry)
			}
		}
	}
	return out
}

func blockDetail(e *queryEntry) string {
	if e.approval != "" {
		return fmt.Sprintf("approval %s: %s", e.approval, e.outcome)
	}
	if e.decision.Rule != "" {
		return fmt.Sprintf("rule %q", e.decision.Rule)
	}
	return ""
}

// onReady completes everything up to the Sync or Query that ReadyForQuery
// answers. It reports whether that was the gateway's own Sync.
func (r *relay) onReady(cur *resultState) (injected bool) {
	*cur = resultState{}
	for {
		it, ok := r.pending.pop()
		if !ok {
			return false
		}
		if it.entry != nil {
			r.record(it.entry)
		}
		if it.kind == expSync || it.kind == expQuery || it.kind == expFunctionCall {
			return it.swallow
		}
	}
}

// rowsFromTag reads the row count at the end of a command tag ("SELECT 5",
// "INSERT 0 3"). Postgres counts in uint64; a count beyond int64 (or a
// malformed tag) reads as 0 rather than wrapping negative.
func rowsFromTag(tag string) int64 {
	sp := strings.LastIndexByte(tag, ' ')
	if sp < 0 || sp == len(tag)-1 {
		return 0
	}
	n, err := strconv.ParseInt(tag[sp+1:], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
