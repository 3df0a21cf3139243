package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// parsedStmt is one statement after classification and lineage.
type parsedStmt struct {
	info StatementInfo
	text string   // the statement's text, for regex rules
	out  *outPlan // result columns; nil when the statement returns no rows
	// unknown is true when the statement returns rows whose lineage cannot
	// be established (EXECUTE, FETCH, CALL, an opaque function).
	unknown bool
}

// parsePG parses Postgres SQL; a parser panic is an error, never a crash.
func parsePG(sql string) (res *pg.ParseResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("postgres parser panicked: %v", r)
		}
	}()
	return pg.Parse(sql)
}

// classifyPG classifies every statement of a Postgres text. An error means
// the text did not parse (the caller judges it as unparseable).
func classifyPG(sql string, lin *lineage) ([]parsedStmt, error) {
	res, err := parsePG(sql)
	if err != nil {
		return nil, err
	}
	out := make([]parsedStmt, 0, len(res.Stmts))
	for _, raw := range res.Stmts {
		text := sql
		start, n := int(raw.StmtLocation), int(raw.StmtLen)
		if start >= 0 && start <= len(sql) {
			if n == 0 || start+n > len(sql) {
				n = len(sql) - start
			}
			text = sql[start : start+n]
		}
		ps := parsedStmt{text: text}
		ps.info = pgStatementInfo(raw.Stmt)
		ps.out, ps.unknown = lin.pgStatement(raw.Stmt)
		out = append(out, ps)
	}
	return out, nil
}

// pgStatementInfo computes kind, nested kinds, tables, functions and flags.
func pgStatementInfo(n *pg.Node) StatementInfo {
	info := StatementInfo{Kind: pgKind(n)}
	also := map[string]bool{}
	tables := map[string]bool{}
	funcs := map[string]bool{}
	var visit func(n *pg.Node, top bool)
	visit = func(n *pg.Node, top bool) {
		if n == nil {
			return
		}
		switch x := n.Node.(type) {
		case *pg.Node_RangeVar:
			tables[rangeVarName(x.RangeVar)] = true
		case *pg.Node_FuncCall:
			funcs[qualifiedName(x.FuncCall.Funcname)] = true
		case *pg.Node_DeleteStmt:
			if x.DeleteStmt.WhereClause == nil {
				info.WithoutWhere = true
			}
		case *pg.Node_UpdateStmt:
			if x.UpdateStmt.WhereClause == nil {
				info.WithoutWhere = true
			}
		case *pg.Node_DropStmt:
			for _, o := range x.DropStmt.Objects {
				if l := o.GetList(); l != nil {
					tables[qualifiedName(l.Items)] = true
				} else if str := o.GetString_(); str != nil {
					tables[strings.ToLower(str.Sval)] = true
				}
			}
		case *pg.Node_SelectStmt:
			if x.SelectStmt.IntoClause != nil {
				also["create"] = true // SELECT ... INTO creates a table
			}
		case *pg.Node_CopyStmt:
			if x.CopyStmt.IsProgram {
				info.CopyProgram = true
			}
		case *pg.Node_ExplainStmt:
			// EXPLAIN ANALYZE runs its statement; plain EXPLAIN does not.
			if explainAnalyzes(x.ExplainStmt) && x.ExplainStmt.Query != nil {
				also[pgKind(x.ExplainStmt.Query)] = true
			}
		}
		// Nested statements count as what they do: a DELETE in a CTE, the
		// body of PREPARE / DECLARE / CREATE TABLE AS / CREATE RULE.
		// Nested reads are not a kind of their own (every INSERT ... VALUES
		// holds a SelectStmt); nested writes are.
		if !top {
			switch n.Node.(type) {
			case *pg.Node_InsertStmt, *pg.Node_UpdateStmt, *pg.Node_DeleteStmt, *pg.Node_MergeStmt:
				also[pgKind(n)] = true
			}
		}
		eachChild(n, func(c *pg.Node) { visit(c, false) })
	}
	visit(n, true)
	if _, isExplain := n.Node.(*pg.Node_ExplainStmt); isExplain {
		// Inner statement kinds of a plain EXPLAIN are not executed.
		q := n.GetExplainStmt()
		if !explainAnalyzes(q) {
			also = map[string]bool{}
		}
	}
	delete(also, info.Kind)
	info.Also = sortedKeys(also)
	info.Tables = sortedKeys(tables)
	info.Functions = sortedKeys(funcs)
	return info
}

func explainAnalyzes(e *pg.ExplainStmt) bool {
	for _, o := range e.Options {
		d := o.GetDefElem()
		if d == nil || !strings.EqualFold(d.Defname, "analyze") {
			continue
		}
		if d.Arg == nil {
			return true
		}
		// Any value other than an explicit false/off/0 counts as true: fail closed.
		switch v := d.Arg.Node.(type) {
		case *pg.Node_Boolean:
			return v.Boolean.Boolval
		case *pg.Node_String_:
			s := strings.ToLower(v.String_.Sval)
			return s != "false" && s != "off" && s != "no" && s != "0"
		case *pg.Node_Integer:
			return v.Integer.Ival != 0
		case *pg.Node_AConst:
			if b := v.AConst.GetBoolval(); b != nil {
				return b.Boolval
			}
			if i := v.AConst.GetIval(); i != nil {
				return i.Ival != 0
			}
			if s := v.AConst.GetSval(); s != nil {
				l := strings.ToLower(s.Sval)
				return l != "false" && l != "off" && l != "no" && l != "0"
			}
		}
		return true
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func rangeVarName(rv *pg.RangeVar) string {
	name := strings.ToLower(rv.Relname)
	if rv.Schemaname != "" {
		name = strings.ToLower(rv.Schemaname) + "." + name
	}
	return name
}

// qualifiedName joins a list of String nodes: ["pg_catalog", "now"] -> "pg_catalog.now".
func qualifiedName(parts []*pg.Node) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		if s := p.GetString_(); s != nil {
			b.WriteString(strings.ToLower(s.Sval))
		}
	}
	return b.String()
}

// pgKindByType maps a statement node type to the shared vocabulary.
var pgKindByType = map[string]string{
	"SelectStmt": "select", "InsertStmt": "insert", "UpdateStmt": "update",
	"DeleteStmt": "delete", "MergeStmt": "merge", "TruncateStmt": "truncate",
	"DropStmt": "drop", "DropdbStmt": "drop", "DropRoleStmt": "drop",
	"DropOwnedStmt": "drop", "DropTableSpaceStmt": "drop", "DropUserMappingStmt": "drop",
	"DropSubscriptionStmt": "drop", "GrantStmt": "grant", "GrantRoleStmt": "grant",
	"AlterDefaultPrivilegesStmt": "grant", "CopyStmt": "copy", "CallStmt": "call",
	"DoStmt": "do", "VariableSetStmt": "set", "VariableShowStmt": "show",
	"TransactionStmt": "transaction", "ExplainStmt": "explain", "VacuumStmt": "vacuum",
	"PrepareStmt": "prepare", "ExecuteStmt": "execute", "DeallocateStmt": "deallocate",
	"ListenStmt": "listen", "NotifyStmt": "notify", "UnlistenStmt": "unlisten",
	"LockStmt": "lock", "DeclareCursorStmt": "declare", "FetchStmt": "fetch",
	"ClosePortalStmt": "close", "DiscardStmt": "discard", "ReindexStmt": "reindex",
	"ClusterStmt": "cluster", "CheckPointStmt": "checkpoint", "CommentStmt": "comment",
	"RenameStmt": "rename", "RefreshMatViewStmt": "refresh", "LoadStmt": "load",
	"ConstraintsSetStmt": "set", "AlterSystemStmt": "alter", "ReassignOwnedStmt": "alter",
	"SecLabelStmt": "comment", "IndexStmt": "create", "ViewStmt": "create",
	"RuleStmt": "create", "DefineStmt": "create", "CompositeTypeStmt": "create",
	"CreateTableAsStmt": "create", "CreatedbStmt": "create",
}

// pgKind names a statement node's kind.
func pgKind(n *pg.Node) string {
	if n == nil || n.Node == nil {
		return "other"
	}
	t := reflect.TypeOf(n.Node).Elem().Name() // Node_SelectStmt
	t = strings.TrimPrefix(t, "Node_")
	if t == "GrantStmt" && !n.GetGrantStmt().IsGrant || t == "GrantRoleStmt" && !n.GetGrantRoleStmt().IsGrant {
		return "revoke"
	}
	if k, ok := pgKindByType[t]; ok {
		if t == "VariableSetStmt" && n.GetVariableSetStmt().Kind == pg.VariableSetKind_VAR_RESET ||
			t == "VariableSetStmt" && n.GetVariableSetStmt().Kind == pg.VariableSetKind_VAR_RESET_ALL {
			return "reset"
		}
		return k
	}
	switch {
	case strings.HasPrefix(t, "Create"):
		return "create"
	case strings.HasPrefix(t, "Alter"):
		return "alter"
	case strings.HasPrefix(t, "Drop"):
		return "drop"
	case strings.HasPrefix(t, "Import"):
		return "create"
	}
	return "other"
}

// eachChild calls fn for every *pg.Node directly reachable from n, looking
// through intermediate non-Node messages (Alias, WindowDef, TypeName, ...).
// It uses protobuf reflection so no node type is ever missed.
func eachChild(n *pg.Node, fn func(*pg.Node)) {
	if n == nil || n.Node == nil {
		return
	}
	// The oneof wrapper holds exactly one message: the node itself.
	n.ProtoReflect().Range(func(_ protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if m, ok := v.Interface().(protoreflect.Message); ok {
			eachMessageChild(m, fn)
		}
		return true
	})
}

// nodeOneof maps a message type to its field in Node's oneof.
var nodeOneof = sync.OnceValue(func() map[protoreflect.FullName]protoreflect.FieldDescriptor {
	m := map[protoreflect.FullName]protoreflect.FieldDescriptor{}
	fields := (&pg.Node{}).ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Kind() == protoreflect.MessageKind {
			m[fd.Message().FullName()] = fd
		}
	}
	return m
})

func eachMessageChild(m protoreflect.Message, fn func(*pg.Node)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		visitMsg := func(cm protoreflect.Message) {
			if nn, ok := cm.Interface().(*pg.Node); ok {
				fn(nn)
				return
			}
			// A typed field (DeleteStmt.Relation is a *RangeVar, SelectStmt.Larg
			// a *SelectStmt): wrap it so visitors see every node the same way.
			if fd, ok := nodeOneof()[cm.Descriptor().FullName()]; ok && cm.IsValid() {
				nn := &pg.Node{}
				nn.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(cm))
				fn(nn)
				return
			}
			eachMessageChild(cm, fn)
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visitMsg(l.Get(i).Message())
			}
		case fd.IsMap():
		default:
			visitMsg(v.Message())
		}
		return true
	})
}
