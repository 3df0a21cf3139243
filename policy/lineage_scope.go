package policy

// Scopes and column resolution shared by the Postgres and MySQL lineage.

// relation is one relation visible in a FROM scope.
type relation struct {
	alias   string    // name that qualifies its columns (alias or table name)
	base    *tableRef // a base table (columns unknown to us)
	renamed bool      // base table with column aliases: FROM users u(a, b)
	cols    []outCol  // subquery / CTE / VALUES: known columns
	fn      bool      // function or table function: columns carry extra
	extra   taint
}

// scope is one query level's FROM relations and WITH queries.
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

// tableScope is a scope of one base table under its own name: what a
// DDL statement's expressions (a CHECK, an index, a generated column) see.
func tableScope(t tableRef, parent *scope) *scope {
	return &scope{parent: parent, rels: []relation{{alias: t.name, base: &t}}}
}

// with is the scope plus more relations (the left side of a join, for a
// LATERAL right side), without changing the scope itself.
func (s *scope) with(more []relation) *scope {
	if len(more) == 0 {
		return s
	}
	rels := make([]relation, 0, len(s.rels)+len(more))
	return &scope{rels: append(append(rels, s.rels...), more...), parent: s.parent, ctes: s.ctes}
}

// colTaintAll is the taint of any column an outCol may stand for.
func colTaintAll(c outCol) taint {
	if c.star == nil {
		return c.taint
	}
	return c.star.extra
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
