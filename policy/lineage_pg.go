package policy

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// relation is one relation visible in a FROM scope.
type relation struct {
	alias   string    // name that qualifies its columns (alias or table name)
	base    *tableRef // a base table (columns unknown to us)
	renamed bool      // base table with column aliases: FROM users u(a, b)
	cols    []outCol  // subquery / CTE / VALUES: known columns
	fn      bool      // function or table function: columns carry extra
	extra   taint
}

type scope struct {
	rels   []relation
	parent *scope
	ctes   map[string][]outCol
}

func (s *scope) cte(name string) ([]outCol, bool) {
	for ; s != nil; s = s.parent {
		if c, ok := s.ctes[name]; ok {
			return c, true
		}
	}
	return nil, false
}

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
	switch x := n.Node.(type) {
	case *pg.Node_PrepareStmt:
		l.pgStatementIn(x.PrepareStmt.Query, parent) // the body's writes
		return nil, false
	case *pg.Node_ExplainStmt:
		if explainAnalyzes(x.ExplainStmt) {
			l.pgStatementIn(x.ExplainStmt.Query, parent)
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
		if s.Query != nil {
			return l.pgStatementIn(s.Query, parent)
		}
		if s.Relation == nil {
			return nil, true
		}
		t := tableRef{schema: strings.ToLower(s.Relation.Schemaname), name: strings.ToLower(s.Relation.Relname)}
		if len(s.Attlist) == 0 {
			return &outPlan{cols: []outCol{{star: &starRef{tables: []tableRef{t}}}}}, false
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
	return &outPlan{cols: l.pgTargets(ret, sc)}
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

// colTaintAll is the taint of any column an outCol may stand for.
func colTaintAll(c outCol) taint {
	if c.star == nil {
		return c.taint
	}
	return c.star.extra
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
		return mergeSetOp(l.pgSelect(s.Larg, sc), l.pgSelect(s.Rarg, sc))
	}
	if len(s.ValuesLists) > 0 {
		var cols []outCol
		for _, row := range s.ValuesLists {
			items := row.GetList().GetItems()
			for i, it := range items {
				if i >= len(cols) {
					cols = append(cols, outCol{name: "column" + itoa(i+1)})
				}
				cols[i].taint = cols[i].taint.join(l.pgExpr(it, sc))
			}
		}
		return cols
	}
	for _, f := range s.FromClause {
		sc.rels = append(sc.rels, l.pgFromItem(f, sc)...)
	}
	return l.pgTargets(s.TargetList, sc)
}

// mergeSetOp joins UNION/INTERSECT/EXCEPT branches: a column masked in any
// branch is masked.
func mergeSetOp(a, b []outCol) []outCol {
	hasStar := func(cs []outCol) bool {
		for _, c := range cs {
			if c.star != nil {
				return true
			}
		}
		return false
	}
	if len(a) == len(b) && !hasStar(a) && !hasStar(b) {
		out := make([]outCol, len(a))
		for i := range a {
			out[i] = outCol{name: a[i].name, taint: a[i].taint.join(b[i].taint)}
		}
		return out
	}
	// Widths we cannot line up: one star over every table involved, carrying
	// every fixed column's taint (fail closed).
	st := &starRef{}
	for _, cs := range [][]outCol{a, b} {
		for _, c := range cs {
			if c.star != nil {
				st.tables = append(st.tables, c.star.tables...)
				st.extra = st.extra.join(c.star.extra)
			} else {
				st.extra = st.extra.join(c.taint)
			}
		}
	}
	return []outCol{{star: st}}
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
		rels := l.pgFromItem(x.JoinExpr.Larg, sc)
		return append(rels, l.pgFromItem(x.JoinExpr.Rarg, sc)...)
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

// starOf expands `*` (no qualifier) or `q.*`.
func (l *lineage) starOf(qual []string, sc *scope) []outCol {
	rels := sc.rels
	if len(qual) > 0 {
		if rel, ok := findRel(sc, qual[len(qual)-1]); ok {
			rels = []relation{rel}
		}
	}
	var out []outCol
	for _, r := range rels {
		switch {
		case r.base != nil:
			st := &starRef{tables: []tableRef{*r.base}}
			if r.renamed {
				st.extra = l.wholeRow(*r.base)
			}
			out = append(out, outCol{star: st})
		case r.fn:
			out = append(out, outCol{star: &starRef{extra: r.extra}})
		default:
			out = append(out, r.cols...)
		}
	}
	return out
}

func findRel(sc *scope, alias string) (relation, bool) {
	for s := sc; s != nil; s = s.parent {
		for _, r := range s.rels {
			if r.alias == alias {
				return r, true
			}
		}
	}
	return relation{}, false
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
		if isOpaqueFunc(qualifiedName(x.FuncCall.Funcname)) {
			return taint{unknown: true, derived: true, src: qualifiedName(x.FuncCall.Funcname) + "()"}
		}
	}
	var t taint
	eachChild(n, func(c *pg.Node) { t = t.join(l.pgExpr(c, sc)) })
	return t.asDerived()
}

// outColWhole is the taint of any value an output column may hold.
func (l *lineage) outColWhole(c outCol) taint {
	if c.star == nil {
		return c.taint
	}
	t := c.star.extra
	for _, tb := range c.star.tables {
		t = t.join(l.wholeRow(tb))
	}
	return t
}

func (l *lineage) relWhole(r relation) taint {
	switch {
	case r.base != nil:
		return l.wholeRow(*r.base)
	case r.fn:
		return r.extra
	}
	var t taint
	for _, c := range r.cols {
		t = t.join(l.outColWhole(c))
	}
	return t.asDerived()
}

// relColumn is the taint of column col of relation r.
func (l *lineage) relColumn(r relation, col string) (taint, bool) {
	switch {
	case r.base != nil:
		if r.renamed {
			return l.wholeRow(*r.base), true
		}
		return l.column(*r.base, col), true
	case r.fn:
		return r.extra, true
	}
	var t, unsure taint
	found, anyUnsure := false, false
	for _, c := range r.cols {
		switch {
		case c.star != nil:
			t = t.join(l.anyColumn(c.star.tables, col)).join(c.star.extra)
			found = true
		case c.name == col:
			t = t.join(c.taint)
			found = true
		case c.name == "":
			unsure = unsure.join(c.taint)
			anyUnsure = true
		}
	}
	if !found && anyUnsure {
		return unsure, true
	}
	return t, found
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

// resolveColumn is the taint of column name, qualified by a relation alias
// or not. A qualifier we cannot place, or no qualifier: every relation that
// may own the name contributes, outward until one scope surely owns it.
func (l *lineage) resolveColumn(qual, name string, sc *scope) taint {
	if qual != "" {
		if r, ok := findRel(sc, qual); ok {
			if t, found := l.relColumn(r, name); found {
				return t
			}
		}
	}
	var t taint
	for s := sc; s != nil; s = s.parent {
		sure := false
		for _, r := range s.rels {
			ct, found := l.relColumn(r, name)
			t = t.join(ct)
			if found && r.base == nil && !r.fn {
				sure = true
			}
			if r.alias == name && qual == "" {
				t = t.join(l.relWhole(r)) // SELECT u FROM users u
			}
		}
		if sure {
			break
		}
	}
	return t
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
