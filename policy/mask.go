package policy

import (
	"hash"
	"strings"
)

// ResultMask is a statement text's masking plan. It is immutable and shared
// by every execution of the same (or literal-equivalent) text.
type ResultMask struct {
	lin    *lineage
	plans  []*outPlan  // one per row-returning statement, in order
	all    *maskMethod // lineage unknown: mask every column with this
	detect *detectPlan
	key    []byte
}

// CopyDescribe is, for a text that is one COPY ... TO STDOUT whose
// columns the masks can only tell apart by name, a SELECT with the same
// output columns. COPY's response names no columns, so without it every
// column that might be masked is; an engine that can, describes this
// statement first and passes the names to Columns. "" = not needed.
func (m *ResultMask) CopyDescribe() string {
	if m == nil || m.all != nil || len(m.plans) != 1 {
		return ""
	}
	return m.plans[0].describe
}

// Columns binds the plan to one result set's columns; call it once per
// result set (RowDescription / column definitions). nil = nothing to mask,
// and a nil *RowMasker is safe to call.
//
// A text with several row-returning statements is masked conservatively: a
// column is masked when the plan of any of them masks that position/name.
//
// With no fields at all (a result nobody described) nothing can be lined
// up: when columns could be masked every value becomes NULL, which is
// type-correct for any column; a detectors-only plan scans every value.
func (m *ResultMask) Columns(fields []Field) *RowMasker {
	if m == nil {
		return nil
	}
	if len(fields) == 0 {
		return m.undescribed()
	}
	methods := make([]*maskMethod, len(fields))
	srcs := make([]string, len(fields))
	any := false
	if m.all != nil {
		for i := range fields {
			methods[i], srcs[i] = m.all, "unknown lineage"
		}
		any = true
	} else {
		for _, p := range m.plans {
			if !m.lin.bind(p, fields, methods, srcs) {
				// The result does not line up with the plan: mask what
				// we cannot prove clean, i.e. everything.
				for i := range fields {
					if methods[i] == nil {
						methods[i], srcs[i] = redactMethod, "unknown lineage"
					}
				}
			}
		}
		for _, mm := range methods {
			any = any || mm != nil
		}
	}
	rm := &RowMasker{fields: fields}
	if any {
		for i, mm := range methods {
			if mm == nil {
				continue
			}
			rm.cols = append(rm.cols, maskedCol{idx: i, m: mm})
			name := fields[i].Name
			if name == "" {
				name = srcs[i] // COPY gives no names: record where it came from
			}
			rm.names = append(rm.names, name)
			rm.hashing = rm.hashing || mm.kind == methodHash
		}
	}
	if m.detect != nil {
		for i := range fields {
			f := &fields[i]
			if (f.Type == TypeText || (f.Type == TypeJSON && !f.Binary)) && methods[i] == nil {
				rm.detectCols = append(rm.detectCols, i)
			}
		}
		if len(rm.detectCols) > 0 {
			rm.detect = m.detect
			rm.hashing = rm.hashing || m.detect.hashes()
		}
	}
	if len(rm.cols) == 0 && rm.detect == nil {
		return nil
	}
	if rm.hashing {
		rm.h = newHMAC(m.key)
	}
	return rm
}

// undescribed is the masker for rows whose columns we were not told.
func (m *ResultMask) undescribed() *RowMasker {
	rm := &RowMasker{}
	if m.all != nil || plansMayMask(m.lin, m.plans) {
		rm.nullAll = true
		rm.names = []string{"*"}
		return rm
	}
	if m.detect == nil {
		return nil
	}
	rm.detect = m.detect
	rm.detectAll = true
	if m.detect.hashes() {
		rm.h = newHMAC(m.key)
	}
	return rm
}

// bind marks the fields a plan masks (ORing into methods). It returns false
// when the result's width cannot match the plan.
func (l *lineage) bind(p *outPlan, fields []Field, methods []*maskMethod, srcs []string) bool {
	first, last := -1, -1
	for i, c := range p.cols {
		if c.star != nil {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	set := func(i int, t taint) {
		if !t.masked() || methods[i] != nil {
			return
		}
		mm := t.m
		if t.unknown || mm == nil {
			mm = redactMethod
		} else if t.derived {
			mm = mm.forDerived()
		}
		methods[i], srcs[i] = mm, t.src
	}
	if first < 0 {
		if len(fields) != len(p.cols) {
			return false
		}
		for i, c := range p.cols {
			set(i, c.taint)
		}
		return true
	}
	suffix := len(p.cols) - last - 1
	if len(fields) < first+suffix {
		return false
	}
	for i := 0; i < first; i++ {
		set(i, p.cols[i].taint)
	}
	for k := 0; k < suffix; k++ {
		set(len(fields)-suffix+k, p.cols[last+1+k].taint)
	}
	// The middle holds the stars (and any fixed columns between them):
	// match by name against everything that may have produced it.
	mid := p.cols[first : last+1]
	for i := first; i < len(fields)-suffix; i++ {
		name := strings.ToLower(fields[i].Name)
		var t taint
		for _, c := range mid {
			if c.star != nil && name == "" {
				// No name to go by (COPY reports none): any column of
				// these tables may be the masked one.
				t = t.join(l.outColWhole(c))
			} else if c.star != nil {
				t = t.join(l.anyColumn(c.star.tables, name)).join(c.star.extra)
			} else if c.name == name || c.name == "" {
				t = t.join(c.taint)
			}
		}
		if t.masked() {
			if t.src == "" {
				t.src = name
			}
			// A plain star column keeps its configured method.
			set(i, t)
		}
	}
	return true
}

// RowMasker masks the rows of one result set. It is not safe for concurrent
// use (one per result set, on the relay goroutine).
type RowMasker struct {
	fields     []Field
	cols       []maskedCol
	names      []string
	detect     *detectPlan
	detectCols []int
	hashing    bool
	h          hash.Hash
	nullAll    bool // no description: every value becomes NULL
	detectAll  bool // no description: detectors scan every value

	// Reused per row so MaskRow does not allocate for clean columns.
	spans    []taggedSpan
	tmp      []span
	hitNames []string
	arena    []byte // masked values of the current row
	copyRaw  [][]byte
	copyVals [][]byte
	copyOrig [][]byte
	copyBuf  []byte
}

type maskedCol struct {
	idx int
	m   *maskMethod
}

// MaskedColumns names the columns masked by plan (before content detectors).
func (r *RowMasker) MaskedColumns() []string {
	if r == nil {
		return nil
	}
	return r.names
}

// MaskRow replaces values in place (nil = SQL NULL) and returns the names of
// the masked columns for the record. Replacement values are shared
// constants or live in the masker's buffer: write them out before the next
// call and never modify them. The returned names are valid until the next
// call too. A row shorter than the fields is masked as far as it
// goes.
func (r *RowMasker) MaskRow(values [][]byte) []string {
	if r == nil {
		return nil
	}
	if r.nullAll {
		for i := range values {
			values[i] = nil
		}
		return r.names
	}
	r.arena = r.arena[:0]
	for _, c := range r.cols {
		if c.idx < len(values) && values[c.idx] != nil {
			values[c.idx] = c.m.apply(&r.fields[c.idx], values[c.idx], r.h, &r.arena)
		}
	}
	if r.detect == nil {
		return r.names
	}
	names := r.names
	hit := false
	cols := r.detectCols
	if r.detectAll {
		cols = r.allCols(len(values))
	}
	for _, i := range cols {
		if i >= len(values) || len(values[i]) == 0 {
			continue
		}
		r.spans, r.tmp = r.detect.scan(r.spans[:0], values[i], r.tmp)
		if len(r.spans) == 0 {
			continue
		}
		values[i] = r.detect.replaceSpans(values[i], r.spans, r.h)
		if !hit {
			r.hitNames = append(r.hitNames[:0], r.names...)
			hit = true
		}
		name := "?"
		if i < len(r.fields) {
			name = r.fields[i].Name
		}
		r.hitNames = append(r.hitNames, name)
	}
	if hit {
		names = r.hitNames
	}
	return names
}

// allCols is 0..n-1, kept between rows.
func (r *RowMasker) allCols(n int) []int {
	for len(r.detectCols) < n {
		r.detectCols = append(r.detectCols, len(r.detectCols))
	}
	return r.detectCols[:n]
}

// ColumnPlan is one output column as the masks plan it, for people
// checking a policy (sluice check): Name "" when the statement does not
// say; Star for a * whose columns are masked by name when the result is
// described; Method the mask ("" = clean); Source the masked column or
// "unknown lineage".
type ColumnPlan struct {
	Name   string `json:"name,omitempty"`
	Star   bool   `json:"star,omitempty"`
	Method string `json:"method,omitempty"`
	Source string `json:"source,omitempty"`
}

// Plan is what the masks plan for each output column of the text's
// row-returning statements, before any result is seen.
func (m *ResultMask) Plan() []ColumnPlan {
	if m == nil {
		return nil
	}
	var out []ColumnPlan
	for _, p := range m.plans {
		for _, c := range p.cols {
			cp := ColumnPlan{Name: c.name, Star: c.star != nil}
			t := c.taint
			if c.star != nil {
				t = m.lin.outColWhole(c)
			}
			if m.all != nil {
				t = taint{unknown: true, src: "unknown lineage"}
			}
			if t.masked() {
				mm := t.m
				switch {
				case t.unknown || mm == nil:
					mm = redactMethod
				case t.derived && c.star == nil:
					mm = mm.forDerived()
				}
				cp.Method, cp.Source = mm.kind.String(), t.src
			}
			out = append(out, cp)
		}
	}
	return out
}
