package mysql

import "github.com/sluice-gw/sluice/policy"

// The session's current database (policy.Subject.Database) is where
// policy resolves unqualified names, for masks and views. It starts as the
// connect-time database and follows COM_INIT_DB (relay.go) and USE
// statements, only once the upstream has run them.

// databaseAfter is the current database once a COM_QUERY text has run:
// the last USE that the upstream completed. "" (unknown: policy then
// treats an unqualified name as possibly in any schema) when the gateway
// cannot tell: a text it could not parse, a USE only another sql_mode
// reading sees, or a failure after a statement that returns a number of
// results we cannot count (CALL, EXECUTE).
func databaseAfter(cur string, run *queryRun) string {
	var primary []policy.StatementInfo
	uses := map[string]bool{}
	for _, s := range run.decision.Statements {
		if !s.Alternate {
			primary = append(primary, s)
			if s.Kind == "use" {
				uses[s.Database] = true
			}
		}
	}
	for _, s := range run.decision.Statements {
		if s.Alternate && s.Kind == "use" && !uses[s.Database] {
			return ""
		}
	}
	counted := true // one result per statement
	for _, s := range primary {
		if s.Kind == "unparseable" {
			return ""
		}
		if multiResult(s) {
			counted = false
		}
	}
	if len(uses) == 0 {
		return cur
	}
	done := len(primary)
	if run.srvErr != nil {
		// The server stops a multi-statement text at its first error.
		if !counted || run.results > len(primary) {
			return ""
		}
		done = run.results
	}
	for _, s := range primary[:done] {
		if s.Kind == "use" {
			cur = s.Database
		}
	}
	return cur
}

// multiResult: the statement may answer with several results.
func multiResult(s policy.StatementInfo) bool {
	if s.Kind == "call" || s.Kind == "execute" {
		return true
	}
	for _, k := range s.Also {
		if k == "call" || k == "execute" {
			return true
		}
	}
	return false
}
