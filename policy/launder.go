package policy

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Laundering: a statement that writes values derived from masked columns
// somewhere the masks do not follow (another table or column, a server
// file, session variables) would let the next SELECT read them unmasked.
// Such a write is refused unless the destination column is masked itself,
// or a rule explicitly allows the statement.

// serverFileTaint is what a server-side file holds: anything, the
// database's own data files included.
var serverFileTaint = taint{unknown: true, src: "a server file"}

// noteLaunder records the first laundering write found.
func (l *lineage) noteLaunder(t taint, dest tableRef, col string) {
	if !t.masked() || l.launder != "" {
		return
	}
	if col != "" && l.column(dest, col).masked() {
		return // the destination is masked by the same policy
	}
	src := t.src
	if src == "" {
		src = "a masked column"
	}
	where := dest.String()
	if col != "" {
		where += "." + col
	}
	l.launder = "it writes masked data where the masks do not apply (" + src + " -> " + where + ")"
}

func rangeVarRef(rv *pg.RangeVar) tableRef {
	if rv == nil {
		return tableRef{name: "?"}
	}
	return tableRef{schema: strings.ToLower(rv.Schemaname), name: strings.ToLower(rv.Relname)}
}

// pgCheckWrite looks for laundering in one Postgres write statement.
func (l *lineage) pgCheckWrite(n *pg.Node, parent *scope) {
	if len(l.rules) == 0 || n == nil {
		return
	}
	switch x := n.Node.(type) {
	case *pg.Node_InsertStmt:
		s := x.InsertStmt
		sc := &scope{parent: parent}
		if s.WithClause != nil {
			l.pgWith(s.WithClause, sc)
		}
		dest := rangeVarRef(s.Relation)
		if sel := s.SelectStmt.GetSelectStmt(); sel != nil {
			for i, c := range l.pgSelect(sel, sc) {
				col := ""
				if i < len(s.Cols) && c.star == nil {
					col = strings.ToLower(s.Cols[i].GetResTarget().GetName())
				}
				l.noteLaunder(l.outColWhole(c), dest, col)
			}
		}
		if oc := s.OnConflictClause; oc != nil && s.Relation != nil {
			// ON CONFLICT DO UPDATE SET col = expr: expr sees the target
			// and EXCLUDED (the proposed row, same columns).
			target := l.pgRangeVar(s.Relation, sc)
			excluded := target
			excluded.alias = "excluded"
			usc := sc.with([]relation{target, excluded})
			for _, t := range oc.TargetList {
				if rt := t.GetResTarget(); rt != nil {
					l.noteLaunder(l.pgExpr(rt.Val, usc), dest, strings.ToLower(rt.Name))
				}
			}
		}
	case *pg.Node_UpdateStmt:
		s := x.UpdateStmt
		sc := &scope{parent: parent}
		if s.WithClause != nil {
			l.pgWith(s.WithClause, sc)
		}
		if s.Relation != nil {
			sc.rels = append(sc.rels, l.pgRangeVar(s.Relation, sc))
		}
		for _, f := range s.FromClause {
			sc.rels = append(sc.rels, l.pgFromItem(f, sc)...)
		}
		dest := rangeVarRef(s.Relation)
		for _, t := range s.TargetList {
			rt := t.GetResTarget()
			if rt == nil {
				continue
			}
			l.noteLaunder(l.pgExpr(rt.Val, sc), dest, strings.ToLower(rt.Name))
		}
	case *pg.Node_MergeStmt:
		s := x.MergeStmt
		sc := &scope{parent: parent}
		if s.WithClause != nil {
			l.pgWith(s.WithClause, sc)
		}
		if s.Relation != nil {
			sc.rels = append(sc.rels, l.pgRangeVar(s.Relation, sc))
		}
		if s.SourceRelation != nil {
			sc.rels = append(sc.rels, l.pgFromItem(s.SourceRelation, sc)...)
		}
		dest := rangeVarRef(s.Relation)
		for _, w := range s.MergeWhenClauses {
			mw := w.GetMergeWhenClause()
			if mw == nil {
				continue
			}
			for _, t := range mw.TargetList {
				if rt := t.GetResTarget(); rt != nil && rt.Val != nil {
					l.noteLaunder(l.pgExpr(rt.Val, sc), dest, strings.ToLower(rt.Name))
				}
			}
			for i, v := range mw.Values {
				col := ""
				if i < len(mw.TargetList) {
					col = strings.ToLower(mw.TargetList[i].GetResTarget().GetName())
				}
				l.noteLaunder(l.pgExpr(v, sc), dest, col)
			}
		}
	case *pg.Node_CreateTableAsStmt:
		s := x.CreateTableAsStmt
		l.pgCheckInto(s.Query, s.Into, parent)
	case *pg.Node_ViewStmt:
		l.pgCheckView(x.ViewStmt, parent)
	case *pg.Node_CreateFunctionStmt:
		s := x.CreateFunctionStmt
		lang, body := routineParts(s.Options)
		l.pgCheckRoutine(funcName(s.Funcname), lang, body, s.SqlBody, parent)
	case *pg.Node_RuleStmt:
		l.pgCheckRule(x.RuleStmt, parent)
	case *pg.Node_DoStmt:
		lang, body := routineParts(x.DoStmt.Args)
		if lang == "" {
			lang = "plpgsql"
		}
		l.pgCheckRoutine("DO block", lang, body, nil, parent)
	case *pg.Node_SelectStmt:
		if x.SelectStmt.IntoClause != nil {
			l.pgCheckInto(n, x.SelectStmt.IntoClause, parent)
		}
	case *pg.Node_CopyStmt:
		s := x.CopyStmt
		if s.IsFrom && (s.IsProgram || s.Filename != "") && s.Relation != nil {
			// COPY t FROM a server file or program: the file may be the
			// database's own (a table's data file), read into t unmasked.
			l.noteLaunder(serverFileTaint, rangeVarRef(s.Relation), "")
			return
		}
		if s.IsFrom || (!s.IsProgram && s.Filename == "") {
			return
		}
		// COPY ... TO a server file or program.
		var plan *outPlan
		if s.Query != nil {
			plan, _ = l.pgStatementIn(s.Query, parent)
		} else if s.Relation != nil {
			t := rangeVarRef(s.Relation)
			plan = &outPlan{cols: []outCol{{star: &starRef{tables: []tableRef{t}}}}}
		}
		if plan != nil {
			for _, c := range plan.cols {
				l.noteLaunder(l.outColWhole(c), tableRef{name: "server file"}, "")
			}
		}
	}
}

// pgCheckInto covers CREATE TABLE AS and SELECT INTO.
func (l *lineage) pgCheckInto(q *pg.Node, into *pg.IntoClause, parent *scope) {
	sel := q.GetSelectStmt()
	if sel == nil || into == nil {
		return
	}
	dest := rangeVarRef(into.Rel)
	for i, c := range l.pgSelect(sel, parent) { // pgSelect ignores INTO
		col := c.name
		if i < len(into.ColNames) {
			col = strings.ToLower(into.ColNames[i].GetString_().GetSval())
		}
		if c.star != nil {
			col = ""
		}
		l.noteLaunder(l.outColWhole(c), dest, col)
	}
}

// myCheckWrite looks for laundering in one MySQL statement.
func (l *lineage) myCheckWrite(st ast.StmtNode) {
	if len(l.rules) == 0 {
		return
	}
	switch x := st.(type) {
	case *ast.InsertStmt:
		dest := l.myDest(x.Table)
		if x.Select != nil {
			for i, c := range l.myResultSet(x.Select, nil) {
				col := ""
				if i < len(x.Columns) && c.star == nil {
					col = x.Columns[i].Name.L
				}
				l.noteLaunder(l.outColWhole(c), dest, col)
			}
		}
		// VALUES ((SELECT ...)), INSERT ... SET (parsed as one row of
		// Lists) and ON DUPLICATE KEY UPDATE take expressions, which may
		// read masked columns.
		sc := &scope{}
		if x.Table != nil && x.Table.TableRefs != nil {
			sc.rels = l.myFrom(x.Table.TableRefs, sc)
		}
		for _, row := range x.Lists {
			for i, e := range row {
				col := ""
				if i < len(x.Columns) {
					col = x.Columns[i].Name.L
				}
				l.noteLaunder(l.myExpr(e, sc), dest, col)
			}
		}
		for _, a := range x.OnDuplicate {
			col := ""
			if a.Column != nil {
				col = a.Column.Name.L
			}
			l.noteLaunder(l.myExpr(a.Expr, sc), dest, col)
		}
	case *ast.UpdateStmt:
		sc := &scope{}
		l.myWith(x.With, sc)
		if x.TableRefs != nil && x.TableRefs.TableRefs != nil {
			sc.rels = l.myFrom(x.TableRefs.TableRefs, sc)
		}
		dest := l.myDest(x.TableRefs)
		for _, a := range x.List {
			col := ""
			if a.Column != nil {
				col = a.Column.Name.L
				if a.Column.Table.L != "" {
					if r, ok := findRel(sc, a.Column.Table.L); ok && r.base != nil {
						dest = *r.base
					}
				}
			}
			l.noteLaunder(l.myExpr(a.Expr, sc), dest, col)
		}
	case *ast.ProcedureInfo:
		l.myCheckRoutine(x, x.Text())
	case *ast.CreateViewStmt:
		l.myCheckView(x)
	case *ast.LoadDataStmt:
		if x.FileLocRef != ast.FileLocClient && x.Table != nil {
			// LOAD DATA INFILE (not LOCAL) reads a server file, which may
			// be the database's own.
			l.noteLaunder(serverFileTaint, l.myTable(x.Table.Schema.L, x.Table.Name.L), "")
		}
	case *ast.CreateTableStmt:
		if x.Select == nil || x.Table == nil {
			return
		}
		dest := l.myTable(x.Table.Schema.L, x.Table.Name.L)
		for _, c := range l.myResultSet(x.Select, nil) {
			col := c.name
			if c.star != nil {
				col = ""
			}
			l.noteLaunder(l.outColWhole(c), dest, col)
		}
	case *ast.SelectStmt:
		if x.SelectIntoOpt == nil {
			return
		}
		for _, c := range l.myResultSet(x, nil) { // myResultSet ignores INTO
			l.noteLaunder(l.outColWhole(c), tableRef{name: "server file or variable"}, "")
		}
	}
}

// myDest is the first base table of an INSERT/UPDATE target.
func (l *lineage) myDest(refs *ast.TableRefsClause) tableRef {
	if refs == nil || refs.TableRefs == nil {
		return tableRef{name: "?"}
	}
	var n ast.ResultSetNode = refs.TableRefs
	for {
		switch x := n.(type) {
		case *ast.Join:
			if x.Left == nil {
				return tableRef{name: "?"}
			}
			n = x.Left
		case *ast.TableSource:
			if tn, ok := x.Source.(*ast.TableName); ok {
				return l.myTable(tn.Schema.L, tn.Name.L)
			}
			return tableRef{name: "?"}
		default:
			return tableRef{name: "?"}
		}
	}
}
