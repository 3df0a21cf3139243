package policy

import (
	"fmt"
	"strings"
)

// analysis is everything about a statement text that does not depend on who
// runs it: what each statement is, which rules' statement conditions match,
// and the masking plan. It is cached and shared; never modified once built.
type analysis struct {
	stmts []StatementInfo
	// hits[i*len(rules)+r] says rule r's statement part matches statement i.
	hits         []bool
	mask         *ResultMask
	errs         *ErrorMask
	lineageBlock string // non-empty: refuse, lineage cannot be established
	launder      string // non-empty: refuse unless a rule allows it explicitly
	probe        string // the same, for masked_filters: block
	literalSafe  bool   // the decision does not depend on literal values
}

const unparseableRule = "unparseable"

// CheckSQL judges a SQL text (possibly several statements). Every statement
// is judged; the strictest verdict wins (block > review > allow). It never
// panics and is safe for concurrent use.
func (p *Policy) CheckSQL(d Dialect, sub Subject, sql string) Decision {
	if p == nil {
		return Decision{Action: Allow}
	}
	db := ""
	if d == MySQL {
		db = strings.ToLower(sub.Database)
	}
	a := p.analyze(d, db, sql)
	if sub.Views.Len() > 0 && sub.Views.dialect == d && sub.Views.references(a.stmts) {
		// The text reads a view: lineage goes through its definition.
		a = sub.Views.analyze(p, db, sql)
	}
	return p.decide(a, &sub)
}

func rank(a Action) int {
	switch a {
	case Block:
		return 2
	case Review:
		return 1
	}
	return 0
}

func (p *Policy) decide(a *analysis, sub *Subject) Decision {
	best := Decision{Action: Allow, Mask: a.mask, Errors: a.errs, Statements: a.stmts}
	first := true
	nr := len(p.rules)
	for i := range a.stmts {
		act, ruleName, msg := p.defAction, "", ""
		if a.stmts[i].Kind == unparseableRule {
			act, ruleName = p.unparseable, unparseableRule
		} else {
			for r, ru := range p.rules {
				if a.hits[i*nr+r] && ru.matchSubject(sub) {
					act, ruleName, msg = ru.action, ru.name, ru.message
					break
				}
			}
		}
		if first || rank(act) > rank(best.Action) {
			best.Action, best.Rule, best.Message = act, ruleName, msg
			first = false
		}
	}
	if a.lineageBlock != "" && best.Action != Block {
		best.Action, best.Rule, best.Message = Block, "lineage", a.lineageBlock
	}
	explicitAllow := best.Action == Allow && best.Rule != ""
	if a.launder != "" && best.Action != Block && !explicitAllow {
		best.Action, best.Rule, best.Message = Block, "lineage", a.launder
	}
	if a.probe != "" && best.Action != Block && !explicitAllow {
		best.Action, best.Rule, best.Message = Block, "masked_filters", a.probe
	}
	if best.Message == "" && best.Action != Allow {
		best.Message = p.defaultMessage(best.Action, best.Rule)
	}
	return best
}

// defaultMessage is the client-safe text for the default and unparseable
// verdicts (rules carry their own).
func (p *Policy) defaultMessage(a Action, ruleName string) string {
	switch {
	case ruleName == unparseableRule && a == Block:
		return "statement blocked by sluice: it could not be parsed, and policy \"" + p.name + "\" does not run statements it cannot judge"
	case ruleName == unparseableRule:
		return "statement held for review by sluice: it could not be parsed"
	case a == Block:
		return "statement blocked by sluice policy \"" + p.name + "\" (no rule allows it)"
	}
	return "statement held for review by sluice policy \"" + p.name + "\""
}

// analyze returns the cached analysis of sql, building it on a miss. db is
// the MySQL current database; it only matters (and only splits the cache)
// when a column mask names a schema.
func (p *Policy) analyze(d Dialect, db, sql string) *analysis {
	if d != MySQL {
		d, db = Postgres, ""
	}
	if !p.schemaMasks {
		db = ""
	}
	c := &p.cache[d]
	if db != "" {
		c = p.dbCache.get(db)
	}
	if a := c.exact.get(sql); a != nil {
		return a
	}
	cacheable := len(sql) <= maxCachedText
	var nkey string
	if cacheable && !p.hasRegex {
		if k, ok := normalizeKey(make([]byte, 0, len(sql)), sql, d); ok {
			nkey = string(k)
			if a := c.norm.get(nkey); a != nil {
				return a
			}
		}
	}
	a := p.buildWith(d, db, sql, nil)
	if cacheable {
		// The caller's string may alias a reused buffer: keep a copy.
		c.exact.put(strings.Clone(sql), a)
		if nkey != "" && a.literalSafe {
			c.norm.put(nkey, a)
		}
	}
	return a
}

// classify parses with the dialect's parser; a panic inside it is an error.
func classify(d Dialect, sql string, lin *lineage) (stmts []parsedStmt, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmts, err = nil, fmt.Errorf("classifying statement panicked: %v", r)
		}
	}()
	if strings.IndexByte(sql, 0) >= 0 {
		// The C parser stops at NUL; the server may not: never judge half a text.
		return nil, fmt.Errorf("statement text contains a NUL byte")
	}
	if d == MySQL {
		if stmts, err = classifyMySQL(sql, lin); err != nil {
			return nil, err
		}
		return append(stmts, mysqlAlternates(sql, lin)...), nil
	}
	if stmts, err = classifyPG(sql, lin); err != nil {
		return nil, err
	}
	return append(stmts, pgAlternates(sql, lin)...), nil
}

// build analyses a text from scratch.
func (p *Policy) build(d Dialect, sql string) *analysis { return p.buildWith(d, "", sql, nil) }

// buildWith analyses a text with the MySQL current database db ("" =
// unknown) and the database's views (nil: none known).
func (p *Policy) buildWith(d Dialect, db, sql string, views *Views) *analysis {
	lin := &lineage{rules: p.colRules, views: views, db: db, filters: p.maskedFilters && len(p.colRules) > 0}
	parsed, err := classify(d, sql, lin)
	if err != nil {
		parsed = []parsedStmt{{info: StatementInfo{Kind: unparseableRule}, text: sql, unknown: true}}
	}
	a := &analysis{literalSafe: !p.hasRegex && !lin.literalDependent}
	nr := len(p.rules)
	a.hits = make([]bool, len(parsed)*nr)
	a.stmts = make([]StatementInfo, len(parsed))
	unknown := false
	var unknownSrc string
	var plans []*outPlan
	for i := range parsed {
		ps := &parsed[i]
		a.stmts[i] = ps.info
		if ps.info.Kind == "explain" {
			// EXPLAIN (ANALYZE 0) vs (ANALYZE 1): a literal decides.
			a.literalSafe = false
		}
		collapsed := collapseSpace(ps.text)
		for r, ru := range p.rules {
			a.hits[i*nr+r] = !ru.commandOnly && ps.info.Kind != unparseableRule &&
				(!ru.sqlPart || ru.matchStatement(&ps.info, collapsed))
		}
		if ps.unknown {
			unknown, unknownSrc = true, ps.info.Kind
		}
		if ps.out != nil {
			plans = append(plans, ps.out)
			for _, c := range ps.out.cols {
				if t := colTaintAll(c); t.unknown {
					unknown, unknownSrc = true, t.src
				}
			}
		}
	}
	if len(p.colRules) == 0 && p.detect == nil {
		return a
	}
	if lin.launder != "" && len(p.colRules) > 0 {
		a.launder = fmt.Sprintf("statement blocked by sluice policy %q: %s", p.name, lin.launder)
	}
	if lin.probe != "" {
		a.probe = fmt.Sprintf("statement blocked by sluice policy %q: %s", p.name, lin.probe)
	}
	rm := &ResultMask{lin: lin, detect: p.detect, key: p.hashKey}
	if len(p.colRules) > 0 {
		rm.plans = plans
		if unknown {
			if p.lineage == Block {
				a.lineageBlock = fmt.Sprintf("statement blocked by sluice policy %q: it returns data whose origin cannot be checked against the column masks (%s)", p.name, unknownSrc)
			}
			rm.all = redactMethod
		}
	}
	mayMask := plansMayMask(lin, plans)
	if rm.all != nil || rm.detect != nil || mayMask {
		a.mask = rm
	}
	reads, routine := lin.readsMasked(d, parsed)
	values := len(p.colRules) > 0 && (unknown || mayMask || reads)
	if values || p.detect != nil {
		a.errs = &ErrorMask{values: values, routine: values && (unknown || routine), detect: p.detect, key: p.hashKey}
	}
	return a
}

// plansMayMask reports whether any plan can mask anything, so clean
// statements get a nil mask (the engines' fast path).
func plansMayMask(lin *lineage, plans []*outPlan) bool {
	for _, p := range plans {
		for _, c := range p.cols {
			if c.star == nil {
				if c.taint.masked() {
					return true
				}
				continue
			}
			if c.star.extra.masked() {
				return true
			}
			for _, t := range c.star.tables {
				if lin.wholeRow(t).masked() {
					return true
				}
			}
		}
	}
	return false
}

// collapseSpace folds whitespace runs to one space: the text regex rules see.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}
