package policy

import (
	"strconv"
	"strings"
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// pgStatement returns a statement's output plan (nil = no rows to the
// client) and whether its rows come from somewhere we cannot see.
func (l *lineage) pgStatement(n *pg.Node) (*outPlan, bool) {
	return l.pgStatementIn(n, nil)
}

func (l *lineage) pgStatementIn(n *pg.Node, parent *scope) (*outPlan, bool) {
	if n == nil {
		return nil, false
	}
	l.pgCheckWrite(n, parent)
	l.pgCheckSchemaChange(n)
	l.pgFilterStatement(n, parent)
	switch x := n.Node.(type) {
	case *pg.Node_PrepareStmt:
		l.pgStatementIn(x.PrepareStmt.Query, parent) // the body's writes
		return nil, false
	case *pg.Node_ExplainStmt:
		if explainAnalyzes(x.ExplainStmt) {
			l.pgStatementIn(x.ExplainStmt.Query, parent)
		} else if l.filters {
			// Not run, so nothing is written, but the planner's row
			// estimates answer a filter as a count would.
			l.planOnly(func() { l.pgStatementIn(x.ExplainStmt.Query, parent) })
		}
		return nil, false
	case *pg.Node_SelectStmt:
		if x.SelectStmt.IntoClause != nil {
			return nil, false
		}
		return &outPlan{cols: l.pgSelect(x.SelectStmt, parent)}, false
	case *pg.Node_InsertStmt:
		s := x.InsertStmt
		return l.pgReturning(s.ReturningList, s.WithClause, parent, s.Relation, nil), false
	case *pg.Node_UpdateStmt:
		s := x.UpdateStmt
		return l.pgReturning(s.ReturningList, s.WithClause, parent, s.Relation, s.FromClause), false
	case *pg.Node_DeleteStmt:
		s := x.DeleteStmt
		return l.pgReturning(s.ReturningList, s.WithClause, parent, s.Relation, s.UsingClause), false
	case *pg.Node_MergeStmt:
		s := x.MergeStmt
		var from []*pg.Node
		if s.SourceRelation != nil {
			from = []*pg.Node{s.SourceRelation}
		}
		return l.pgReturning(s.ReturningList, s.WithClause, parent, s.Relation, from), false
	case *pg.Node_CopyStmt:
		s := x.CopyStmt
		if s.IsFrom || s.IsProgram || s.Filename != "" {
			return nil, false // rows do not come back to the client
		}
		if f := copyFormat(s); f != "text" {
			defer l.refuseUnmaskable(n, parent, f)
		}
		if s.Query != nil {
			plan, unknown := l.pgStatementIn(s.Query, parent)
			if plan != nil && hasStar(plan) {
				copied := *plan
				copied.describe = deparseQuery(s.Query)
				plan = &copied
			}
			return plan, unknown
		}
		if s.Relation == nil {
			return nil, true
		}
		t := tableRef{schema: strings.ToLower(s.Relation.Schemaname), name: strings.ToLower(s.Relation.Relname)}
		if len(s.Attlist) == 0 {
			// COPY t TO STDOUT sends t's columns in order (not its
			// inheritance children's rows: ONLY).
			return &outPlan{cols: []outCol{{star: &starRef{tables: []tableRef{t}}}},
				describe: "SELECT * FROM ONLY " + quotedRelation(s.Relation)}, false
		}
		plan := &outPlan{}
		for _, a := range s.Attlist {
			name := ""
			if str := a.GetString_(); str != nil {
				name = strings.ToLower(str.Sval)
			}
			plan.cols = append(plan.cols, outCol{name: name, taint: l.column(t, name)})
		}
		return plan, false
	case *pg.Node_ExecuteStmt, *pg.Node_FetchStmt, *pg.Node_CallStmt:
		// Rows of a prepared statement, cursor or procedure we do not see here.
		return nil, true
	}
	return nil, false
}

func (l *lineage) pgReturning(ret []*pg.Node, with *pg.WithClause, parent *scope, target *pg.RangeVar, from []*pg.Node) *outPlan {
	if len(ret) == 0 {
		return nil
	}
	return &outPlan{cols: l.pgTargets(ret, l.pgWriteScope(with, parent, target, from))}
}

// pgWriteScope is the scope of a write: its WITH, its target, its FROM.
func (l *lineage) pgWriteScope(with *pg.WithClause, parent *scope, target *pg.RangeVar, from []*pg.Node) *scope {
	sc := &scope{parent: parent}
	if with != nil {
		l.pgWith(with, sc)
	}
	if target != nil {
		sc.rels = append(sc.rels, l.pgRangeVar(target, sc))
	}
	for _, f := range from {
		sc.rels = append(sc.rels, l.pgFromItem(f, sc)...)
	}
	return sc
}

func (l *lineage) pgWith(w *pg.WithClause, sc *scope) {
	sc.ctes = map[string][]outCol{}
	for _, n := range w.Ctes {
		c := n.GetCommonTableExpr()
		if c == nil {
			continue
		}
		name := strings.ToLower(c.Ctename)
		if sel := c.Ctequery.GetSelectStmt(); sel != nil && sel.Larg != nil && w.Recursive {
			// The recursive term refers to the CTE itself: seed it with
			// the non-recursive term, then analyse the whole.
			sc.ctes[name] = renameCols(l.pgSelect(sel.Larg, sc), c.Aliascolnames)
		}
		var cols []outCol
		if plan, unknown := l.pgStatementIn(c.Ctequery, sc); plan != nil {
			cols = plan.cols
		} else if unknown {
			cols = []outCol{{star: &starRef{extra: taint{unknown: true}}}}
		}
		sc.ctes[name] = renameCols(cols, c.Aliascolnames)
	}
}

// renameCols applies a column alias list. With a star of unknown width we
// cannot line names up: every column then carries every taint (fail closed).
func renameCols(cols []outCol, names []*pg.Node) []outCol {
	if len(names) == 0 {
		return cols
	}
	out := make([]outCol, len(cols))
	copy(out, cols)
	for _, c := range cols {
		if c.star != nil {
			var all taint
			for _, c2 := range cols {
				all = all.join(colTaintAll(c2))
			}
			return []outCol{{star: &starRef{extra: all.asDerived()}}}
		}
	}
	for i, n := range names {
		if i < len(out) {
			if s := n.GetString_(); s != nil {
				out[i].name = strings.ToLower(s.Sval)
			}
		}
	}
	return out
}

func (l *lineage) pgSelect(s *pg.SelectStmt, parent *scope) []outCol {
	if s == nil {
		return nil
	}
	sc := &scope{parent: parent}
	if s.WithClause != nil {
		l.pgWith(s.WithClause, sc)
	}
	if s.Op != pg.SetOperation_SETOP_NONE && s.Op != pg.SetOperation_SET_OPERATION_UNDEFINED {
		out := mergeSetOp(l.pgSelect(s.Larg, sc), l.pgSelect(s.Rarg, sc))
		l.pgSelectFilters(s, sc, out) // the set's ORDER BY
		return out
	}
	if len(s.ValuesLists) > 0 {
		var cols []outCol
		for _, row := range s.ValuesLists {
			items := row.GetList().GetItems()
			for i, it := range items {
				if i >= len(cols) {
					cols = append(cols, outCol{name: "column" + strconv.Itoa(i+1)})
				}
				cols[i].taint = cols[i].taint.join(l.pgExpr(it, sc))
			}
		}
		return cols
	}
	for _, f := range s.FromClause {
		sc.rels = append(sc.rels, l.pgFromItem(f, sc)...)
	}
	out := l.pgTargets(s.TargetList, sc)
	l.pgSelectFilters(s, sc, out)
	return out
}

func aliasName(a *pg.Alias, def string) string {
	if a != nil && a.Aliasname != "" {
		return strings.ToLower(a.Aliasname)
	}
	return def
}

func (l *lineage) pgRangeVar(rv *pg.RangeVar, sc *scope) relation {
	name := strings.ToLower(rv.Relname)
	if rv.Schemaname == "" {
		if cols, ok := sc.cte(name); ok {
			rel := relation{alias: aliasName(rv.Alias, name), cols: cols}
			if rv.Alias != nil {
				rel.cols = renameCols(cols, rv.Alias.Colnames)
			}
			return rel
		}
	}
	t := tableRef{schema: strings.ToLower(rv.Schemaname), name: name}
	if rel, ok := l.statisticsRelation(t, aliasName(rv.Alias, name), false); ok {
		return rel
	}
	if def, ok := l.views.lookup(t); ok {
		rel := l.pgViewRelation(def, aliasName(rv.Alias, name))
		if rv.Alias != nil {
			rel.cols = renameCols(rel.cols, rv.Alias.Colnames)
		}
		return rel
	}
	return relation{alias: aliasName(rv.Alias, name), base: &t, renamed: rv.Alias != nil && len(rv.Alias.Colnames) > 0}
}

func (l *lineage) pgFromItem(n *pg.Node, sc *scope) []relation {
	switch x := n.Node.(type) {
	case *pg.Node_RangeVar:
		return []relation{l.pgRangeVar(x.RangeVar, sc)}
	case *pg.Node_RangeSubselect:
		var cols []outCol
		if sel := x.RangeSubselect.Subquery.GetSelectStmt(); sel != nil {
			cols = l.pgSelect(sel, sc)
		}
		if a := x.RangeSubselect.Alias; a != nil {
			cols = renameCols(cols, a.Colnames)
		}
		return []relation{{alias: aliasName(x.RangeSubselect.Alias, ""), cols: cols}}
	case *pg.Node_JoinExpr:
		left := l.pgFromItem(x.JoinExpr.Larg, sc)
		// LATERAL on the right sees the left side.
		right := l.pgFromItem(x.JoinExpr.Rarg, sc.with(left))
		both := append(left, right...)
		l.pgJoinFilters(x.JoinExpr, sc.with(both))
		return both
	case *pg.Node_RangeTableSample:
		if x.RangeTableSample.Relation != nil {
			return l.pgFromItem(x.RangeTableSample.Relation, sc)
		}
	case *pg.Node_RangeFunction:
		var t taint
		eachChild(n, func(c *pg.Node) { t = t.join(l.pgExpr(c, sc)) })
		return []relation{{alias: aliasName(x.RangeFunction.Alias, ""), fn: true, extra: t.asDerived()}}
	}
	// XMLTABLE, JSON_TABLE and anything new: columns derive from every input.
	var t taint
	eachChild(n, func(c *pg.Node) { t = t.join(l.pgExpr(c, sc)) })
	return []relation{{fn: true, extra: t.asDerived()}}
}

func (l *lineage) pgTargets(list []*pg.Node, sc *scope) []outCol {
	var out []outCol
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil || rt.Val == nil {
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			out = append(out, l.pgStar(cr.Fields[:len(cr.Fields)-1], sc)...)
			continue
		}
		out = append(out, outCol{name: pgOutputName(rt), taint: l.pgExpr(rt.Val, sc)})
	}
	return out
}

// pgStar expands `*` or `q.*` in a select list.
func (l *lineage) pgStar(qual []*pg.Node, sc *scope) []outCol {
	var q []string
	for _, n := range qual {
		q = append(q, strings.ToLower(n.GetString_().GetSval()))
	}
	return l.starOf(q, sc)
}

func pgOutputName(rt *pg.ResTarget) string {
	if rt.Name != "" {
		return strings.ToLower(rt.Name)
	}
	v := rt.Val
	if tc := v.GetTypeCast(); tc != nil {
		v = tc.Arg
	}
	if cr := v.GetColumnRef(); cr != nil && len(cr.Fields) > 0 {
		return strings.ToLower(cr.Fields[len(cr.Fields)-1].GetString_().GetSval())
	}
	// Postgres derives names for other expressions too (upper, case,
	// coalesce, a sub-select's column); "" = not sure, and a reference we
	// cannot place by name then takes every unsure column's taint.
	return ""
}

// pgExpr is the taint of an expression.
func (l *lineage) pgExpr(n *pg.Node, sc *scope) taint {
	if n == nil {
		return taint{}
	}
	switch x := n.Node.(type) {
	case *pg.Node_AConst, *pg.Node_ParamRef:
		return taint{}
	case *pg.Node_ColumnRef:
		return l.pgColumnRef(x.ColumnRef, sc)
	case *pg.Node_SubLink:
		t := l.pgExpr(x.SubLink.Testexpr, sc)
		if sel := x.SubLink.Subselect.GetSelectStmt(); sel != nil {
			for _, c := range l.pgSelect(sel, sc) {
				t = t.join(l.outColWhole(c))
			}
		}
		return t
	case *pg.Node_SelectStmt:
		var t taint
		for _, c := range l.pgSelect(x.SelectStmt, sc) {
			t = t.join(l.outColWhole(c))
		}
		return t
	case *pg.Node_FuncCall:
		name := qualifiedName(x.FuncCall.Funcname)
		if isPGSink(name) {
			l.pgSinkCall(x.FuncCall, name, sc)
		}
		if isOpaqueFunc(name) || l.dbFuncMayReadMasked(name) {
			return taint{unknown: true, derived: true, src: name + "()"}
		}
	}
	var t taint
	eachChild(n, func(c *pg.Node) { t = t.join(l.pgExpr(c, sc)) })
	return t.asDerived()
}

func (l *lineage) pgColumnRef(cr *pg.ColumnRef, sc *scope) taint {
	var parts []string
	star := false
	for _, f := range cr.Fields {
		if f.GetAStar() != nil {
			star = true
			continue
		}
		parts = append(parts, strings.ToLower(f.GetString_().GetSval()))
	}
	if len(parts) == 0 {
		var t taint
		for _, r := range sc.rels {
			t = t.join(l.relWhole(r))
		}
		return t
	}
	if star {
		if r, ok := findRel(sc, parts[len(parts)-1]); ok {
			return l.relWhole(r)
		}
		var t taint
		for _, r := range sc.rels {
			t = t.join(l.relWhole(r))
		}
		return t
	}
	qual := ""
	if len(parts) >= 2 {
		qual = parts[len(parts)-2]
	}
	return l.resolveColumn(qual, parts[len(parts)-1], sc)
}

// copyFormat is a COPY's format option ("text" when not given).
func copyFormat(s *pg.CopyStmt) string {
	for _, o := range s.Options {
		d := o.GetDefElem()
		if d == nil || !strings.EqualFold(d.Defname, "format") {
			continue
		}
		if str := d.Arg.GetString_(); str != nil {
			return strings.ToLower(str.Sval)
		}
		return "unknown"
	}
	return "text"
}

// refuseUnmaskable blocks COPY TO STDOUT in csv/binary format when its rows
// would need masking: MaskCopyText reads the text format only.
func (l *lineage) refuseUnmaskable(n *pg.Node, parent *scope, format string) {
	s := n.GetCopyStmt()
	var plan *outPlan
	if s.Query != nil {
		plan, _ = l.pgStatementIn(s.Query, parent)
	} else if s.Relation != nil {
		plan = &outPlan{cols: []outCol{{star: &starRef{tables: []tableRef{rangeVarRef(s.Relation)}}}}}
	}
	if plan == nil || l.launder != "" {
		return
	}
	for _, c := range plan.cols {
		if t := l.outColWhole(c); t.masked() {
			l.launder = "COPY in " + format + " format cannot be masked (use the text format)"
			return
		}
	}
}

// hasStar reports whether a plan has a star column, whose names only the
// result's description can tell.
func hasStar(p *outPlan) bool {
	for _, c := range p.cols {
		if c.star != nil {
			return true
		}
	}
	return false
}

// deparseQuery turns a COPY's query back into SQL ("" if it cannot be).
func deparseQuery(q *pg.Node) string {
	out, err := pg.Deparse(&pg.ParseResult{Version: parseTreeVersion(), Stmts: []*pg.RawStmt{{Stmt: q}}})
	if err != nil {
		return ""
	}
	return out
}

// parseTreeVersion is the parse-tree version Deparse checks, as the
// library's own parser stamps it (it exports no constant for it).
var parseTreeVersion = sync.OnceValue(func() int32 {
	r, err := pg.Parse("SELECT 1")
	if err != nil {
		return 0
	}
	return r.Version
})

// quotedRelation quotes a relation's schema and name exactly as parsed.
func quotedRelation(rv *pg.RangeVar) string {
	name := quoteIdent(rv.Relname)
	if rv.Schemaname != "" {
		name = quoteIdent(rv.Schemaname) + "." + name
	}
	return name
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
