package policy

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Sinks: besides tables and files, a statement can put a value somewhere
// the next statement reads it back unmasked - a session variable
// (`SELECT set_config('x.v', email, false) FROM users`, then
// `SELECT current_setting('x.v')`; MySQL `SET @v = (SELECT email ...)`,
// `@v := email`), a notification the client itself listens to
// (pg_notify), a large object, a remote database, a sequence or an
// advisory lock's key (both visible in catalogs). A masked value passed to
// one is laundering, refused like a write to an unmasked table.
//
// The walk sees sinks in the select list and, when columns are masked, in
// every other clause (probe.go).

var pgSinkFuncs = map[string]bool{
	"pg_notify": true, "set_config": true, "pg_logical_emit_message": true,
	"lo_from_bytea": true, "lo_put": true, "lowrite": true,
	"dblink": true, "dblink_exec": true, "dblink_send_query": true, "dblink_open": true,
	"pg_file_write": true, "setval": true,
}

func isPGSink(qualified string) bool {
	name := qualified
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return pgSinkFuncs[name] || strings.HasPrefix(name, "pg_advisory_") || strings.HasPrefix(name, "pg_try_advisory_")
}

// mySinkFuncs are MySQL/MariaDB functions that keep an argument: a named
// lock (listed in performance_schema) and a sequence's value.
var mySinkFuncs = map[string]bool{"get_lock": true, "setval": true}

// noteSink records a masked value passed to sink.
func (l *lineage) noteSink(t taint, sink string) {
	l.noteLaunder(t, tableRef{name: sink}, "")
}

// pgSinkCall judges a call to a Postgres sink function.
func (l *lineage) pgSinkCall(fc *pg.FuncCall, name string, sc *scope) {
	var t taint
	for _, a := range fc.Args {
		t = t.join(l.pgExpr(a, sc))
	}
	l.noteSink(t, name+"()")
}

// mySinkStatement judges MySQL statements that assign variables: SET and
// DO (whose expressions may hold := assignments).
func (l *lineage) mySinkStatement(st ast.StmtNode) {
	if len(l.rules) == 0 {
		return
	}
	switch x := st.(type) {
	case *ast.SetStmt:
		for _, va := range x.Variables {
			if va == nil || va.Value == nil {
				continue
			}
			name := "@" + va.Name
			if va.IsSystem {
				name = "@@" + va.Name
			}
			l.noteSink(l.myExpr(va.Value, &scope{}), name)
		}
	case *ast.DoStmt:
		for _, e := range x.Exprs {
			l.myExpr(e, &scope{})
		}
	}
}

// mySinkExpr judges one node of a MySQL expression: a variable assignment
// (`@v := expr`) or a sink function call.
func (l *lineage) mySinkExpr(n ast.Node, sc *scope) {
	switch x := n.(type) {
	case *ast.VariableExpr:
		if x.Value == nil {
			return
		}
		name := "@" + x.Name
		if x.IsSystem {
			name = "@@" + x.Name
		}
		l.noteSink(l.myExpr(x.Value, sc), name)
	case *ast.FuncCallExpr:
		if name := mysqlFuncName(x); mySinkFuncs[name] {
			var t taint
			for _, a := range x.Args {
				t = t.join(l.myExpr(a, sc))
			}
			l.noteSink(t, name+"()")
		}
	}
}
