package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Limits that keep a hostile command line from costing unbounded work.
const (
	maxCommandLine     = 64 << 10 // bytes of one command line
	maxCommandNesting  = 8        // bash -c 'sh -c "..."' levels
	maxSimpleCommands  = 4096     // simple commands found in one line
	shellLanguageBashy = syntax.LangBash
)

// ErrUnparseableCommand wraps every reason a command line could not be judged.
var ErrUnparseableCommand = errors.New("command line could not be parsed")

// Word is one argument of a simple command as far as it is known before the
// shell runs. Text holds the word with quotes and escapes resolved. When
// Dynamic is true the word contains something only known at run time (a
// variable, $(...), a glob, ~, a brace expansion) and Text is only its static
// prefix: the word may be anything that starts with Text.
type Word struct {
	Text    string
	Dynamic bool
}

func (w Word) String() string {
	if w.Dynamic {
		return w.Text + "…"
	}
	return w.Text
}

// SimpleCommand is one command the shell would run: a program and its arguments.
type SimpleCommand struct {
	Args []Word
}

// Name is the program's base name ("rm" for "/bin/rm"), or "" when the
// program itself is dynamic.
func (c SimpleCommand) Name() string {
	if len(c.Args) == 0 || c.Args[0].Dynamic {
		return ""
	}
	return path.Base(c.Args[0].Text)
}

// String renders the command for messages and records (dynamic parts as "…").
func (c SimpleCommand) String() string {
	parts := make([]string, len(c.Args))
	for i, a := range c.Args {
		parts[i] = a.String()
	}
	return strings.Join(parts, " ")
}

// dynamicCommand stands for a command whose text is unknown until run time
// (bash -c "$X", eval $X): it may be anything.
var dynamicCommand = SimpleCommand{Args: []Word{{Dynamic: true}, {Dynamic: true}}}

// ParseCommand returns every simple command in a shell command line: those
// after ; && || and in pipes, inside $(...), backticks, <(...), subshells,
// functions and control structures, and the commands run by wrappers
// (bash -c / sh -c scripts re-parsed, eval, sudo, env, xargs, nice, timeout,
// nohup, exec, command, find -exec, ...). Wrappers are reported themselves
// too, followed by what they run.
func ParseCommand(cmdline string) (cmds []SimpleCommand, err error) {
	if len(cmdline) > maxCommandLine {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrUnparseableCommand, maxCommandLine)
	}
	defer func() {
		// A parser panic on odd input is a command we cannot judge, never a crash.
		if r := recover(); r != nil {
			cmds, err = nil, fmt.Errorf("%w: the shell parser panicked: %v", ErrUnparseableCommand, r)
		}
	}()
	cw := &commandWalker{}
	if err := cw.parse(cmdline, 0); err != nil {
		return nil, err
	}
	return cw.out, nil
}

// commandWalker collects simple commands across nested parses.
type commandWalker struct {
	out []SimpleCommand
}

func (cw *commandWalker) parse(src string, depth int) error {
	if depth > maxCommandNesting {
		return fmt.Errorf("%w: nested deeper than %d shells", ErrUnparseableCommand, maxCommandNesting)
	}
	f, err := syntax.NewParser(syntax.Variant(shellLanguageBashy)).Parse(strings.NewReader(src), "")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnparseableCommand, err)
	}
	var werr error
	syntax.Walk(f, func(n syntax.Node) bool {
		if werr != nil {
			return false
		}
		switch n := n.(type) {
		case *syntax.Stmt:
			werr = cw.hereDocToShell(n, depth)
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				werr = cw.add(SimpleCommand{Args: resolveWords(n.Args)}, depth)
			}
		}
		return werr == nil
	})
	return werr
}

// add records cmd and whatever it runs when it is a wrapper.
func (cw *commandWalker) add(cmd SimpleCommand, depth int) error {
	if len(cw.out) >= maxSimpleCommands {
		return fmt.Errorf("%w: more than %d commands", ErrUnparseableCommand, maxSimpleCommands)
	}
	cw.out = append(cw.out, cmd)
	return cw.unwrap(cmd, depth)
}

// hereDocToShell judges a script fed to a shell on stdin: bash <<EOF ... EOF,
// sh <<< 'rm -rf /'.
func (cw *commandWalker) hereDocToShell(st *syntax.Stmt, depth int) error {
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) == 0 {
		return nil
	}
	name := resolveWord(call.Args[0])
	if name.Dynamic || !shells[path.Base(name.Text)] {
		return nil
	}
	for _, r := range st.Redirs {
		var body *syntax.Word
		switch r.Op {
		case syntax.Hdoc, syntax.DashHdoc:
			body = r.Hdoc
		case syntax.WordHdoc:
			body = r.Word
		}
		if body == nil {
			continue
		}
		w := resolveHeredoc(body, r.Op == syntax.WordHdoc)
		if w.Dynamic {
			if err := cw.add(dynamicCommand, depth); err != nil {
				return err
			}
			continue
		}
		if err := cw.parse(w.Text, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func resolveWords(ws []*syntax.Word) []Word {
	out := make([]Word, len(ws))
	for i, w := range ws {
		out[i] = resolveWord(w)
	}
	return out
}

// resolveWord resolves quotes and escapes; anything only known at run time
// ends the static prefix.
func resolveWord(orig *syntax.Word) Word {
	// SplitBraces rewrites Parts; work on a copy so the tree being walked is untouched.
	w := &syntax.Word{Parts: orig.Parts}
	syntax.SplitBraces(w)
	var b strings.Builder
	for i, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			if i == 0 && strings.HasPrefix(p.Value, "~") {
				// ~ and ~/x are the home directory, an absolute path; ~user is another's.
				if p.Value == "~" || strings.HasPrefix(p.Value, "~/") {
					return Word{Text: "/", Dynamic: true}
				}
				return Word{Dynamic: true}
			}
			if !unquotedLit(&b, p.Value) {
				return Word{Text: b.String(), Dynamic: true}
			}
		case *syntax.SglQuoted:
			if p.Dollar && strings.Contains(p.Value, `\`) {
				// $'...' with escapes: decoding them all is not worth the risk of getting one wrong.
				return Word{Text: b.String(), Dynamic: true}
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, dp := range p.Parts {
				lit, ok := dp.(*syntax.Lit)
				if !ok {
					return Word{Text: b.String(), Dynamic: true}
				}
				doubleQuotedLit(&b, lit.Value)
			}
		default: // ParamExp, CmdSubst, ArithmExp, ProcSubst, ExtGlob, BraceExp
			return Word{Text: b.String(), Dynamic: true}
		}
	}
	return Word{Text: b.String()}
}

// resolveHeredoc resolves a here-document or here-string body. Here-document
// bodies are not subject to quote removal, only to expansions.
func resolveHeredoc(w *syntax.Word, hereString bool) Word {
	if hereString {
		return resolveWord(w)
	}
	var b strings.Builder
	for _, part := range w.Parts {
		lit, ok := part.(*syntax.Lit)
		if !ok {
			return Word{Text: b.String(), Dynamic: true}
		}
		b.WriteString(lit.Value)
	}
	return Word{Text: b.String()}
}

// unquotedLit appends an unquoted literal with backslash escapes removed. It
// reports false at the first unescaped glob character (the word is then a
// pattern the shell expands at run time).
func unquotedLit(b *strings.Builder, v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			if i+1 < len(v) {
				i++
				if v[i] != '\n' {
					b.WriteByte(v[i])
				}
			}
		case '*', '?', '[':
			return false
		default:
			b.WriteByte(c)
		}
	}
	return true
}

// doubleQuotedLit appends a literal from inside "...": a backslash escapes
// only $ ` " \ and newline there.
func doubleQuotedLit(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) && strings.IndexByte("$`\"\\\n", v[i+1]) >= 0 {
			i++
			if v[i] != '\n' {
				b.WriteByte(v[i])
			}
			continue
		}
		b.WriteByte(c)
	}
}
