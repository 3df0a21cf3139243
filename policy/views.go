package policy

import (
	"strings"
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"
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
	defs map[string]*pg.Node // "schema.name" and "name" -> parsed SELECT

	mu    sync.Mutex
	cache map[string]*analysis
}

// maxViewCache bounds a snapshot's analysis cache.
const maxViewCache = 4096

// maxViewDepth bounds views over views (and a definition cycle).
const maxViewDepth = 8

// NewViews parses view definitions. A definition that does not parse is
// kept as unknown: reading it masks every column (fail closed).
func NewViews(defs []ViewDef) *Views {
	v := &Views{defs: map[string]*pg.Node{}, cache: map[string]*analysis{}}
	for _, d := range defs {
		var node *pg.Node
		if tree, err := pg.Parse(d.Definition); err == nil && len(tree.Stmts) == 1 {
			node = tree.Stmts[0].Stmt
		}
		if node == nil {
			node = &pg.Node{} // unknown: see pgViewRelation
		}
		schema, name := strings.ToLower(d.Schema), strings.ToLower(d.Name)
		v.defs[schema+"."+name] = node
		// Unqualified names resolve through search_path, which the gateway
		// does not track: the first schema listed wins, public first.
		if _, taken := v.defs[name]; !taken || schema == "public" {
			v.defs[name] = node
		}
	}
	return v
}

// Len is the number of views in the snapshot.
func (v *Views) Len() int {
	if v == nil {
		return 0
	}
	return len(v.defs)
}

func (v *Views) lookup(t tableRef) (*pg.Node, bool) {
	if v == nil {
		return nil, false
	}
	key := t.name
	if t.schema != "" {
		key = t.schema + "." + t.name
	}
	n, ok := v.defs[key]
	return n, ok
}

// references reports whether any statement names a view of the snapshot.
func (v *Views) references(stmts []StatementInfo) bool {
	for i := range stmts {
		for _, t := range stmts[i].Tables {
			if _, ok := v.defs[t]; ok {
				return true
			}
		}
	}
	return false
}

// analyze is the snapshot-aware analysis of a Postgres text, cached here.
func (v *Views) analyze(p *Policy, sql string) *analysis {
	key := p.name + "\x00" + sql
	v.mu.Lock()
	a, ok := v.cache[key]
	v.mu.Unlock()
	if ok {
		return a
	}
	a = p.buildWith(Postgres, sql, v)
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
