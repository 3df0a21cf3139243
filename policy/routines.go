package policy

import "strings"

// Functions created in the database outside the gateway hide lineage: a
// statement names only the function, so `SELECT contact_of(1)` would
// return an e-mail the masks never saw. Engines that load the views also
// load the database's functions (WithFuncs); a call to one that may read a
// masked column has unknown lineage. The check is lexical and errs towards
// masking: the identifiers of the function's body (and, through them, of
// the functions and views it names) are compared with the mask rules.

// FuncDef is one function of the database: pg_proc's prosrc as Body (SQL
// or PL/pgSQL source; for a C function, its symbol name), or MySQL's
// ROUTINE_DEFINITION. An empty Body (MySQL shows none without privileges
// on the routine) counts as one that may read anything.
type FuncDef struct {
	Schema, Name string
	Body         string
}

// words is the set of lower-case identifiers in a function body or view
// definition (overloads of a name, or same-named objects in several
// schemas under the bare name, share one set); hidden: a body the
// database did not show.
type words struct {
	set    map[string]struct{}
	hidden bool
}

// WithFuncs adds the database's own functions to a snapshot being built
// (before it is shared).
func (v *Views) WithFuncs(fns []FuncDef) *Views {
	if v.funcs == nil {
		v.funcs = map[string]bool{}
	}
	for _, f := range fns {
		schema, name := strings.ToLower(f.Schema), strings.ToLower(f.Name)
		v.funcs[schema+"."+name] = true
		v.funcs[name] = true
		v.addText(schema, name, stripComments(f.Body, v.dialect), f.Body == "")
	}
	return v
}

// addText records the identifiers of an object's text under both its
// names (the text is read once; the bare name's set merges every schema's).
// hidden: the database did not show the text.
func (v *Views) addText(schema, name, text string, hidden bool) {
	if v.texts == nil {
		v.texts = map[string]*words{}
	}
	ids := map[string]struct{}{}
	addIdentifiers(ids, text)
	for _, key := range []string{schema + "." + name, name} {
		w := v.texts[key]
		if w == nil {
			w = &words{set: map[string]struct{}{}}
			v.texts[key] = w
		}
		w.hidden = w.hidden || hidden
		for id := range ids {
			w.set[id] = struct{}{}
		}
	}
}

// addIdentifiers adds every identifier-like run of text, lower-cased.
func addIdentifiers(set map[string]struct{}, text string) {
	start := -1
	for i := 0; i <= len(text); i++ {
		if i < len(text) && isIdentByte(lowerByte(text[i])) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			set[strings.ToLower(text[start:i])] = struct{}{}
			start = -1
		}
	}
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 0x80
}

// maxRoutineDepth bounds how far a body is followed through the functions
// and views it names.
const maxRoutineDepth = 8

// dbFuncMayReadMasked reports whether name ("schema.name" or "name") is one
// of the database's own functions whose body could read a masked column:
// it names a masked column's table or column (where the rule names one
// rather than a glob), runs dynamic SQL (EXECUTE), was not shown, or names
// a function or view of the database that could, in turn.
func (l *lineage) dbFuncMayReadMasked(name string) bool {
	if l.views == nil || !l.views.funcs[name] {
		return false
	}
	return l.textMayReadMasked(name, map[string]bool{}, 0)
}

func (l *lineage) textMayReadMasked(key string, seen map[string]bool, depth int) bool {
	w := l.views.texts[key]
	if w == nil {
		return false
	}
	if w.hidden || depth >= maxRoutineDepth {
		return true
	}
	seen[key] = true
	if _, ok := w.set["execute"]; ok {
		return true
	}
	if l.namesMasked(w.set) != "" {
		return true
	}
	for id := range w.set {
		if !seen[id] && l.views.texts[id] != nil && l.textMayReadMasked(id, seen, depth+1) {
			return true
		}
	}
	return false
}

// literalPart is a rule part without glob characters, or "".
// namesMasked is the label of the first column mask whose table or
// column is among a text's identifiers ("" = none): the lexical test for
// code the gateway cannot follow.
func (l *lineage) namesMasked(ids map[string]struct{}) string {
	for i := range l.rules {
		cr := &l.rules[i]
		if cr.implicit {
			continue
		}
		table, column := literalPart(cr.table), literalPart(cr.column)
		if table == "" && column == "" {
			return cr.label // a rule of globs only: any body may reach it
		}
		if _, ok := ids[table]; ok && table != "" {
			return cr.label
		}
		if _, ok := ids[column]; ok && column != "" {
			return cr.label
		}
	}
	return ""
}

func literalPart(p string) string {
	if p == "" || strings.ContainsAny(p, "*?[") {
		return ""
	}
	return p
}
