package policy

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Clauses that read values without returning them (WHERE, JOIN, GROUP BY,
// HAVING, ORDER BY, DISTINCT ON, WINDOW) are walked too when the policy
// masks columns, for two reasons:
//
// Probing: masks hide a column's values in results, but a statement that
// filters, joins, groups or sorts on the column learns about them without
// reading them (`SELECT count(*) FROM users WHERE email LIKE 'a%'`, one
// letter at a time). With a policy's `masked_filters: block`, the first
// masked column found in one refuses the statement unless a rule
// explicitly allows it (like a laundering write).
//
// Sinks: a function or assignment anywhere in the statement may send a
// masked value where the masks do not follow (sinks.go).
//
// Only the client's text counts: a view's own definition may filter on a
// masked column (the database's owner wrote it), so clauses are not walked
// inside one (viewDepth > 0). A view created through the gateway is walked
// when it is created.

// noteProbe records the first masked value a filtering clause reads.
func (l *lineage) noteProbe(t taint, clause string) {
	if !l.filters || !t.masked() || l.probe != "" || l.viewDepth > 0 {
		return
	}
	src := t.src
	if src == "" {
		src = "data of unknown origin"
	}
	l.probe = "it uses a masked column in " + clause + " (" + src + "); masked_filters: block lets masked columns be read, not filtered, joined, grouped or sorted on"
}

// planOnly judges a statement that is planned, not run (EXPLAIN without
// ANALYZE): its filters count, what it would write does not.
func (l *lineage) planOnly(judge func()) {
	launder := l.launder
	judge()
	l.launder = launder
}

// walksClauses says whether this walk visits the clauses that return no
// values: only masks make them matter.
func (l *lineage) walksClauses() bool {
	return len(l.rules) > 0 && l.viewDepth == 0
}

// byOutput is the taint of a GROUP BY / ORDER BY key, which may name an
// output column (by alias or position) rather than an input column. t is
// the key's taint as an input column.
func (l *lineage) byOutput(t taint, out []outCol, name string, pos int) taint {
	if pos > 0 {
		for _, c := range out {
			if c.star != nil {
				// A position behind a star is any output column.
				for _, c := range out {
					t = t.join(l.outColWhole(c))
				}
				return t
			}
		}
		if pos <= len(out) {
			t = t.join(out[pos-1].taint)
		}
		return t
	}
	// A star only outputs input columns under their own names, which t
	// already covers; aliases are the named outputs.
	for _, c := range out {
		if name != "" && c.star == nil && c.name == name {
			t = t.join(c.taint)
		}
	}
	return t
}

// pgSelectFilters judges the clauses of one SELECT that read values
// without returning them. out is the SELECT's output.
func (l *lineage) pgSelectFilters(s *pg.SelectStmt, sc *scope, out []outCol) {
	if !l.walksClauses() {
		return
	}
	l.noteProbe(l.pgExpr(s.WhereClause, sc), "WHERE")
	l.noteProbe(l.pgExpr(s.HavingClause, sc), "HAVING")
	for _, n := range s.GroupClause {
		l.noteProbe(l.pgKey(n, sc, out), "GROUP BY")
	}
	for _, n := range s.SortClause {
		l.noteProbe(l.pgKey(n.GetSortBy().GetNode(), sc, out), "ORDER BY")
	}
	for _, n := range s.DistinctClause {
		l.noteProbe(l.pgKey(n, sc, out), "DISTINCT ON")
	}
	for _, w := range s.WindowClause {
		l.noteProbe(l.pgExpr(w, sc), "WINDOW")
	}
}

// pgKey is the taint of a GROUP BY, ORDER BY or DISTINCT ON key.
func (l *lineage) pgKey(n *pg.Node, sc *scope, out []outCol) taint {
	t := l.pgExpr(n, sc)
	if c := n.GetAConst(); c != nil && c.GetIval() != nil {
		return l.byOutput(t, out, "", int(c.GetIval().Ival))
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
		return l.byOutput(t, out, strings.ToLower(cr.Fields[0].GetString_().GetSval()), 0)
	}
	return t
}

// pgJoinFilters judges a join's ON and USING; sc sees both sides.
func (l *lineage) pgJoinFilters(j *pg.JoinExpr, sc *scope) {
	if !l.walksClauses() {
		return
	}
	l.noteProbe(l.pgExpr(j.Quals, sc), "JOIN")
	for _, n := range j.UsingClause {
		l.noteProbe(l.resolveColumn("", strings.ToLower(n.GetString_().GetSval()), sc), "JOIN USING")
	}
}

// pgFilterStatement judges the statements whose clauses neither the output
// lineage nor the laundering check walks: writes with a WHERE, and a
// cursor's query.
func (l *lineage) pgFilterStatement(n *pg.Node, parent *scope) {
	if !l.walksClauses() || n == nil {
		return
	}
	switch x := n.Node.(type) {
	case *pg.Node_UpdateStmt:
		s := x.UpdateStmt
		l.pgWriteWhere(s.WithClause, s.Relation, s.FromClause, s.WhereClause, parent)
	case *pg.Node_DeleteStmt:
		s := x.DeleteStmt
		l.pgWriteWhere(s.WithClause, s.Relation, s.UsingClause, s.WhereClause, parent)
	case *pg.Node_MergeStmt:
		s := x.MergeStmt
		var from []*pg.Node
		if s.SourceRelation != nil {
			from = []*pg.Node{s.SourceRelation}
		}
		l.pgWriteWhere(s.WithClause, s.Relation, from, s.JoinCondition, parent)
	case *pg.Node_DeclareCursorStmt:
		l.pgStatementIn(x.DeclareCursorStmt.Query, parent)
	case *pg.Node_IndexStmt:
		// A unique index (or its predicate) over a masked column fails or
		// not by the values: an oracle, like a CHECK constraint.
		s := x.IndexStmt
		if s.Relation == nil {
			return
		}
		t := rangeVarRef(s.Relation)
		sc := tableScope(t, parent)
		l.noteProbe(l.pgExpr(s.WhereClause, sc), "an index predicate")
		if s.Unique {
			for _, p := range s.IndexParams {
				if ie := p.GetIndexElem(); ie != nil {
					k := l.pgExpr(ie.Expr, sc)
					if ie.Name != "" {
						k = k.join(l.column(t, strings.ToLower(ie.Name)))
					}
					l.noteProbe(k, "a unique index")
				}
			}
		}
	}
	// ALTER TABLE ... ADD CONSTRAINT is judged with the table's other
	// changes (schema_change.go). SELECT INTO, CREATE TABLE AS, CREATE VIEW and COPY (query) TO a file
	// have their queries walked by the laundering check (launder.go).
}

// pgWriteWhere judges an UPDATE's, DELETE's or MERGE's condition: the
// number of rows it reports is as telling as a count(*).
func (l *lineage) pgWriteWhere(with *pg.WithClause, target *pg.RangeVar, from []*pg.Node, where *pg.Node, parent *scope) {
	l.noteProbe(l.pgExpr(where, l.pgWriteScope(with, parent, target, from)), "WHERE")
}

// mySelectFilters is pgSelectFilters for MySQL.
func (l *lineage) mySelectFilters(s *ast.SelectStmt, sc *scope, out []outCol) {
	if !l.walksClauses() {
		return
	}
	l.noteProbe(l.myExpr(s.Where, sc), "WHERE")
	if s.Having != nil {
		l.noteProbe(l.myExpr(s.Having.Expr, sc), "HAVING")
	}
	if s.GroupBy != nil {
		for _, it := range s.GroupBy.Items {
			l.noteProbe(l.myKey(it, sc, out), "GROUP BY")
		}
	}
	l.myOrderFilters(s.OrderBy, sc, out)
	for i := range s.WindowSpecs {
		l.noteProbe(l.myExpr(&s.WindowSpecs[i], sc), "WINDOW")
	}
}

func (l *lineage) myOrderFilters(o *ast.OrderByClause, sc *scope, out []outCol) {
	if o == nil || !l.walksClauses() {
		return
	}
	for _, it := range o.Items {
		l.noteProbe(l.myKey(it, sc, out), "ORDER BY")
	}
}

// myKey is the taint of a GROUP BY or ORDER BY item.
func (l *lineage) myKey(it *ast.ByItem, sc *scope, out []outCol) taint {
	if it == nil {
		return taint{}
	}
	switch e := it.Expr.(type) {
	case *ast.PositionExpr:
		return l.byOutput(taint{}, out, "", e.N)
	case *ast.ColumnNameExpr:
		t := l.myExpr(e, sc)
		if e.Name != nil && e.Name.Table.L == "" {
			t = l.byOutput(t, out, e.Name.Name.L, 0)
		}
		return t
	}
	return l.myExpr(it.Expr, sc)
}

// myJoinFilters judges a join's ON and USING; sc sees both sides.
func (l *lineage) myJoinFilters(j *ast.Join, sc *scope) {
	if !l.walksClauses() {
		return
	}
	if j.On != nil {
		l.noteProbe(l.myExpr(j.On.Expr, sc), "JOIN")
	}
	for _, c := range j.Using {
		l.noteProbe(l.resolveColumn("", c.Name.L, sc), "JOIN USING")
	}
}

// myFilterStatement is pgFilterStatement for MySQL.
func (l *lineage) myFilterStatement(st ast.StmtNode) {
	if !l.walksClauses() {
		return
	}
	switch x := st.(type) {
	case *ast.UpdateStmt:
		l.myWriteWhere(x.With, x.TableRefs, x.Where, x.Order)
	case *ast.DeleteStmt:
		l.myWriteWhere(x.With, x.TableRefs, x.Where, x.Order)
	case *ast.CreateIndexStmt:
		if x.Table != nil && x.KeyType == ast.IndexKeyTypeUnique {
			t := l.myTable(x.Table.Schema.L, x.Table.Name.L)
			l.myKeyParts(t, x.IndexPartSpecifications, "a unique index")
		}
	}
	// ALTER TABLE ... ADD CONSTRAINT is judged with the table's other
	// changes (schema_change.go). SELECT INTO, CREATE TABLE ... SELECT and CREATE VIEW have their
	// queries walked by the laundering check (launder.go).
}

// myKeyParts judges the key of a unique index or constraint on t.
func (l *lineage) myKeyParts(t tableRef, parts []*ast.IndexPartSpecification, what string) {
	sc := tableScope(t, nil)
	for _, p := range parts {
		if p == nil {
			continue
		}
		var k taint
		if p.Column != nil {
			k = l.column(t, p.Column.Name.L)
		}
		if p.Expr != nil {
			k = k.join(l.myExpr(p.Expr, sc))
		}
		l.noteProbe(k, what)
	}
}

func (l *lineage) myWriteWhere(with *ast.WithClause, refs *ast.TableRefsClause, where ast.ExprNode, order *ast.OrderByClause) {
	sc := &scope{}
	l.myWith(with, sc)
	if refs != nil && refs.TableRefs != nil {
		sc.rels = l.myFrom(refs.TableRefs, sc)
	}
	l.noteProbe(l.myExpr(where, sc), "WHERE")
	l.myOrderFilters(order, sc, nil)
}
