package policy

import (
	"strings"
)

// shells are programs whose -c argument (or stdin) is another command line.
var shells = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true, "ash": true,
	"fish": true, "rbash": true,
}

// optionSpec says which options of a wrapper take a value, so the wrapped
// command is found after them.
type optionSpec struct {
	short string          // short options taking a value: "ug" for -u USER -g GROUP
	long  map[string]bool // long options taking a value (without "--")
	// operands is how many operands come before the wrapped command (timeout's DURATION).
	operands int
}

// simpleWrappers run their operands as a command after options.
var simpleWrappers = map[string]optionSpec{
	"sudo":     {short: "ugCDhprtTU", long: set("user", "group", "host", "prompt", "role", "type", "close-from", "chdir", "command-timeout", "other-user")},
	"doas":     {short: "uC"},
	"nice":     {short: "n", long: set("adjustment")},
	"timeout":  {short: "sk", long: set("signal", "kill-after"), operands: 1},
	"nohup":    {},
	"exec":     {short: "a"},
	"command":  {},
	"builtin":  {},
	"time":     {short: "of", long: set("output", "format")},
	"stdbuf":   {short: "ioe", long: set("input", "output", "error")},
	"ionice":   {short: "cnpPu", long: set("class", "classdata", "pid", "pgid", "uid")},
	"chroot":   {long: set("userspec", "groups"), operands: 1},
	"setsid":   {},
	"chrt":     {operands: 1},
	"taskset":  {operands: 1},
	"flock":    {short: "wE", long: set("timeout", "conflict-exit-code"), operands: 1},
	"watch":    {short: "nd", long: set("interval", "differences")},
	"strace":   {short: "eoOpPsSuU"},
	"unbuffer": {},
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// unwrap adds the commands a wrapper runs.
func (cw *commandWalker) unwrap(cmd SimpleCommand, depth int) error {
	name := cmd.Name()
	if name == "" {
		return nil
	}
	if spec, ok := simpleWrappers[name]; ok {
		return cw.addInner(afterOptions(cmd.Args[1:], spec), depth)
	}
	switch {
	case shells[name]:
		return cw.unwrapShell(cmd.Args[1:], depth)
	case name == "env":
		return cw.unwrapEnv(cmd.Args[1:], depth)
	case name == "xargs":
		inner := afterOptions(cmd.Args[1:], optionSpec{short: "aEdILnPs", long: set("arg-file", "eof", "delimiter", "max-lines", "max-args", "max-procs", "max-chars", "process-slot-var")})
		if len(inner) == 0 {
			return nil // xargs alone runs echo
		}
		// xargs appends arguments read from stdin: unknown here.
		return cw.addInner(append(inner, Word{Dynamic: true}), depth)
	case name == "eval":
		return cw.parseWords(cmd.Args[1:], depth)
	case name == "su":
		return cw.unwrapSu(cmd.Args[1:], depth)
	case name == "find":
		return cw.unwrapFind(cmd.Args[1:], depth)
	}
	return nil
}

// addInner adds a wrapped argv as a command (itself possibly a wrapper).
func (cw *commandWalker) addInner(args []Word, depth int) error {
	if len(args) == 0 {
		return nil
	}
	if depth+1 > maxCommandNesting {
		return cw.parse("", depth+1) // reports the nesting error
	}
	return cw.add(SimpleCommand{Args: args}, depth+1)
}

// parseWords parses words joined by spaces as a command line (eval, su -c).
func (cw *commandWalker) parseWords(args []Word, depth int) error {
	parts := make([]string, len(args))
	for i, a := range args {
		if a.Dynamic {
			return cw.add(dynamicCommand, depth)
		}
		parts[i] = a.Text
	}
	return cw.parse(strings.Join(parts, " "), depth+1)
}

// afterOptions skips a wrapper's options (and its fixed operands) and
// returns the wrapped argv. A dynamic word ends the options: it may be the
// command itself.
func afterOptions(args []Word, spec optionSpec) []Word {
	i := 0
	for i < len(args) {
		a := args[i]
		if a.Dynamic || !strings.HasPrefix(a.Text, "-") || a.Text == "-" {
			break
		}
		i++
		if a.Text == "--" {
			break
		}
		if long, ok := strings.CutPrefix(a.Text, "--"); ok {
			if !strings.Contains(long, "=") && spec.long[long] {
				i++
			}
			continue
		}
		for j := 1; j < len(a.Text); j++ {
			if strings.IndexByte(spec.short, a.Text[j]) >= 0 {
				if j == len(a.Text)-1 {
					i++ // the value is the next word
				}
				break
			}
		}
	}
	i += spec.operands
	if i >= len(args) {
		return nil
	}
	return args[i:]
}

// unwrapShell parses the script of sh -c 'script' (options may be clustered: -lc, -xec).
func (cw *commandWalker) unwrapShell(args []Word, depth int) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.Dynamic {
			return cw.add(dynamicCommand, depth) // an option we cannot see could be -c
		}
		if a.Text == "--" || !strings.HasPrefix(a.Text, "-") && !strings.HasPrefix(a.Text, "+") {
			return nil // a script file or stdin: not visible here
		}
		if long, ok := strings.CutPrefix(a.Text, "--"); ok {
			if long == "rcfile" || long == "init-file" {
				i++
			}
			continue
		}
		if strings.ContainsAny(a.Text[1:], "oO") && !strings.Contains(a.Text[1:], "c") {
			i++ // -o OPTION
			continue
		}
		if strings.Contains(a.Text[1:], "c") {
			// The script is the first operand after the options.
			for j := i + 1; j < len(args); j++ {
				s := args[j]
				if !s.Dynamic && strings.HasPrefix(s.Text, "-") && s.Text != "-" {
					continue
				}
				if s.Dynamic {
					return cw.add(dynamicCommand, depth)
				}
				return cw.parse(s.Text, depth+1)
			}
			return nil
		}
	}
	return nil
}

// unwrapEnv skips env's options and NAME=VALUE words; -S splits a string into a command.
func (cw *commandWalker) unwrapEnv(args []Word, depth int) error {
	i := 0
	for i < len(args) {
		a := args[i]
		if a.Dynamic {
			break
		}
		if a.Text == "--" {
			i++
			break
		}
		if a.Text == "-S" || a.Text == "--split-string" || strings.HasPrefix(a.Text, "--split-string=") || strings.HasPrefix(a.Text, "-S") {
			script, rest := a.Text, args[i+1:]
			switch {
			case a.Text == "-S" || a.Text == "--split-string":
				if len(rest) == 0 {
					return nil
				}
				if rest[0].Dynamic {
					return cw.add(dynamicCommand, depth)
				}
				script, rest = rest[0].Text, rest[1:]
			case strings.HasPrefix(a.Text, "--split-string="):
				script = strings.TrimPrefix(a.Text, "--split-string=")
			default:
				script = strings.TrimPrefix(a.Text, "-S")
			}
			return cw.parseWords(append([]Word{{Text: script}}, rest...), depth)
		}
		if strings.HasPrefix(a.Text, "-") && a.Text != "-" {
			i++
			if a.Text == "-u" || a.Text == "-C" || a.Text == "--unset" || a.Text == "--chdir" {
				i++
			}
			continue
		}
		if isAssignment(a.Text) {
			i++
			continue
		}
		break
	}
	if i >= len(args) {
		return nil
	}
	return cw.addInner(args[i:], depth)
}

func isAssignment(s string) bool {
	name, _, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return false
	}
	for i, c := range name {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// unwrapSu parses su -c 'command'.
func (cw *commandWalker) unwrapSu(args []Word, depth int) error {
	for i, a := range args {
		switch {
		case a.Dynamic:
			continue
		case a.Text == "-c" || a.Text == "--command":
			if i+1 < len(args) {
				return cw.parseWords(args[i+1:i+2], depth)
			}
		case strings.HasPrefix(a.Text, "--command="):
			return cw.parseWords([]Word{{Text: strings.TrimPrefix(a.Text, "--command=")}}, depth)
		}
	}
	return nil
}

// unwrapFind adds the commands of find's -exec, -execdir, -ok and -okdir;
// {} is a file name known only at run time.
func (cw *commandWalker) unwrapFind(args []Word, depth int) error {
	for i := 0; i < len(args); i++ {
		switch args[i].Text {
		case "-exec", "-execdir", "-ok", "-okdir":
		default:
			continue
		}
		var inner []Word
		j := i + 1
		for ; j < len(args); j++ {
			t := args[j]
			if !t.Dynamic && (t.Text == ";" || t.Text == "+") {
				break
			}
			if !t.Dynamic && strings.Contains(t.Text, "{}") {
				t = Word{Text: t.Text[:strings.Index(t.Text, "{}")], Dynamic: true}
			}
			inner = append(inner, t)
		}
		if err := cw.addInner(inner, depth); err != nil {
			return err
		}
		i = j
	}
	return nil
}
