package policy

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
	"strconv"
)

// MySQL lineage: the same scopes and taints as Postgres, over the TiDB AST.

func (l *lineage) myStatement(st ast.StmtNode) (*outPlan, bool) {
	l.myCheckWrite(st)
	l.myCheckSchemaChange(st)
	l.myFilterStatement(st)
	l.mySinkStatement(st)
	switch x := st.(type) {
	case *ast.PrepareStmt:
		if x.SQLVar == nil {
			if inner, err := parseMySQL(x.SQLText); err == nil {
				for _, in := range inner {
					l.myBody(in)
				}
			}
		}
		return nil, false
	case *ast.ExplainStmt:
		if x.Analyze && x.Stmt != nil {
			l.myBody(x.Stmt)
		} else if l.filters && x.Stmt != nil {
			// Not run, but the row estimates answer a filter (probe.go).
			l.planOnly(func() { l.myStatement(x.Stmt) })
		}
		return nil, false
	case *ast.SelectStmt:
		if x.SelectIntoOpt != nil {
			return nil, false // rows go to a file or variables, not the client
		}
		return &outPlan{cols: l.myResultSet(x, nil)}, false
	case *ast.SetOprStmt:
		return &outPlan{cols: l.myResultSet(x, nil)}, false
	case *ast.ExecuteStmt, *ast.CallStmt:
		return nil, true
	case *ast.ShowStmt:
		return l.myShowPlan(x), false
	}
	return nil, false
}

// myBody judges a statement that runs later or inside another (PREPARE,
// EXPLAIN ANALYZE): its writes, and when columns are masked its clauses.
func (l *lineage) myBody(st ast.StmtNode) {
	if len(l.rules) > 0 {
		l.myStatement(st)
		return
	}
	l.myCheckWrite(st)
}

func (l *lineage) myWith(w *ast.WithClause, sc *scope) {
	if w == nil {
		return
	}
	sc.ctes = map[string][]outCol{}
	for _, c := range w.CTEs {
		if c.Query == nil {
			continue
		}
		name := c.Name.L
		if so, ok := c.Query.Query.(*ast.SetOprStmt); ok && w.IsRecursive && so.SelectList != nil && len(so.SelectList.Selects) > 0 {
			if rs, ok := so.SelectList.Selects[0].(ast.ResultSetNode); ok {
				sc.ctes[name] = myRename(l.myResultSet(rs, sc), c.ColNameList)
			}
		}
		sc.ctes[name] = myRename(l.myResultSet(c.Query.Query, sc), c.ColNameList)
	}
}

func myRename(cols []outCol, names []ast.CIStr) []outCol {
	if len(names) == 0 {
		return cols
	}
	for _, c := range cols {
		if c.star != nil {
			var all taint
			for _, c2 := range cols {
				all = all.join(colTaintAll(c2))
			}
			return []outCol{{star: &starRef{extra: all.asDerived()}}}
		}
	}
	out := make([]outCol, len(cols))
	copy(out, cols)
	for i, n := range names {
		if i < len(out) {
			out[i].name = n.L
		}
	}
	return out
}

// myResultSet returns the output columns of a SELECT, UNION, TABLE or VALUES.
func (l *lineage) myResultSet(n ast.Node, parent *scope) []outCol {
	switch x := n.(type) {
	case *ast.SelectStmt:
		sc := &scope{parent: parent}
		l.myWith(x.With, sc)
		if len(x.Lists) > 0 {
			var cols []outCol
			for _, row := range x.Lists {
				for i, e := range row.Values {
					if i >= len(cols) {
						cols = append(cols, outCol{name: "column_" + strconv.Itoa(i)})
					}
					cols[i].taint = cols[i].taint.join(l.myExpr(e, sc))
				}
			}
			return cols
		}
		if x.From != nil && x.From.TableRefs != nil {
			sc.rels = l.myFrom(x.From.TableRefs, sc)
		}
		var out []outCol
		if x.Fields == nil {
			// TABLE t: every column of the FROM.
			out = l.pgStar(nil, sc)
		} else {
			out = l.myFields(x.Fields.Fields, sc)
		}
		l.mySelectFilters(x, sc, out)
		return out
	case *ast.SetOprStmt:
		sc := &scope{parent: parent}
		l.myWith(x.With, sc)
		if x.SelectList == nil {
			return nil
		}
		out := l.myResultSet(x.SelectList, sc)
		l.myOrderFilters(x.OrderBy, sc, out) // the set's ORDER BY
		return out
	case *ast.SetOprSelectList:
		sc := &scope{parent: parent}
		l.myWith(x.With, sc)
		var acc []outCol
		for i, s := range x.Selects {
			cols := l.myResultSet(s, sc)
			if i == 0 {
				acc = cols
			} else {
				acc = mergeSetOp(acc, cols)
			}
		}
		return acc
	}
	// Anything else returning rows: unknown lineage.
	return []outCol{{star: &starRef{extra: taint{unknown: true, src: "result set"}}}}
}

func (l *lineage) myFrom(n ast.ResultSetNode, sc *scope) []relation {
	switch x := n.(type) {
	case *ast.Join:
		var rels []relation
		if x.Left != nil {
			rels = append(rels, l.myFrom(x.Left, sc)...)
		}
		if x.Right != nil {
			// LATERAL on the right sees the left side.
			rels = append(rels, l.myFrom(x.Right, sc.with(rels))...)
		}
		l.myJoinFilters(x, sc.with(rels))
		return rels
	case *ast.TableSource:
		alias := x.AsName.L
		switch src := x.Source.(type) {
		case *ast.TableName:
			name := src.Name.L
			if alias == "" {
				alias = name
			}
			if src.Schema.L == "" {
				if cols, ok := sc.cte(name); ok {
					return []relation{{alias: alias, cols: myRename(cols, x.ColumnNames)}}
				}
			}
			t := l.myTable(src.Schema.L, name)
			if rel, ok := l.statisticsRelation(t, alias, true); ok {
				return []relation{rel}
			}
			if v, ok := l.views.lookupMy(t); ok {
				return []relation{l.myViewRelation(v, alias, x.ColumnNames)}
			}
			return []relation{{alias: alias, base: &t, renamed: len(x.ColumnNames) > 0}}
		case *ast.SelectStmt, *ast.SetOprStmt:
			cols := myRename(l.myResultSet(src, sc), x.ColumnNames)
			return []relation{{alias: alias, cols: cols}}
		case *ast.Join:
			return l.myFrom(src, sc)
		}
		// JSON_TABLE and others: every column derives from every input.
		return []relation{{alias: alias, fn: true, extra: l.myExpr(x.Source, sc).asDerived()}}
	}
	return []relation{{fn: true, extra: taint{unknown: true, src: "from item"}}}
}

func (l *lineage) myFields(fields []*ast.SelectField, sc *scope) []outCol {
	var out []outCol
	for _, f := range fields {
		if f.Auxiliary {
			continue
		}
		if f.WildCard != nil {
			var qual []string
			if f.WildCard.Table.L != "" {
				qual = []string{f.WildCard.Table.L}
			}
			out = append(out, l.starOf(qual, sc)...)
			continue
		}
		name := f.AsName.L
		if name == "" {
			if c, ok := f.Expr.(*ast.ColumnNameExpr); ok && c.Name != nil {
				name = c.Name.Name.L
			}
		}
		out = append(out, outCol{name: name, taint: l.myExpr(f.Expr, sc)})
	}
	return out
}

// myExprVisitor joins the taint of every column an expression reads.
type myExprVisitor struct {
	l  *lineage
	sc *scope
	t  taint
}

func (v *myExprVisitor) Enter(n ast.Node) (ast.Node, bool) {
	v.l.mySinkExpr(n, v.sc)
	switch x := n.(type) {
	case *ast.ColumnNameExpr:
		if x.Name != nil {
			v.t = v.t.join(v.l.resolveColumn(x.Name.Table.L, x.Name.Name.L, v.sc))
		}
		return n, true
	case *ast.SubqueryExpr:
		if x.Query != nil {
			for _, c := range v.l.myResultSet(x.Query, v.sc) {
				v.t = v.t.join(v.l.outColWhole(c))
			}
		}
		return n, true
	case *ast.SelectStmt, *ast.SetOprStmt:
		for _, c := range v.l.myResultSet(n, v.sc) {
			v.t = v.t.join(v.l.outColWhole(c))
		}
		return n, true
	case *ast.FuncCallExpr:
		if name := mysqlFuncName(x); v.l.dbFuncMayReadMasked(name) || myOpaqueFuncs[name] {
			v.t = v.t.join(taint{unknown: true, derived: true, src: name + "()"})
		}
	}
	return n, false
}

func (v *myExprVisitor) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func (l *lineage) myExpr(n ast.Node, sc *scope) taint {
	if n == nil {
		return taint{}
	}
	if c, ok := n.(*ast.ColumnNameExpr); ok && c.Name != nil {
		return l.resolveColumn(c.Name.Table.L, c.Name.Name.L, sc)
	}
	v := &myExprVisitor{l: l, sc: sc}
	n.Accept(v)
	return v.t.asDerived()
}
