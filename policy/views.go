package policy

import (
	"fmt"
	"strings"
	"sync"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// A statement that reads a view names only the view: the masked columns it
// exposes are in the view's definition, which lives in the database, not in
// the statement. An engine that knows the database's views hands them over
// as a Views snapshot (Subject.Views); lineage then reads a view like a CTE
// with the view's query, so `SELECT email FROM user_contacts` is masked as
// `SELECT email FROM users` would be.

// ViewDef is one view of the database, as pg_views reports it.
type ViewDef struct {
	Schema, Name string
	Definition   string // the view's SELECT
}

// Views is a snapshot of a database's view definitions. It is immutable
// once built and safe for concurrent use; it keeps its own analysis cache,
// since lineage through views depends on the snapshot.
type Views struct {
	dialect Dialect
	defs    map[string]*pg.Node // Postgres: "schema.name" and "name" -> parsed SELECT
	myDefs  map[string]myView   // MySQL: "schema.name" -> the view
	myNames map[string]bool     // MySQL: the views' bare names
	// funcs are the database's own functions and texts are the words of
	// every function body and view definition, both by "schema.name" and
	// "name" (see routines.go).
	funcs map[string]bool
	texts map[string]*words
	// parents: Postgres inheritance, child -> parents (inheritance.go).
	parents map[string][]tableRef

	mu    sync.Mutex
	cache map[string]*analysis
}

// myView is one MySQL view: its parsed SELECT (nil = unparseable) and its
// schema, where the definition's own unqualified names resolve.
type myView struct {
	schema string
	def    ast.ResultSetNode
}

// maxViewCache bounds a snapshot's analysis cache.
const maxViewCache = 4096

// maxViewDepth bounds views over views (and a definition cycle).
const maxViewDepth = 8

// NewViews parses view definitions. A definition that does not parse is
// kept as unknown: reading it masks every column (fail closed).
func NewViews(defs []ViewDef) *Views {
	v := &Views{dialect: Postgres, defs: map[string]*pg.Node{}, cache: map[string]*analysis{}}
	for _, d := range defs {
		var node *pg.Node
		if tree, err := pg.Parse(d.Definition); err == nil && len(tree.Stmts) == 1 {
			node = tree.Stmts[0].Stmt
		}
		if node == nil {
			node = &pg.Node{} // unknown: see pgViewRelation
		}
		schema, name := strings.ToLower(d.Schema), strings.ToLower(d.Name)
		v.addText(schema, name, d.Definition, d.Definition == "")
		v.defs[schema+"."+name] = node
		// Unqualified names resolve through search_path, which the gateway
		// does not track: the first schema listed wins, public first.
		if _, taken := v.defs[name]; !taken || schema == "public" {
			v.defs[name] = node
		}
	}
	return v
}

// NewMySQLViews parses MySQL view definitions (information_schema.VIEWS,
// every schema) with the TiDB parser. A statement's unqualified names
// resolve against the session's current database, which the engine passes
// with each check (Subject.Database), so one snapshot serves a session
// through every USE.
func NewMySQLViews(defs []ViewDef) *Views {
	v := &Views{dialect: MySQL, myDefs: map[string]myView{}, myNames: map[string]bool{}, cache: map[string]*analysis{}}
	p := parser.New()
	for _, d := range defs {
		var node ast.ResultSetNode
		if st, err := parseMySQLOne(p, d.Definition); err == nil {
			if rs, ok := st.(ast.ResultSetNode); ok {
				node = rs
			}
		}
		schema, name := strings.ToLower(d.Schema), strings.ToLower(d.Name)
		v.addText(schema, name, d.Definition, d.Definition == "")
		v.myDefs[schema+"."+name] = myView{schema: schema, def: node}
		v.myNames[name] = true
	}
	return v
}

// parseMySQLOne parses one statement; the TiDB parser can panic on odd input.
func parseMySQLOne(p *parser.Parser, sql string) (st ast.StmtNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("parser panicked: %v", r)
		}
	}()
	return p.ParseOneStmt(sql, "", "")
}

// Len is the number of views and functions in the snapshot.
func (v *Views) Len() int {
	if v == nil {
		return 0
	}
	return len(v.defs) + len(v.myDefs) + len(v.funcs) + len(v.parents)
}

// lookupMy finds the view a MySQL name resolved against the current
// database (myTable) refers to. With no database known, a bare name that
// is a view in some schema may be that view: it reads as one we cannot
// follow (fail closed).
func (v *Views) lookupMy(t tableRef) (myView, bool) {
	if v == nil || v.myDefs == nil {
		return myView{}, false
	}
	if t.schema == "" {
		return myView{}, v.myNames[t.name]
	}
	mv, ok := v.myDefs[t.schema+"."+t.name]
	return mv, ok
}

func (v *Views) lookup(t tableRef) (*pg.Node, bool) {
	if v == nil || v.defs == nil {
		return nil, false
	}
	key := t.name
	if t.schema != "" {
		key = t.schema + "." + t.name
	}
	n, ok := v.defs[key]
	return n, ok
}

// references reports whether any statement names a view or a function of
// the snapshot.
func (v *Views) references(stmts []StatementInfo) bool {
	for i := range stmts {
		for _, f := range stmts[i].Functions {
			if _, ok := v.funcs[f]; ok {
				return true
			}
		}
		for _, t := range stmts[i].Tables {
			if _, ok := v.defs[t]; ok {
				return true
			}
			if _, ok := v.parents[t]; ok {
				return true
			}
			if _, ok := v.myDefs[t]; ok || v.myNames[t] {
				return true
			}
		}
	}
	return false
}

// analyze is the snapshot-aware analysis of a text (db: the MySQL current
// database), cached here.
func (v *Views) analyze(p *Policy, db, sql string) *analysis {
	key := p.name + "\x00" + db + "\x00" + sql
	v.mu.Lock()
	a, ok := v.cache[key]
	v.mu.Unlock()
	if ok {
		return a
	}
	a = p.buildWith(v.dialect, db, sql, v)
	v.mu.Lock()
	if len(v.cache) >= maxViewCache {
		clear(v.cache)
	}
	v.cache[strings.Clone(key)] = a
	v.mu.Unlock()
	return a
}

// pgViewRelation reads a view like a CTE over its definition.
func (l *lineage) pgViewRelation(def *pg.Node, alias string) relation {
	if l.viewDepth >= maxViewDepth || def.GetSelectStmt() == nil {
		// Too deep, or a definition we could not parse: its columns may
		// be anything.
		return relation{alias: alias, fn: true, extra: taint{m: redactMethod, src: "view " + alias, unknown: true}}
	}
	l.viewDepth++
	cols := l.pgSelect(def.GetSelectStmt(), &scope{})
	l.viewDepth--
	return relation{alias: alias, cols: cols}
}

// NeedsViews reports whether lineage through database views matters for
// this policy (it has column masks), so an engine should supply Views.
func (p *Policy) NeedsViews() bool { return p != nil && len(p.colRules) > 0 }

// myViewRelation reads a MySQL view like a derived table over its
// definition, whose unqualified names are in the view's own schema.
func (l *lineage) myViewRelation(v myView, alias string, colNames []ast.CIStr) relation {
	if l.viewDepth >= maxViewDepth || v.def == nil {
		return relation{alias: alias, fn: true, extra: taint{m: redactMethod, src: "view " + alias, unknown: true}}
	}
	l.viewDepth++
	db := l.db
	l.db = v.schema
	cols := l.myResultSet(v.def, &scope{})
	l.db = db
	l.viewDepth--
	return relation{alias: alias, cols: myRename(cols, colNames)}
}

// ViewsTTL is how long an engine reuses a database's view snapshot. A view
// created outside the gateway is followed by masking at most this long
// after (views created through the gateway over masked columns are refused).
const ViewsTTL = 30 * time.Second

// ViewsCache keeps each database's snapshot for ViewsTTL. Engines own one.
type ViewsCache struct {
	mu sync.Mutex
	m  map[string]cachedViews
}

type cachedViews struct {
	at    time.Time
	views *Views
}

// Get returns the snapshot for key (a database), calling load when the
// cached one is missing or stale. A load error is returned, not cached.
func (c *ViewsCache) Get(key string, load func() (*Views, error)) (*Views, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < ViewsTTL {
		return e.views, nil
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedViews{}
	}
	c.m[key] = cachedViews{at: time.Now(), views: v}
	c.mu.Unlock()
	return v, nil
}
