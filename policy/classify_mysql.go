package policy

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions for the parser
)

// mysqlParsers pools TiDB parsers: a parser is not safe for concurrent use.
var mysqlParsers = sync.Pool{New: func() any { return parser.New() }}

func parseMySQL(sql string) ([]ast.StmtNode, error) {
	return parseMySQLMode(sql, mysql.ModeNone)
}

// parseMySQLMode parses under an sql_mode (ANSI_QUOTES and
// NO_BACKSLASH_ESCAPES change what the bytes mean).
func parseMySQLMode(sql string, mode mysql.SQLMode) (stmts []ast.StmtNode, err error) {
	p := mysqlParsers.Get().(*parser.Parser)
	p.SetSQLMode(mode)
	defer func() {
		if r := recover(); r != nil {
			// A parser that panicked may hold broken state: drop it.
			stmts, err = nil, fmt.Errorf("mysql parser panicked: %v", r)
			return
		}
		mysqlParsers.Put(p)
	}()
	stmts, _, err = p.Parse(sql, "", "")
	// Parse returns the parser's own result slice, which its next Parse
	// reuses: copy it before the deferred Put hands the parser to another
	// goroutine (found by the race detector under load).
	return slices.Clone(stmts), err
}

// classifyMySQL classifies every statement of a MySQL text into the shared
// vocabulary. Executable comments (/*! ... */) are parsed as code.
func classifyMySQL(sql string, lin *lineage) ([]parsedStmt, error) {
	return classifyMySQLMode(sql, mysql.ModeNone, lin)
}

func classifyMySQLMode(sql string, mode mysql.SQLMode, lin *lineage) ([]parsedStmt, error) {
	stmts, err := parseMySQLMode(sql, mode)
	if err != nil {
		return nil, err
	}
	out := make([]parsedStmt, 0, len(stmts))
	// A USE changes where the next statements' unqualified names resolve
	// (they only run if it succeeded); every reading starts from the
	// session's database.
	defer func(db string) { lin.db = db }(lin.db)
	for _, st := range stmts {
		ps := parsedStmt{text: st.Text()}
		if ps.text == "" {
			ps.text = sql
		}
		ps.info = mysqlStatementInfo(st, 0)
		ps.out, ps.unknown = lin.myStatement(st)
		if u, ok := st.(*ast.UseStmt); ok {
			ps.info.Database = u.DBName
			lin.db = strings.ToLower(u.DBName)
		}
		out = append(out, ps)
	}
	return out, nil
}

// mysqlKind maps a statement node to the shared vocabulary.
func mysqlKind(n ast.Node) string {
	switch x := n.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		return "select"
	case *ast.InsertStmt:
		return "insert"
	case *ast.UpdateStmt:
		return "update"
	case *ast.DeleteStmt:
		return "delete"
	case *ast.TruncateTableStmt:
		return "truncate"
	case *ast.DropTableStmt, *ast.DropDatabaseStmt, *ast.DropIndexStmt, *ast.DropUserStmt,
		*ast.DropSequenceStmt, *ast.DropPlacementPolicyStmt, *ast.DropResourceGroupStmt, *ast.DropProcedureStmt:
		return "drop"
	case *ast.CreateTableStmt, *ast.CreateDatabaseStmt, *ast.CreateIndexStmt, *ast.CreateViewStmt,
		*ast.CreateUserStmt, *ast.CreateSequenceStmt, *ast.CreateBindingStmt, *ast.ProcedureInfo:
		return "create"
	case *ast.AlterTableStmt, *ast.AlterDatabaseStmt, *ast.AlterUserStmt, *ast.AlterSequenceStmt:
		return "alter"
	case *ast.RenameTableStmt, *ast.RenameUserStmt:
		return "rename"
	case *ast.GrantStmt, *ast.GrantRoleStmt, *ast.GrantProxyStmt:
		return "grant"
	case *ast.RevokeStmt, *ast.RevokeRoleStmt:
		return "revoke"
	case *ast.LoadDataStmt:
		return "copy"
	case *ast.CallStmt:
		return "call"
	case *ast.SetStmt, *ast.SetPwdStmt, *ast.SetRoleStmt, *ast.SetDefaultRoleStmt:
		return "set"
	case *ast.UseStmt:
		return "use"
	case *ast.ShowStmt:
		return "show"
	case *ast.BeginStmt, *ast.CommitStmt, *ast.RollbackStmt, *ast.SavepointStmt, *ast.ReleaseSavepointStmt:
		return "transaction"
	case *ast.ExplainStmt:
		return "explain"
	case *ast.PrepareStmt:
		return "prepare"
	case *ast.ExecuteStmt:
		return "execute"
	case *ast.DeallocateStmt:
		return "deallocate"
	case *ast.AnalyzeTableStmt:
		return "analyze"
	case *ast.LockTablesStmt, *ast.UnlockTablesStmt:
		return "lock"
	case *ast.DoStmt:
		return "do"
	case *ast.KillStmt:
		return "kill"
	case *ast.FlushStmt, *ast.ShutdownStmt:
		_ = x
		return "other"
	}
	return "other"
}

// mysqlInfoVisitor collects tables, functions, nested kinds and flags.
type mysqlInfoVisitor struct {
	info   *StatementInfo
	also   map[string]bool
	tables map[string]bool
	funcs  map[string]bool
	top    ast.Node
	depth  int
}

func (v *mysqlInfoVisitor) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.TableName:
		name := x.Name.L
		if x.Schema.L != "" {
			name = x.Schema.L + "." + name
		}
		v.tables[name] = true
	case *ast.FuncCallExpr:
		v.funcs[mysqlFuncName(x)] = true
	case *ast.AggregateFuncExpr:
		v.funcs[strings.ToLower(x.F)] = true
	case *ast.WindowFuncExpr:
		v.funcs[strings.ToLower(x.Name)] = true
	case *ast.DeleteStmt:
		if x.Where == nil {
			v.info.WithoutWhere = true
		}
	case *ast.UpdateStmt:
		if x.Where == nil {
			v.info.WithoutWhere = true
		}
	case *ast.SelectStmt:
		if x.SelectIntoOpt != nil {
			v.also["copy"] = true // INTO OUTFILE / DUMPFILE writes a server file
		}
	case *ast.ExplainStmt:
		if !x.Analyze {
			return n, true // the statement is not executed
		}
	}
	if n != v.top {
		switch n.(type) {
		case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
			v.also[mysqlKind(n)] = true
		}
	}
	return n, false
}

func (v *mysqlInfoVisitor) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// mysqlStatementInfo computes what a statement is; PREPARE ... FROM 'text'
// is judged by the text it prepares.
func mysqlStatementInfo(st ast.StmtNode, depth int) StatementInfo {
	info := StatementInfo{Kind: mysqlKind(st)}
	v := &mysqlInfoVisitor{info: &info, also: map[string]bool{}, tables: map[string]bool{}, funcs: map[string]bool{}, top: st}
	if ex, ok := st.(*ast.ExplainStmt); ok && ex.Analyze && ex.Stmt != nil {
		v.also[mysqlKind(ex.Stmt)] = true
	}
	st.Accept(v)
	if ps, ok := st.(*ast.PrepareStmt); ok {
		if ps.SQLVar != nil || depth > 0 {
			// PREPARE ... FROM @var: the statement is not visible to judge.
			return StatementInfo{Kind: unparseableRule}
		}
		inner, err := parseMySQL(ps.SQLText)
		if err != nil {
			return StatementInfo{Kind: unparseableRule}
		}
		for _, in := range inner {
			ii := mysqlStatementInfo(in, depth+1)
			if ii.Kind == unparseableRule {
				return ii
			}
			v.also[ii.Kind] = true
			for _, a := range ii.Also {
				v.also[a] = true
			}
			for _, t := range ii.Tables {
				v.tables[t] = true
			}
			for _, f := range ii.Functions {
				v.funcs[f] = true
			}
			info.WithoutWhere = info.WithoutWhere || ii.WithoutWhere
		}
	}
	if sh, ok := st.(*ast.ShowStmt); ok && (sh.Tp == ast.ShowWarnings || sh.Tp == ast.ShowErrors) && !sh.CountWarningsOrErrors {
		info.Diagnostics = true
	}
	if ld, ok := st.(*ast.LoadDataStmt); ok && ld.Table != nil {
		name := ld.Table.Name.L
		if ld.Table.Schema.L != "" {
			name = ld.Table.Schema.L + "." + name
		}
		v.tables[name] = true
	}
	delete(v.also, info.Kind)
	info.Also = sortedKeys(v.also)
	info.Tables = sortedKeys(v.tables)
	info.Functions = sortedKeys(v.funcs)
	return info
}

// mysqlFuncName is a call's function name, schema-qualified when written so.
func mysqlFuncName(x *ast.FuncCallExpr) string {
	if x.Schema.L != "" {
		return x.Schema.L + "." + x.FnName.L
	}
	return x.FnName.L
}
