package policy

import (
	"fmt"
	"path"
	"strings"
)

// Lineage: which output columns of a statement derive from masked columns.
// Both dialects build the same outPlan; binding it to a result's Fields
// happens in mask.go.

// tableRef is a base table as written (lower-case; schema may be "").
type tableRef struct{ schema, name string }

func (t tableRef) String() string {
	if t.schema == "" {
		return t.name
	}
	return t.schema + "." + t.name
}

// taint is what an output column carries from masked sources.
type taint struct {
	m       *maskMethod // nil = clean
	src     string      // the masked source, e.g. "users.email"
	derived bool        // an expression of the source, not the source itself
	unknown bool        // lineage could not be established
}

func (t taint) masked() bool { return t.m != nil || t.unknown }

// join combines the taints of two inputs of one expression.
func (t taint) join(o taint) taint {
	if !o.masked() {
		return t
	}
	if !t.masked() {
		return o
	}
	t.derived = true
	t.unknown = t.unknown || o.unknown
	if t.m == nil {
		t.m, t.src = o.m, o.src
	}
	return t
}

// asDerived marks a taint as passing through an expression.
func (t taint) asDerived() taint {
	if t.masked() {
		t.derived = true
	}
	return t
}

// outCol is one output column, or a star over base tables of unknown width.
type outCol struct {
	name  string // lower-case output name ("" when unknown)
	taint taint
	star  *starRef
}

// starRef is `*` / `t.*` over base tables whose columns we cannot list.
type starRef struct {
	tables []tableRef
	extra  taint // applies to every column (e.g. a set-returning function's inputs)
}

// outPlan is the output columns of one row-returning statement.
type outPlan struct {
	cols []outCol
	// describe, for a COPY ... TO STDOUT whose columns include a star, is
	// a SELECT with the same output columns: COPY's own response names no
	// columns, a Describe of this does (see ResultMask.CopyDescribe).
	describe string
}

// lineage resolves columns against a policy's column rules.
type lineage struct {
	// literalDependent: a decision rests on a string literal's content (a
	// routine body), so it must not be cached by the literal-normalized key.
	literalDependent bool
	rules            []colRule
	// views are the database's view definitions, when the engine knows them.
	views     *Views
	viewDepth int
	// db is the MySQL database unqualified names resolve against: the
	// session's current one, a USE earlier in the text, or a view's own
	// schema inside its definition ("" = unknown: any schema).
	db string
	// launder says why masked data would escape the masks ("" = it does not):
	// a write to an unmasked place, or a COPY format we cannot mask.
	launder string
	// filters: judge filtering clauses too (masked_filters: block); probe
	// says why the statement probes masked values ("" = it does not).
	filters bool
	probe   string
}

// colRule is one entry of a mask's columns list.
type colRule struct {
	schema, table, column string // globs; "" = any
	m                     *maskMethod
	label                 string
	// implicit: added by the gateway (catalogs.go), not the policy; the
	// lexical routine test ignores it (its column names are common words).
	implicit bool
}

func parseColRule(s string, m *maskMethod) (colRule, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	parts := strings.Split(s, ".")
	cr := colRule{m: m, label: s}
	switch len(parts) {
	case 1:
		cr.column = parts[0]
	case 2:
		cr.table, cr.column = parts[0], parts[1]
	case 3:
		cr.schema, cr.table, cr.column = parts[0], parts[1], parts[2]
	default:
		return cr, fmt.Errorf("%q is not column, table.column or schema.table.column", s)
	}
	for _, p := range parts {
		if p == "" {
			return cr, fmt.Errorf("%q has an empty part", s)
		}
		if _, err := path.Match(p, ""); err != nil {
			return cr, fmt.Errorf("%q is not a valid glob: %w", s, err)
		}
	}
	if cr.table == "*" {
		cr.table = ""
	}
	if cr.schema == "*" {
		cr.schema = ""
	}
	return cr, nil
}

func colGlob(pat, s string) bool {
	if pat == "" {
		return true
	}
	ok, _ := path.Match(pat, s)
	return ok
}

// tableMatches: an unknown schema matches any schema rule (search_path can
// point anywhere: fail closed).
func (cr *colRule) tableMatches(t tableRef) bool {
	if cr.table != "" && !colGlob(cr.table, t.name) {
		return false
	}
	if cr.schema != "" && t.schema != "" && !colGlob(cr.schema, t.schema) {
		return false
	}
	return true
}

// myTable is a MySQL table name as written, resolved against the current
// database.
func (l *lineage) myTable(schema, name string) tableRef {
	if schema == "" {
		schema = l.db
	}
	return tableRef{schema: schema, name: name}
}

// column returns the taint of column col of base table t: its own masks,
// else its ancestors' (inheritance.go).
func (l *lineage) column(t tableRef, col string) taint {
	if own := l.ownColumn(t, col); own.masked() {
		return own
	}
	if l.views != nil && l.views.parents != nil {
		return l.ancestorTaint(t, col, false, 0)
	}
	return taint{}
}

// ownColumn is the taint of column col of t by the masks naming t.
func (l *lineage) ownColumn(t tableRef, col string) taint {
	for i := range l.rules {
		cr := &l.rules[i]
		if cr.tableMatches(t) && colGlob(cr.column, col) {
			return taint{m: cr.m, src: t.name + "." + col}
		}
	}
	return taint{}
}

// anyColumn is the taint of column col of any of the tables (a reference
// we cannot attribute to one table: fail closed).
func (l *lineage) anyColumn(ts []tableRef, col string) taint {
	var out taint
	for _, t := range ts {
		out = out.join(l.column(t, col))
	}
	return out
}

// wholeRow is the taint of a whole-row reference to base table t
// (row_to_json(u), SELECT u FROM users u): tainted when any rule could
// match one of its columns.
func (l *lineage) wholeRow(t tableRef) taint {
	if own := l.ownWholeRow(t); own.masked() {
		return own
	}
	if l.views != nil && l.views.parents != nil {
		return l.ancestorTaint(t, "", true, 0)
	}
	return taint{}
}

// ownWholeRow is wholeRow by the masks naming t.
func (l *lineage) ownWholeRow(t tableRef) taint {
	for i := range l.rules {
		cr := &l.rules[i]
		if cr.tableMatches(t) {
			return taint{m: cr.m, src: t.String() + ".*", derived: true}
		}
	}
	return taint{}
}

// opaqueFuncs run SQL or read data we cannot see into: their output has
// unknown lineage.
var opaqueFuncs = map[string]bool{
	"dblink": true, "dblink_exec": true, "dblink_get_result": true, "dblink_fetch": true,
	"query_to_xml": true, "query_to_xml_and_xmlschema": true, "query_to_xmlschema": true,
	"table_to_xml": true, "table_to_xml_and_xmlschema": true, "cursor_to_xml": true,
	"schema_to_xml": true, "schema_to_xml_and_xmlschema": true,
	"database_to_xml": true, "database_to_xml_and_xmlschema": true,
	"lo_get": true, "loread": true, "pg_read_file": true, "pg_read_binary_file": true,
	"pg_mcv_list_items": true, "pg_mcv_list_out": true, // extended statistics' values
	"pg_stat_get_activity": true, "pg_stat_statements": true, // statement texts (catalogs.go)
	"crosstab": true, "crosstab2": true, "crosstab3": true,
	"crosstab4": true, "connectby": true, "ts_stat": true,
	// Logical decoding returns the rows other sessions wrote.
	"pg_logical_slot_get_changes": true, "pg_logical_slot_peek_changes": true,
	"pg_logical_slot_get_binary_changes": true, "pg_logical_slot_peek_binary_changes": true,
	// pageinspect reads raw table pages.
	"get_raw_page": true, "heap_page_items": true, "heap_page_item_attrs": true,
	"tuple_data_split": true, "bt_page_items": true, "brin_page_items": true,
	"gin_leafpage_items": true, "hash_page_items": true, "gist_page_items": true,
}

// myOpaqueFuncs are MySQL's: LOAD_FILE reads any server file, the
// database's own data files included.
var myOpaqueFuncs = map[string]bool{"load_file": true}

func isOpaqueFunc(qualified string) bool {
	name := qualified
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return opaqueFuncs[name]
}
