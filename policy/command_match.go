package policy

import (
	"fmt"
	"slices"
	"strings"
)

// CommandRule is one compiled shell-command rule, in policy order.
type CommandRule struct {
	Name    string
	Action  Action
	Message string
	// Patterns are command patterns such as "rm -rf *"; any one matching is enough.
	Patterns []string
	// Targets, Identities, Groups limit whom the rule applies to; empty = anyone.
	Targets, Identities, Groups []string
}

// flagAliases normalise a command's spelled-out or upper-case flags to the
// short flag they mean, so "rm --recursive --force" is "rm -rf".
var flagAliases = map[string]map[string]string{
	"rm":    {"R": "r", "--recursive": "r", "--force": "f", "--dir": "d", "--interactive": "i", "--verbose": "v"},
	"cp":    {"R": "r", "--recursive": "r", "--force": "f", "--archive": "a"},
	"mv":    {"--force": "f"},
	"chmod": {"--recursive": "R"},
	"chown": {"--recursive": "R"},
	"chgrp": {"--recursive": "R"},
	"git":   {"--force": "f"},
}

// positionalOptions are commands whose "-word" arguments are order-sensitive
// expressions rather than flags: they are matched as operands.
var positionalOptions = map[string]bool{"find": true}

// argvShape is an argv split into program, normalised flags and operands.
type argvShape struct {
	program Word
	name    string
	flags   map[string]bool
	// flagWild is true when a dynamic word could carry any flags.
	flagWild bool
	operands []Word
}

func shapeOf(args []Word) argvShape {
	s := argvShape{flags: map[string]bool{}}
	if len(args) == 0 {
		return s
	}
	s.program = args[0]
	if !args[0].Dynamic {
		s.name = baseProgram(args[0].Text)
	}
	aliases := flagAliases[s.name]
	norm := func(f string) string {
		if a, ok := aliases[f]; ok {
			return a
		}
		return f
	}
	endOfFlags := positionalOptions[s.name]
	for _, a := range args[1:] {
		switch {
		case endOfFlags:
			s.operands = append(s.operands, a)
		case a.Dynamic:
			if a.Text == "" || (strings.HasPrefix(a.Text, "-") && !strings.HasPrefix(a.Text, "--")) {
				s.flagWild = true
			}
			s.operands = append(s.operands, a)
		case a.Text == "--":
			endOfFlags = true
		case strings.HasPrefix(a.Text, "--"):
			long, _, _ := strings.Cut(a.Text, "=")
			s.flags[norm(long)] = true
		case strings.HasPrefix(a.Text, "-") && len(a.Text) > 1:
			for _, c := range a.Text[1:] {
				s.flags[norm(string(c))] = true
			}
		default:
			s.operands = append(s.operands, a)
		}
	}
	return s
}

func baseProgram(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 && i < len(p)-1 {
		return p[i+1:]
	}
	return p
}

// parsePattern reads a rule pattern: words split on blanks, each a glob.
func parsePattern(pattern string) argvShape {
	fields := strings.Fields(pattern)
	words := make([]Word, len(fields))
	for i, f := range fields {
		words[i] = Word{Text: f}
	}
	return shapeOf(words)
}

// MatchCommand reports whether cmd may match a rule pattern such as
// "rm -rf *": the program by base name (or by path when the pattern names
// one), every flag of the pattern present in any spelling (-rf, -r -f, -fr,
// --recursive --force), and the pattern's operands, each a shell glob where *
// also matches "/", matching the command's operands in order (others may sit
// between; a trailing lone * also matches no operand). A word known only at run time may be anything that starts with
// its static prefix, so it may match: this is what block and review rules
// need. Allow rules need a certain match (see decideCommand).
func MatchCommand(pattern string, cmd SimpleCommand) bool {
	may, _ := matchShape(parsePattern(pattern), shapeOf(cmd.Args))
	return may
}

// matchShape reports whether the command may match the pattern and whether it surely does.
func matchShape(pat, cmd argvShape) (may, certain bool) {
	if pat.program.Text == "" {
		return false, false
	}
	certain = true
	if cmd.program.Dynamic {
		if !globMatch(pat.program.Text, cmd.program.Text, true) && !globMatch(pat.name, cmd.program.Text, true) {
			return false, false
		}
		certain = false
	} else {
		subject := cmd.name
		if strings.Contains(pat.program.Text, "/") {
			subject = cmd.program.Text
		}
		if !globMatch(pat.program.Text, subject, false) {
			return false, false
		}
	}
	for f := range pat.flags {
		if !cmd.flags[f] {
			if !cmd.flagWild {
				return false, false
			}
			certain = false
		}
	}
	if !operandsMatch(pat.operands, cmd.operands, true) {
		return false, false
	}
	certain = certain && operandsMatch(pat.operands, cmd.operands, false)
	return true, certain
}

// operandsMatch matches pattern operands against a subsequence of the
// command's operands, in order. Greedy earliest matching is optimal for a
// subsequence. Dynamic operands count only when allowDynamic.
func operandsMatch(pats, ops []Word, allowDynamic bool) bool {
	// A lone trailing "*" means "any arguments", none included: "ls *" matches "ls".
	if n := len(pats); n > 0 && pats[n-1].Text == "*" {
		pats = pats[:n-1]
	}
	i := 0
	for _, op := range ops {
		if i == len(pats) {
			break
		}
		if op.Dynamic && !allowDynamic {
			continue
		}
		if globMatch(pats[i].Text, op.Text, op.Dynamic) {
			i++
		}
	}
	return i == len(pats)
}

// globMatch matches a shell glob (*, ?, [...], \ escapes) against text. *
// matches any sequence, "/" included. With prefix, text is only the start of
// the value: running out of text is a match, since the rest is unknown.
func globMatch(pattern, text string, prefix bool) bool {
	p, t := 0, 0
	starP, starT := -1, 0
	for {
		if t == len(text) && prefix {
			return true
		}
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starT = p, t
				p++
				continue
			case '?':
				if t < len(text) {
					p++
					t++
					continue
				}
			case '[':
				if t < len(text) {
					if ok, next, valid := matchClass(pattern, p, text[t]); valid && ok {
						p, t = next, t+1
						continue
					} else if !valid && text[t] == '[' {
						p, t = p+1, t+1
						continue
					}
				}
			default:
				if c == '\\' && p+1 < len(pattern) {
					c = pattern[p+1]
					if t < len(text) && text[t] == c {
						p, t = p+2, t+1
						continue
					}
				} else if t < len(text) && text[t] == c {
					p++
					t++
					continue
				}
			}
		} else if t == len(text) {
			return true
		}
		if starP < 0 || starT >= len(text) {
			return false
		}
		starT++
		p, t = starP+1, starT
	}
}

// matchClass matches one byte against the class starting at pattern[p] == '['.
// valid is false for an unterminated class (then '[' is a literal).
func matchClass(pattern string, p int, b byte) (ok bool, next int, valid bool) {
	i := p + 1
	negate := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(pattern) {
		c := pattern[i]
		if c == ']' && !first {
			return ok != negate, i + 1, true
		}
		first = false
		if c == '\\' && i+1 < len(pattern) {
			i++
			c = pattern[i]
		}
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			if c <= b && b <= pattern[i+2] {
				ok = true
			}
			i += 3
			continue
		}
		if c == b {
			ok = true
		}
		i++
	}
	return false, 0, false
}

// severity orders actions: a line is as severe as its most severe command.
func severity(a Action) int {
	switch a {
	case Block:
		return 2
	case Review:
		return 1
	default:
		return 0
	}
}

// decideCommand judges a command line: every simple command in it is judged
// by the first rule that matches it (or the default), and the line gets the
// most severe of those decisions. Block and review rules match what a
// command may be; allow rules only what it surely is, so a dynamic word can
// never make an allow rule wave a command through. A line that cannot be
// parsed gets the unparseable action.
func decideCommand(rules []CommandRule, def, unparseable Action, sub Subject, cmdline string) Decision {
	cmds, err := ParseCommand(cmdline)
	if err != nil {
		return Decision{Action: unparseable, Message: fmt.Sprintf(
			"sluice could not parse this command line, and the policy treats unparseable commands as %s", unparseable)}
	}
	type compiled struct {
		rule     *CommandRule
		patterns []argvShape
	}
	var applicable []compiled
	for i := range rules {
		r := &rules[i]
		if !commandRuleApplies(r, &sub) {
			continue
		}
		c := compiled{rule: r}
		for _, p := range r.Patterns {
			c.patterns = append(c.patterns, parsePattern(p))
		}
		applicable = append(applicable, c)
	}
	best := Decision{Action: Allow}
	for _, cmd := range cmds {
		shape := shapeOf(cmd.Args)
		d := Decision{Action: def}
		if def != Allow {
			d.Message = fmt.Sprintf("command %q is not allowed by the policy default (%s)", cmd.String(), def)
		}
	rules:
		for _, c := range applicable {
			for _, p := range c.patterns {
				may, certain := matchShape(p, shape)
				if certain || (may && c.rule.Action != Allow) {
					d = Decision{Action: c.rule.Action, Rule: c.rule.Name, Message: commandMessage(c.rule, cmd)}
					break rules
				}
			}
		}
		if severity(d.Action) > severity(best.Action) || (best.Rule == "" && d.Rule != "" && d.Action == best.Action) {
			best = d
		}
	}
	return best
}

func commandMessage(r *CommandRule, cmd SimpleCommand) string {
	if r.Message != "" {
		return r.Message
	}
	switch r.Action {
	case Block:
		return fmt.Sprintf("command %q blocked by sluice policy rule %q", cmd.String(), r.Name)
	case Review:
		return fmt.Sprintf("command %q held for review by sluice policy rule %q", cmd.String(), r.Name)
	default:
		return ""
	}
}

func commandRuleApplies(r *CommandRule, sub *Subject) bool {
	if len(r.Targets) > 0 && !slices.Contains(r.Targets, sub.Target) {
		return false
	}
	if len(r.Identities) > 0 && !slices.Contains(r.Identities, sub.Identity) {
		return false
	}
	if len(r.Groups) > 0 && !slices.ContainsFunc(sub.Groups, func(g string) bool { return slices.Contains(r.Groups, g) }) {
		return false
	}
	return true
}
