package policy

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Schema changes: column masks follow names (users.email, *.ssn), so DDL
// that gives masked data another name takes it out from under them for
// every later session - renaming the column or the table, moving the table
// to another schema (or, MySQL, a partition's rows to another table), making it inherit from (Postgres) a parent whose
// reads include its rows, or adding a generated column computed from a
// masked one. Such DDL is refused like a laundering write, unless the
// masks cover the new name as well (a rule on *.ssn still covers a renamed
// table's ssn) or a rule explicitly allows the statement.

// noteSchemaChange records why DDL would unmask data.
func (l *lineage) noteSchemaChange(why string) {
	if l.launder == "" {
		l.launder = why + " (column masks follow names)"
	}
}

// masksLost reports whether some column mask covering table from does not
// cover table to: rows or a name moving from one to the other lose it.
func (l *lineage) masksLost(from, to tableRef) bool {
	for i := range l.rules {
		if l.rules[i].tableMatches(from) && !l.rules[i].tableMatches(to) {
			return true
		}
	}
	return false
}

// checkRenameTable judges a table's new name.
func (l *lineage) checkRenameTable(from, to tableRef) {
	if l.masksLost(from, to) {
		l.noteSchemaChange("it moves masked table " + from.String() + " to " + to.String())
	}
}

// checkRenameColumn judges a column's new name.
func (l *lineage) checkRenameColumn(t tableRef, from, to string) {
	if l.column(t, from).masked() && !l.column(t, to).masked() {
		l.noteSchemaChange("it renames masked column " + t.String() + "." + from + " to " + to)
	}
}

// checkDerivedColumn judges a generated column: its expression's taint.
func (l *lineage) checkDerivedColumn(t tableRef, col string, expr taint) {
	if expr.masked() && !l.column(t, col).masked() {
		l.noteSchemaChange("it computes unmasked column " + t.String() + "." + col + " from " + expr.src)
	}
}

// pgCheckSchemaChange judges Postgres DDL on masked tables.
func (l *lineage) pgCheckSchemaChange(n *pg.Node) {
	if len(l.rules) == 0 || n == nil {
		return
	}
	switch x := n.Node.(type) {
	case *pg.Node_CreateStmt:
		// CREATE TABLE child (...) INHERITS (users) / PARTITION OF users:
		// rows written to the parent can land in the child, readable
		// under the child's name.
		if s := x.CreateStmt; s.Relation != nil {
			for _, p := range s.InhRelations {
				if rv := p.GetRangeVar(); rv != nil {
					l.checkRenameTable(rangeVarRef(rv), rangeVarRef(s.Relation))
				}
			}
		}
	case *pg.Node_RenameStmt:
		s := x.RenameStmt
		if s.Relation == nil {
			return
		}
		t := rangeVarRef(s.Relation)
		switch s.RenameType {
		case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW, pg.ObjectType_OBJECT_FOREIGN_TABLE:
			l.checkRenameTable(t, tableRef{schema: t.schema, name: strings.ToLower(s.Newname)})
		case pg.ObjectType_OBJECT_COLUMN:
			l.checkRenameColumn(t, strings.ToLower(s.Subname), strings.ToLower(s.Newname))
		}
	case *pg.Node_AlterObjectSchemaStmt:
		s := x.AlterObjectSchemaStmt
		if s.Relation != nil {
			t := rangeVarRef(s.Relation)
			l.checkRenameTable(t, tableRef{schema: strings.ToLower(s.Newschema), name: t.name})
		}
	case *pg.Node_AlterTableStmt:
		s := x.AlterTableStmt
		if s.Relation == nil {
			return
		}
		t := rangeVarRef(s.Relation)
		sc := tableScope(t, nil)
		for _, c := range s.Cmds {
			cmd := c.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			switch cmd.Subtype {
			case pg.AlterTableType_AT_AddInherit:
				if p := cmd.Def.GetRangeVar(); p != nil {
					l.checkRenameTable(t, rangeVarRef(p))
				}
			case pg.AlterTableType_AT_AttachPartition:
				if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Name != nil {
					l.checkRenameTable(t, rangeVarRef(pc.Name))
				}
			case pg.AlterTableType_AT_AddColumn:
				if cd := cmd.Def.GetColumnDef(); cd != nil {
					for _, cn := range cd.Constraints {
						if con := cn.GetConstraint(); con != nil && con.RawExpr != nil {
							l.checkDerivedColumn(t, strings.ToLower(cd.Colname), l.pgExpr(con.RawExpr, sc))
						}
					}
				}
			case pg.AlterTableType_AT_AlterColumnType:
				// ALTER COLUMN name TYPE text USING email rewrites name from email.
				if cd := cmd.Def.GetColumnDef(); cd != nil && cd.RawDefault != nil {
					l.checkDerivedColumn(t, strings.ToLower(cmd.Name), l.pgExpr(cd.RawDefault, sc))
				}
			case pg.AlterTableType_AT_SetExpression, pg.AlterTableType_AT_ColumnDefault:
				if cmd.Def != nil {
					l.checkDerivedColumn(t, strings.ToLower(cmd.Name), l.pgExpr(cmd.Def, sc))
				}
			case pg.AlterTableType_AT_AddConstraint:
				// ADD CONSTRAINT ... CHECK (email < 'm') fails if a row says
				// otherwise, a UNIQUE one if two rows agree: a probe under
				// masked_filters (probe.go).
				if con := cmd.Def.GetConstraint(); con != nil {
					l.noteProbe(l.pgExpr(con.RawExpr, sc), "a constraint")
					for _, k := range con.Keys {
						l.noteProbe(l.column(t, strings.ToLower(k.GetString_().GetSval())), "a constraint")
					}
				}
			}
		}
	}
}

// myCheckSchemaChange judges MySQL DDL on masked tables.
func (l *lineage) myCheckSchemaChange(st ast.StmtNode) {
	if len(l.rules) == 0 {
		return
	}
	switch x := st.(type) {
	case *ast.RenameTableStmt:
		for _, tt := range x.TableToTables {
			if tt != nil && tt.OldTable != nil && tt.NewTable != nil {
				l.checkRenameTable(l.myTable(tt.OldTable.Schema.L, tt.OldTable.Name.L),
					l.myTable(tt.NewTable.Schema.L, tt.NewTable.Name.L))
			}
		}
	case *ast.AlterTableStmt:
		if x.Table == nil {
			return
		}
		t := l.myTable(x.Table.Schema.L, x.Table.Name.L)
		sc := tableScope(t, nil)
		for _, spec := range x.Specs {
			if spec == nil {
				continue
			}
			switch spec.Tp {
			case ast.AlterTableRenameTable, ast.AlterTableExchangePartition:
				// EXCHANGE PARTITION moves the partition's rows to NewTable.
				if spec.NewTable != nil {
					l.checkRenameTable(t, l.myTable(spec.NewTable.Schema.L, spec.NewTable.Name.L))
				}
			case ast.AlterTableRenameColumn:
				if spec.OldColumnName != nil && spec.NewColumnName != nil {
					l.checkRenameColumn(t, spec.OldColumnName.Name.L, spec.NewColumnName.Name.L)
				}
			case ast.AlterTableChangeColumn:
				if spec.OldColumnName != nil && len(spec.NewColumns) > 0 && spec.NewColumns[0].Name != nil {
					l.checkRenameColumn(t, spec.OldColumnName.Name.L, spec.NewColumns[0].Name.Name.L)
				}
			case ast.AlterTableAddConstraint:
				// A CHECK or unique constraint fails or not by the values:
				// a probe under masked_filters (probe.go).
				if c := spec.Constraint; c != nil {
					switch c.Tp {
					case ast.ConstraintCheck:
						l.noteProbe(l.myExpr(c.Expr, sc), "a constraint")
					case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex, ast.ConstraintPrimaryKey:
						l.myKeyParts(t, c.Keys, "a constraint")
					}
				}
			}
			// ADD, MODIFY and CHANGE can define a generated column.
			for _, cd := range spec.NewColumns {
				if cd == nil || cd.Name == nil {
					continue
				}
				for _, o := range cd.Options {
					if o != nil && o.Expr != nil && (o.Tp == ast.ColumnOptionGenerated || o.Tp == ast.ColumnOptionDefaultValue) {
						l.checkDerivedColumn(t, cd.Name.Name.L, l.myExpr(o.Expr, sc))
					}
				}
			}
		}
	}
}
