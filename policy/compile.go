package policy

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/sluice-gw/sluice/config"
)

// Policy is one compiled named policy. It is safe for concurrent use; a nil
// *Policy allows everything and masks nothing.
type Policy struct {
	name        string
	defAction   Action
	unparseable Action
	lineage     Action // Allow = mask what cannot be proven clean; Block = refuse the statement
	// maskedFilters: refuse statements that filter, join, group or sort on
	// a masked column (probe.go).
	maskedFilters bool
	rules         []*rule
	// commands are the rules with a `command` condition, in order, for the
	// shell-command judge (command*.go).
	commands []CommandRule
	// forwards are the rules with a `forward` condition, in order (forward.go).
	forwards []forwardRule
	hasRegex bool
	colRules []colRule
	// schemaMasks: some column mask names a schema, so resolving a MySQL
	// unqualified name against the current database changes what it masks.
	schemaMasks bool
	detect      *detectPlan
	hashKey     []byte
	cache       [2]dialectCache // indexed by Dialect
	dbCache     dbCaches        // MySQL analyses per current database (schemaMasks)
}

// rule is one compiled policy rule.
type rule struct {
	name    string
	action  Action
	message string

	targets, identities, groups []string // nil = any

	sqlPart      bool // some statement condition is set
	commandOnly  bool // a shell rule: never matches SQL
	kinds        map[string]bool
	withoutWhere bool
	copyProgram  bool
	tables       []namePattern
	functions    []namePattern
	regex        *regexp.Regexp
}

// namePattern is a possibly qualified glob: "users", "app.users", "audit.*".
type namePattern struct {
	qual string // "" = any qualifier
	name string
}

// kindAliases are rule words that stand for several statement kinds.
var kindAliases = map[string][]string{
	"ddl":         {"create", "alter", "drop", "truncate", "comment", "rename"},
	"write":       {"insert", "update", "delete", "merge", "truncate", "copy"},
	"transaction": {"transaction"},
}

// knownKinds is the statement vocabulary shared by both dialects.
var knownKinds = []string{
	"select", "insert", "update", "delete", "merge", "create", "alter", "drop",
	"truncate", "grant", "revoke", "copy", "call", "do", "set", "reset", "show",
	"transaction", "explain", "vacuum", "analyze", "prepare", "execute",
	"deallocate", "listen", "notify", "unlisten", "lock", "declare", "fetch",
	"close", "discard", "reindex", "cluster", "checkpoint", "comment", "rename",
	"refresh", "load", "use", "kill", "other", "unparseable",
}

func parseAction(s string, def Action) (Action, bool) {
	switch s {
	case "":
		return def, true
	case "allow":
		return Allow, true
	case "block":
		return Block, true
	case "review":
		return Review, true
	}
	return Allow, false
}

// compilePolicy turns a config policy into matchers. It does not trust that
// config.Validate ran: every value is checked again and errors name the key.
func compilePolicy(name string, pc config.Policy) (*Policy, error) {
	key := "policies." + name
	p := &Policy{name: name, hashKey: []byte(pc.HashKey.Reveal())}
	var ok bool
	if p.defAction, ok = parseAction(pc.Default, Allow); !ok || p.defAction == Review {
		return nil, fmt.Errorf("%s.default: %q is not allow or block", key, pc.Default)
	}
	switch pc.Lineage {
	case "", "mask":
		p.lineage = Allow
	case "block":
		p.lineage = Block
	default:
		return nil, fmt.Errorf("%s.lineage: %q is not mask or block", key, pc.Lineage)
	}
	switch pc.MaskedFilters {
	case "", "allow":
	case "block":
		p.maskedFilters = true
	default:
		return nil, fmt.Errorf("%s.masked_filters: %q is not allow or block", key, pc.MaskedFilters)
	}
	strict := false
	for i, rc := range pc.Rules {
		r, err := compileRule(fmt.Sprintf("%s.rules[%d]", key, i), rc)
		if err != nil {
			return nil, err
		}
		if r.action != Allow {
			strict = true
		}
		p.hasRegex = p.hasRegex || r.regex != nil
		p.rules = append(p.rules, r)
		if len(rc.When.Forward) > 0 {
			fr, err := compileForward(fmt.Sprintf("%s.rules[%d].when.forward", key, i), r, rc.When.Forward)
			if err != nil {
				return nil, err
			}
			p.forwards = append(p.forwards, fr)
		}
		if len(rc.When.Command) > 0 {
			p.commands = append(p.commands, CommandRule{
				Name: r.name, Action: r.action, Message: rc.Message,
				Patterns: rc.When.Command, Targets: r.targets, Identities: r.identities, Groups: r.groups,
			})
		}
	}
	if p.defAction == Block {
		strict = true
	}
	for i, mc := range pc.Masks {
		mk := fmt.Sprintf("%s.masks[%d]", key, i)
		m, err := compileMethod(mk, mc, p.hashKey)
		if err != nil {
			return nil, err
		}
		if len(mc.Columns) == 0 && len(mc.Detect) == 0 {
			return nil, fmt.Errorf("%s: a mask needs columns or detect", mk)
		}
		for j, c := range mc.Columns {
			cr, err := parseColRule(c, m)
			if err != nil {
				return nil, fmt.Errorf("%s.columns[%d]: %w", mk, j, err)
			}
			p.colRules = append(p.colRules, cr)
			p.schemaMasks = p.schemaMasks || cr.schema != ""
		}
		for j, d := range mc.Detect {
			det, found := detectorByName[d]
			if !found {
				return nil, fmt.Errorf("%s.detect[%d]: unknown detector %q", mk, j, d)
			}
			if p.detect == nil {
				p.detect = &detectPlan{}
			}
			p.detect.add(det, m)
		}
	}
	if len(p.colRules) > 0 {
		p.colRules = append(p.colRules, statementTextRules()...)
	}
	// An unparseable statement is never silently allowed by a policy that
	// blocks or reviews anything, or masks columns (we cannot tell what it
	// reads, or where it copies masked data).
	def := Allow
	if strict || len(p.colRules) > 0 {
		def = Block
	}
	if p.unparseable, ok = parseAction(pc.Unparseable, def); !ok {
		return nil, fmt.Errorf("%s.unparseable: %q is not allow, block or review", key, pc.Unparseable)
	}
	p.cache[Postgres].init()
	p.cache[MySQL].init()
	return p, nil
}

func compileRule(key string, rc config.Rule) (*rule, error) {
	if rc.Name == "" {
		return nil, fmt.Errorf("%s.name: every rule needs a name (it is shown to clients and recorded)", key)
	}
	act, ok := parseAction(rc.Action, Allow)
	if !ok || rc.Action == "" {
		return nil, fmt.Errorf("%s.action: %q is not allow, block or review", key, rc.Action)
	}
	w := rc.When
	r := &rule{
		name: rc.Name, action: act,
		targets: w.Targets, identities: w.Identities, groups: w.Groups,
		withoutWhere: w.WithoutWhere, copyProgram: w.CopyProgram,
	}
	r.message = rc.Message
	if r.message == "" {
		verb := "blocked"
		if act == Review {
			verb = "held for review"
		}
		r.message = fmt.Sprintf("statement %s by sluice policy rule %q", verb, rc.Name)
	}
	if len(w.SQL) > 0 {
		r.kinds = map[string]bool{}
		for j, k := range w.SQL {
			k = strings.ToLower(strings.TrimSpace(k))
			switch {
			case kindAliases[k] != nil:
				for _, a := range kindAliases[k] {
					r.kinds[a] = true
				}
			case k == "grant/revoke":
				r.kinds["grant"], r.kinds["revoke"] = true, true
			case slices.Contains(knownKinds, k):
				r.kinds[k] = true
			default:
				return nil, fmt.Errorf("%s.when.sql[%d]: unknown statement kind %q (known: %s, and ddl, write)", key, j, k, strings.Join(knownKinds, ", "))
			}
		}
	}
	for j, t := range w.Tables {
		np, err := parseNamePattern(t)
		if err != nil {
			return nil, fmt.Errorf("%s.when.tables[%d]: %w", key, j, err)
		}
		r.tables = append(r.tables, np)
	}
	for j, f := range w.Functions {
		np, err := parseNamePattern(f)
		if err != nil {
			return nil, fmt.Errorf("%s.when.functions[%d]: %w", key, j, err)
		}
		r.functions = append(r.functions, np)
	}
	if w.Regex != "" {
		re, err := regexp.Compile(w.Regex)
		if err != nil {
			return nil, fmt.Errorf("%s.when.regex: %w", key, err)
		}
		r.regex = re
	}
	r.sqlPart = r.kinds != nil || r.withoutWhere || r.copyProgram || r.tables != nil || r.functions != nil || r.regex != nil
	// Shell-command and port-forward rules never match SQL statements.
	r.commandOnly = (len(w.Command) > 0 || len(w.Forward) > 0) && !r.sqlPart
	return r, nil
}

func parseNamePattern(s string) (namePattern, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return namePattern{}, fmt.Errorf("empty name")
	}
	np := namePattern{name: s}
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		np.qual, np.name = s[:i], s[i+1:]
	}
	for _, part := range []string{np.qual, np.name} {
		if _, err := path.Match(part, ""); err != nil {
			return namePattern{}, fmt.Errorf("%q is not a valid glob: %w", s, err)
		}
	}
	return np, nil
}

// match reports whether a name as written in a statement ("users",
// "app.users") matches. A pattern with a qualifier also matches the
// unqualified name when its name part is not a glob: search_path can put the
// table anywhere, so we fail closed.
func (np namePattern) match(written string) bool {
	qual, name := "", written
	if i := strings.LastIndexByte(written, '.'); i >= 0 {
		qual, name = written[:i], written[i+1:]
	}
	if ok, _ := path.Match(np.name, name); !ok {
		return false
	}
	if np.qual == "" {
		return true
	}
	if qual == "" {
		return !strings.ContainsAny(np.name, "*?[")
	}
	ok, _ := path.Match(np.qual, qual)
	return ok
}

// matchSubject reports whether the subject part of the rule matches.
func (r *rule) matchSubject(sub *Subject) bool {
	if r.targets != nil && !slices.Contains(r.targets, sub.Target) {
		return false
	}
	if r.identities != nil && !slices.Contains(r.identities, sub.Identity) {
		return false
	}
	if r.groups != nil {
		found := false
		for _, g := range sub.Groups {
			if slices.Contains(r.groups, g) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// matchStatement reports whether the statement part of the rule matches.
func (r *rule) matchStatement(st *StatementInfo, collapsed string) bool {
	if r.kinds != nil {
		hit := r.kinds[st.Kind]
		for _, k := range st.Also {
			hit = hit || r.kinds[k]
		}
		if !hit {
			return false
		}
	}
	if r.withoutWhere && !st.WithoutWhere {
		return false
	}
	if r.copyProgram && !st.CopyProgram {
		return false
	}
	if r.tables != nil && !anyMatch(r.tables, st.Tables) {
		return false
	}
	if r.functions != nil && !anyMatch(r.functions, st.Functions) {
		return false
	}
	if r.regex != nil && !r.regex.MatchString(collapsed) {
		return false
	}
	return true
}

func anyMatch(pats []namePattern, names []string) bool {
	for _, n := range names {
		for _, p := range pats {
			if p.match(n) {
				return true
			}
		}
	}
	return false
}
