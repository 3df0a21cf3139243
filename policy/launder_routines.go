package policy

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Views and routines are laundering too: a view or function created over a
// masked column returns it under a name the masks cannot see (RowDescription
// names the view, or nothing at all). Their definitions are judged here, at
// creation, where the masked source is still visible.

// pgCheckView: CREATE [OR REPLACE] VIEW v AS SELECT <masked> ...
func (l *lineage) pgCheckView(s *pg.ViewStmt, parent *scope) {
	plan, _ := l.pgStatementIn(s.Query, parent)
	if plan == nil {
		return
	}
	dest := rangeVarRef(s.View)
	for _, c := range plan.cols {
		l.noteLaunder(l.outColWhole(c), dest, "")
	}
}

// pgCheckRoutine: CREATE FUNCTION/PROCEDURE and DO. A LANGUAGE sql body is
// parsed and judged like any statement; a body in another language
// (plpgsql, ...) cannot be followed, so one that names a masked column at
// all is refused (fail closed).
func (l *lineage) pgCheckRoutine(name string, language string, body string, sqlBody *pg.Node, parent *scope) {
	// The body is a string literal: the literal-normalized cache must not
	// hand this decision to another body.
	l.literalDependent = true
	dest := tableRef{name: name}
	if sqlBody != nil {
		l.pgCheckBodyNode(sqlBody, dest, parent)
		return
	}
	if strings.EqualFold(language, "sql") && body != "" {
		tree, err := pg.Parse(body)
		if err == nil {
			for _, raw := range tree.Stmts {
				l.pgCheckBodyNode(raw.Stmt, dest, parent)
			}
			return
		}
	}
	if col, ok := l.mentionsMaskedColumn(body); ok {
		l.noteLaunder(taint{src: col, m: redactMethod}, dest, "")
	}
}

func (l *lineage) pgCheckBodyNode(n *pg.Node, dest tableRef, parent *scope) {
	if list := n.GetList(); list != nil {
		for _, item := range list.Items {
			l.pgCheckBodyNode(item, dest, parent)
		}
		return
	}
	if rs := n.GetReturnStmt(); rs != nil {
		l.noteLaunder(l.pgExpr(rs.Returnval, &scope{parent: parent}), dest, "")
		return
	}
	plan, _ := l.pgStatementIn(n, parent)
	if plan == nil {
		return
	}
	for _, c := range plan.cols {
		l.noteLaunder(l.outColWhole(c), dest, "")
	}
}

// mentionsMaskedColumn reports a masked column name appearing as a word in
// an opaque routine body.
func (l *lineage) mentionsMaskedColumn(body string) (string, bool) {
	lower := strings.ToLower(body)
	for _, r := range l.rules {
		col := r.column
		if col == "" || strings.ContainsAny(col, "*?[") {
			continue
		}
		for i := 0; ; {
			k := strings.Index(lower[i:], col)
			if k < 0 {
				break
			}
			start, end := i+k, i+k+len(col)
			if (start == 0 || !isIdentChar(lower[start-1])) && (end == len(lower) || !isIdentChar(lower[end])) {
				return r.label, true
			}
			i = end
		}
	}
	return "", false
}

// routineParts pulls the body and language out of CREATE FUNCTION / DO options.
func routineParts(opts []*pg.Node) (language, body string) {
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		switch d.Defname {
		case "language":
			language = d.Arg.GetString_().GetSval()
		case "as":
			// CREATE FUNCTION: a list (body, or object file and symbol); DO: a string.
			if l := d.Arg.GetList(); l != nil && len(l.Items) > 0 {
				body = l.Items[0].GetString_().GetSval()
			} else {
				body = d.Arg.GetString_().GetSval()
			}
		}
	}
	return language, body
}

func funcName(names []*pg.Node) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n.GetString_().GetSval())
	}
	return strings.Join(parts, ".") + "()"
}
