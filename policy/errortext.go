package policy

import (
	"hash"
	"strings"
)

// Error texts quote values. A failed cast quotes the value it could not
// convert (`SELECT email::int FROM users`), a unique or foreign-key
// violation the key, a NOT NULL or CHECK violation the whole failing row,
// RAISE and SIGNAL whatever a routine put in them, and a MySQL warning the
// value it truncated. When the statement reads data a mask covers, those
// values would leave the database unmasked through the error: ErrorMask
// hides them, and applies the content detectors to every error text.
//
// What a client wrote itself is not hidden: a quoted value that occurs in
// the statement text as a token (three characters or more) is one the
// client already knows, so identifiers in "column "emial" does not exist" survive, and
// so does the value of a failed INSERT the client typed.

// ErrorMask is what a statement's error and notice texts may not show.
// nil passes them through. Immutable, shared like ResultMask.
type ErrorMask struct {
	// values: the statement reads data a column mask covers (or data of
	// unknown origin): quoted values that the client did not write are hidden.
	values bool
	// routine: that data is read by code the statement only names (a
	// database function or procedure that may read masked data, dynamic
	// SQL): any message may be the routine's own words, whatever its code
	// (RAISE ... USING ERRCODE, SIGNAL SQLSTATE ... SET MYSQL_ERRNO), so
	// messages are withheld whole.
	routine bool
	detect  *detectPlan
	key     []byte
}

// redacted replaces a hidden value, as the redact mask method does (ASCII:
// the text reaches clients in whatever encoding they asked for).
const redacted = "****"

// withheld replaces a text that is a routine's own message (RAISE,
// SIGNAL), which can hold anything and has no shape to keep.
const withheld = "(message withheld by sluice: the statement reads masked data)"

// PGError is the text of a Postgres ErrorResponse or NoticeResponse.
type PGError struct {
	Code                         string // SQLSTATE
	Message, Detail, Hint, Where string
	// Routine is the server function that raised it (exec_stmt_raise for
	// PL/pgSQL RAISE, whatever ERRCODE the routine chose).
	Routine string
	// InternalQuery is the query a routine ran that failed; built with
	// EXECUTE format('... %L', value) it holds values as SQL literals.
	InternalQuery string
}

// Postgres hides values in e's texts; stmt is the statement that caused
// it. It reports whether anything changed.
func (m *ErrorMask) Postgres(stmt string, e *PGError) bool {
	if m == nil {
		return false
	}
	orig := *e
	if m.values {
		switch class := pgClass(e.Code); {
		case m.routine || e.Routine == "exec_stmt_raise" || e.Routine == "exec_stmt_assert" ||
			e.Code == "P0001" || e.Code == "P0004" || class == "45" || class == "00" || class == "01":
			// RAISE / ASSERT: the routine's own words (RAISE NOTICE and
			// WARNING come as 00000 and 01000).
			e.Message, e.Detail, e.Hint = withheld, hideAll(e.Detail), hideAll(e.Hint)
		default:
			if class != "23" {
				// Class 23 messages name constraints and relations only;
				// their values are in the detail.
				e.Message = hideQuoted(stmt, e.Message, '"')
			}
			// Server hints name objects ("Perhaps you meant to reference
			// the column ..."); only a routine's own hint (above) is free text.
			e.Detail = hideDetail(stmt, e.Detail)
			e.Where = hideWhere(stmt, e.Where)
		}
		e.InternalQuery = hideQuoted(stmt, e.InternalQuery, '\'')
	}
	e.Message = m.detectText(e.Message)
	e.Detail = m.detectText(e.Detail)
	e.Hint = m.detectText(e.Hint)
	e.Where = m.detectText(e.Where)
	return *e != orig
}

// MySQL hides values in an ERR packet's or a warning's message (code: the
// error number; state: its SQLSTATE). It reports whether anything changed.
func (m *ErrorMask) MySQL(stmt string, code uint16, state string, msg *string) bool {
	if m == nil {
		return false
	}
	orig := *msg
	// Class 42 (syntax, unknown objects, access) is decided before any
	// data is read: its quotes are names. (Postgres is different: a value
	// cast to regclass fails as an unknown relation, at run time.)
	if m.values && (m.routine || !strings.HasPrefix(state, "42")) {
		switch i := strings.LastIndex(*msg, " for key '"); {
		case m.routine || code == 1644 || code == 1642 || code == 1643 || strings.HasPrefix(state, "45"):
			*msg = withheld // SIGNAL / RESIGNAL with a routine's own MESSAGE_TEXT
		case (code == 1062 || code == 1586) && i >= 0:
			// "Duplicate entry '<value>' for key '<index name>'"
			*msg = hideQuoted(stmt, (*msg)[:i], '\'') + (*msg)[i:]
		default:
			*msg = hideQuoted(stmt, *msg, '\'')
		}
	}
	*msg = m.detectText(*msg)
	return *msg != orig
}

// Values reports whether the statement reads masked data, so that
// messages about it read later (MySQL's SHOW WARNINGS) need this mask too.
func (m *ErrorMask) Values() bool { return m != nil && m.values }

func pgClass(code string) string {
	if len(code) < 2 {
		return ""
	}
	return code[:2]
}

// detectText applies the content detectors to one text.
func (m *ErrorMask) detectText(s string) string {
	if m.detect == nil || s == "" {
		return s
	}
	v := []byte(s)
	spans, _ := m.detect.scan(nil, v, nil)
	if len(spans) == 0 {
		return s
	}
	var h hash.Hash
	if m.detect.hashes() {
		h = newHMAC(m.key)
	}
	out := m.detect.replaceSpans(v, spans, h)
	if out == nil {
		return redacted // a null method: nothing of the text can stay
	}
	return string(out)
}

// hideAll hides a whole text (a routine's detail or hint).
func hideAll(s string) string {
	if s == "" {
		return s
	}
	return redacted
}

// hideQuoted hides every quote-delimited part of s that the statement
// text does not contain. A message that ends in `: "value"` carries the
// value whole, quotes inside it included: that part is taken to the last
// quote rather than paired.
func hideQuoted(stmt, s string, q byte) string {
	if strings.IndexByte(s, q) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		open := strings.IndexByte(s, q)
		if open < 0 {
			b.WriteString(s)
			return b.String()
		}
		var close int
		if s[len(s)-1] == q && open >= 2 && s[open-2:open] == ": " && len(s)-1 > open {
			close = len(s) - 1 // `...: "value"` to the end
		} else if c := strings.IndexByte(s[open+1:], q); c >= 0 {
			close = open + 1 + c
		} else {
			close = len(s) // unterminated: the rest is the value
		}
		b.WriteString(s[:open+1])
		b.WriteString(hideValue(stmt, s[open+1:close]))
		if close >= len(s) {
			return b.String()
		}
		b.WriteByte(q)
		s = s[close+1:]
	}
}

// hideValue keeps v when the client wrote it, else hides it.
func hideValue(stmt, v string) string {
	if v == "" || (len(v) >= 3 && containsToken(stmt, v)) {
		return v
	}
	return redacted
}

// containsToken reports whether s holds sub (ignoring ASCII case, as
// identifiers fold) as a whole token: not inside a longer identifier, so
// the "user" a failed to_date(email, 'YYYY') quotes is not taken for the
// client's own word because the text says "users".
func containsToken(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if !strings.EqualFold(s[i:i+len(sub)], sub) {
			continue
		}
		before := i == 0 || !isIdentByte(lowerByte(s[i-1])) || !isIdentByte(lowerByte(sub[0]))
		end := i + len(sub)
		after := end == len(s) || !isIdentByte(lowerByte(s[end])) || !isIdentByte(lowerByte(sub[len(sub)-1]))
		if before && after {
			return true
		}
	}
	return false
}

// Details with unquoted values: "Key (email)=(a@b.c) already exists.",
// "Key (id)=(5) is not present in table ...", "Failing row contains (...)".
var detailValuePrefixes = []string{")=(", "Failing row contains ("}

// hideDetail hides the values of a DETAIL field.
func hideDetail(stmt, s string) string {
	for _, p := range detailValuePrefixes {
		i := strings.Index(s, p)
		if i < 0 {
			continue
		}
		start := i + len(p)
		// The value list ends at the last ')' (values may hold parentheses).
		end := strings.LastIndexByte(s, ')')
		if end < start {
			end = len(s)
		}
		return s[:start] + hideValue(stmt, s[start:end]) + s[end:]
	}
	return hideQuoted(stmt, s, '"')
}

// hideWhere hides the input a JSON parser echoes ("JSON data, line 1:
// ...") and quoted parts of the context.
func hideWhere(stmt, s string) string {
	if strings.HasPrefix(s, "JSON data, line ") {
		if i := strings.Index(s, ": "); i >= 0 {
			first, rest, _ := strings.Cut(s[i+2:], "\n")
			return s[:i+2] + hideValue(stmt, first) + cutNewline(hideQuoted(stmt, rest, '"'))
		}
	}
	return hideQuoted(stmt, s, '"')
}

func cutNewline(rest string) string {
	if rest == "" {
		return ""
	}
	return "\n" + rest
}

// readsMasked reports whether a statement names a table a column mask
// covers, or a view or database function that may read one (routine: a
// function or procedure may). Unlike the output columns' lineage, this
// covers every clause: an error can quote a value from a WHERE clause or
// an INSERT's SELECT as readily as from the select list.
func (l *lineage) readsMasked(d Dialect, stmts []parsedStmt) (reads, routine bool) {
	for i := range stmts {
		if k := stmts[i].info.Kind; k == "call" || k == "do" {
			return true, true
		}
		for _, f := range stmts[i].info.Functions {
			if l.dbFuncMayReadMasked(f) {
				return true, true
			}
		}
	}
	for i := range stmts {
		for _, t := range stmts[i].info.Tables {
			ref := tableRef{name: t}
			if schema, name, ok := strings.Cut(t, "."); ok {
				ref = tableRef{schema: schema, name: name}
			}
			if d == MySQL {
				ref = l.myTable(ref.schema, ref.name)
			}
			if l.wholeRow(ref).masked() {
				return true, false
			}
			if l.views != nil && l.textMayReadMasked(t, map[string]bool{}, 0) {
				return true, false
			}
		}
	}
	return false, false
}
