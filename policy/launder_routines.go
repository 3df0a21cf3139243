package policy

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pingcap/tidb/pkg/parser/ast"
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

// pgCheckRule: CREATE RULE. Its actions run later, as part of another
// statement the gateway judges without seeing them: an action that writes
// masked data elsewhere is laundering (checked as the action is walked),
// and one that returns rows (DO INSTEAD SELECT) would hand them to a
// statement that returns none to mask, so masked rows there are refused.
func (l *lineage) pgCheckRule(s *pg.RuleStmt, parent *scope) {
	dest := tableRef{name: "rule " + s.Rulename}
	// NEW and OLD are rows of the rule's table.
	sc := &scope{parent: parent}
	if s.Relation != nil {
		t := rangeVarRef(s.Relation)
		sc.rels = []relation{{alias: "new", base: &t}, {alias: "old", base: &t}}
	}
	for _, a := range s.Actions {
		plan, unknown := l.pgStatementIn(a, sc)
		if unknown {
			l.noteLaunder(taint{unknown: true, src: "a statement of unknown lineage"}, dest, "")
		}
		if plan != nil {
			for _, c := range plan.cols {
				l.noteLaunder(l.outColWhole(c), dest, "")
			}
		}
	}
}

// myCheckView: MySQL CREATE [OR REPLACE] VIEW v AS SELECT <masked> ...
func (l *lineage) myCheckView(s *ast.CreateViewStmt) {
	if s.Select == nil || s.ViewName == nil {
		return
	}
	dest := l.myTable(s.ViewName.Schema.L, s.ViewName.Name.L)
	for _, c := range l.myResultSet(s.Select, nil) {
		l.noteLaunder(l.outColWhole(c), dest, "")
	}
}

// pgCheckRoutine: CREATE FUNCTION/PROCEDURE and DO. A LANGUAGE sql body is
// parsed and judged like any statement; a body in another language
// (plpgsql, ...) cannot be followed, so one that names a masked column or
// its table at all is refused (fail closed).
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
	if label := l.bodyMayReadMasked(Postgres, body); label != "" {
		l.noteLaunder(taint{src: label, m: redactMethod}, dest, "")
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

// bodyMayReadMasked is the lexical check of a routine body the gateway
// cannot follow (comments aside): the label of a column mask whose table
// or column it names, or "".
func (l *lineage) bodyMayReadMasked(d Dialect, body string) string {
	ids := map[string]struct{}{}
	addIdentifiers(ids, stripComments(body, d))
	return l.namesMasked(ids)
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

// myCheckRoutine: MySQL CREATE PROCEDURE. Its body runs on CALL, where the
// gateway sees nothing of it, and moves values through variables and
// cursors the lineage does not follow: a body that names a masked column
// or its table at all is refused (fail closed).
func (l *lineage) myCheckRoutine(p *ast.ProcedureInfo, text string) {
	l.literalDependent = true
	name := "procedure"
	if p.ProcedureName != nil {
		name = p.ProcedureName.Name.L
	}
	if label := l.bodyMayReadMasked(MySQL, text); label != "" {
		l.noteLaunder(taint{src: label, m: redactMethod}, tableRef{name: name + "()"}, "")
	}
}
