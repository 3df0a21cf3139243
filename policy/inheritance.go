package policy

import "strings"

// Inheritance: a Postgres partition or inheritance child holds rows of its
// parent, readable under the child's own name (SELECT email FROM
// users_2026), which a mask naming the parent does not match. The engine
// reads pg_inherits with the views, and a child takes its ancestors'
// masks as well as its own. Children created through the gateway are
// judged at creation (schema_change.go): the snapshot is up to 30 s old.

// ParentDef is one pg_inherits row: a child table and its parent.
type ParentDef struct {
	Schema, Name             string
	ParentSchema, ParentName string
}

// maxInheritDepth bounds a chain of parents (and a cycle, which Postgres
// forbids but a snapshot need not prove).
const maxInheritDepth = 16

// WithParents adds the database's inheritance to the snapshot.
func (v *Views) WithParents(ps []ParentDef) *Views {
	if v.parents == nil {
		v.parents = map[string][]tableRef{}
	}
	for _, p := range ps {
		child := tableRef{schema: strings.ToLower(p.Schema), name: strings.ToLower(p.Name)}
		parent := tableRef{schema: strings.ToLower(p.ParentSchema), name: strings.ToLower(p.ParentName)}
		// Unqualified names resolve through search_path, which the
		// gateway does not track: a bare name takes every schema's parents.
		for _, key := range []string{child.String(), child.name} {
			v.parents[key] = append(v.parents[key], parent)
		}
	}
	return v
}

// parentsOf is t's direct parents in the snapshot.
func (v *Views) parentsOf(t tableRef) []tableRef {
	if v == nil || v.parents == nil {
		return nil
	}
	return v.parents[t.String()]
}

// ancestorTaint is the taint column col of t takes from its ancestors
// (whole: any column, for a whole-row reference).
func (l *lineage) ancestorTaint(t tableRef, col string, whole bool, depth int) taint {
	if depth >= maxInheritDepth {
		return taint{}
	}
	var out taint
	for _, p := range l.views.parentsOf(t) {
		if whole {
			out = out.join(l.ownWholeRow(p)).join(l.ancestorTaint(p, col, true, depth+1))
		} else {
			out = out.join(l.ownColumn(p, col)).join(l.ancestorTaint(p, col, false, depth+1))
		}
	}
	if out.masked() {
		out.src = t.String() + "." + col + " (a child of " + out.src + ")"
		if whole {
			out.src = t.String() + ".* (a child of a masked table)"
		}
	}
	return out
}
