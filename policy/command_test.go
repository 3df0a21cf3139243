package policy

import (
	"github.com/sluice-gw/sluice/config"

	"errors"
	"strings"
	"testing"
)

// anyMatch reports whether any simple command of line may match pattern.
func lineMatches(t *testing.T, pattern, line string) bool {
	t.Helper()
	cmds, err := ParseCommand(line)
	if err != nil {
		t.Fatalf("ParseCommand(%q): %v", line, err)
	}
	for _, c := range cmds {
		if MatchCommand(pattern, c) {
			return true
		}
	}
	return false
}

func TestMatchCommandLines(t *testing.T) {
	cases := []struct {
		pattern, line string
		want          bool
	}{
		// Flag spellings.
		{"rm -rf *", "rm -rf /", true},
		{"rm -rf *", "rm -r -f /", true},
		{"rm -rf *", "rm -fr /", true},
		{"rm -rf *", "rm -Rf /tmp/x", true},
		{"rm -rf *", "rm --recursive --force /", true},
		{"rm -rf *", "/bin/rm -rf /", true},
		{"rm -rf *", `\rm -rf /`, true},
		{"rm -rf *", `"rm" '-rf' /`, true},
		{"rm -rf *", "rm -rfv /", true},
		{"rm -rf *", "rm -rf -- /", true},
		{"rm -rf *", "rm -r /", false},
		{"rm -rf *", "rm -f /", false},
		{"rm -rf *", "rm -rf", true},
		{"rm -rf /*", "rm -rf", false},
		{"rm -rf *", "rmdir -rf /", false},
		{"rm -rf *", "ls -rf /", false},
		// Operands.
		{"rm -rf /", "rm -rf /", true},
		{"rm -rf /", "rm -rf ./build", false},
		{"rm -rf /", "rm -rf /tmp", false},
		{"rm -rf /", "rm -rf /tmp /", true},
		{"rm -rf /", "rm -rf /*", true},
		{"rm -rf /", "rm -rf /{etc,usr}", true},
		{"rm -rf /", "rm -rf $DIR", true},
		{"rm -rf /", `rm -rf "$DIR"/x`, true},
		{"rm -rf /", "rm -rf ~", true},
		{"rm -rf /", "rm -rf ~bob", true},
		{"rm -rf /root*", "rm -rf ~", true},
		{"rm -rf /etc*", "rm -rf /etc/passwd", true},
		// Separators and nesting.
		{"rm -rf *", "ls; rm -rf /", true},
		{"rm -rf *", "a && rm -rf /x", true},
		{"rm -rf *", "false || rm -rf /x", true},
		{"rm -rf *", "cat x | rm -rf /x", true},
		{"rm -rf *", "echo $(rm -rf /)", true},
		{"rm -rf *", "echo `rm -rf /`", true},
		{"rm -rf *", "X=$(rm -rf /) true", true},
		{"rm -rf *", "(cd / && rm -rf x)", true},
		{"rm -rf *", "{ rm -rf /; }", true},
		{"rm -rf *", "if true; then rm -rf /; fi", true},
		{"rm -rf *", "for f in a; do rm -rf $f; done", true},
		{"rm -rf *", "f() { rm -rf /; }; f", true},
		{"rm -rf *", "diff <(rm -rf /) x", true},
		{"rm -rf *", "time rm -rf /", true},
		// Wrappers.
		{"rm -rf *", "bash -c 'rm -rf /'", true},
		{"rm -rf *", "sh -c \"ls; rm -rf /\"", true},
		{"rm -rf *", "bash -lc 'rm -rf /'", true},
		{"rm -rf *", "bash -c \"bash -c 'rm -rf /'\"", true},
		{"rm -rf *", "sudo rm -rf /", true},
		{"rm -rf *", "sudo -u root -E rm -rf /", true},
		{"rm -rf *", "env X=1 rm -rf /", true},
		{"rm -rf *", "env -i PATH=/bin rm -rf /", true},
		{"rm -rf *", "env -S 'rm -rf /'", true},
		{"rm -rf *", "find . -name x | xargs rm -rf", true},
		{"rm -rf *", "xargs -n 1 rm -rf < list", true},
		{"rm -rf *", "nice -n 10 rm -rf /", true},
		{"rm -rf *", "timeout 5 rm -rf /", true},
		{"rm -rf *", "timeout -s KILL 5s rm -rf /", true},
		{"rm -rf *", "nohup rm -rf / &", true},
		{"rm -rf *", "exec rm -rf /", true},
		{"rm -rf *", "command rm -rf /", true},
		{"rm -rf *", "sudo env X=1 nice timeout 3 rm -rf /", true},
		{"rm -rf *", "eval 'rm -rf /'", true},
		{"rm -rf *", "su -c 'rm -rf /' root", true},
		{"rm -rf *", "find / -exec rm -rf {} +", true},
		{"rm -rf *", "bash <<'EOF'\nrm -rf /\nEOF", true},
		{"rm -rf *", "sh <<< 'rm -rf /'", true},
		{"rm -rf *", `bash -c "$CMD"`, true},
		{"rm -rf *", "$X -rf /", true},
		// Not commands.
		{"rm -rf *", `echo "rm -rf /"`, false},
		{"rm -rf *", `echo 'rm -rf /'`, false},
		{"rm -rf *", `echo rm -rf /`, false},
		{"rm -rf *", `grep -r "rm -rf" .`, false},
		{"rm -rf *", `# rm -rf /`, false},
		{"rm -rf *", `git commit -m "rm -rf /"`, false},
		{"rm -rf *", "cat <<EOF\nrm -rf /\nEOF", false},
		{"rm -rf *", "bash script.sh", false},
		// Other programs.
		{"git push --force *", "git push --force origin main", true},
		{"git push --force *", "git push -f origin main", true},
		{"git push --force *", "git push origin main", false},
		{"kill -9 *", "kill -9 1", true},
		{"kill -9 *", "kill -KILL 1", false}, // signal names are not normalised
		{"kill -9 *", "kill 1", false},
		{"chmod -R 777 *", "chmod --recursive 777 /", true},
		{"find * -delete", "find / -name x -delete", true},
		{"find * -delete", "find / -name x", false},
		{"/usr/bin/rm *", "rm x", false},
		{"/usr/bin/rm *", "/usr/bin/rm x", true},
		{"shutdown", "sudo shutdown -h now", true},
		{"dd * of=/dev/sd*", "dd if=/dev/zero of=/dev/sda bs=1M", true},
		{"dd * of=/dev/sd*", "dd if=/dev/zero of=./disk.img", false},
	}
	for _, c := range cases {
		if got := lineMatches(t, c.pattern, c.line); got != c.want {
			cmds, _ := ParseCommand(c.line)
			t.Errorf("pattern %q, line %q: match = %v, want %v (commands %v)", c.pattern, c.line, got, c.want, cmds)
		}
	}
}

func TestParseCommandArgv(t *testing.T) {
	cmds, err := ParseCommand(`FOO=1 /bin/echo "a b" 'c'd\ e "$HOME/x" *.go | sudo -u bob wc -l`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, c.String())
	}
	want := []string{"/bin/echo a b cd e … …", "sudo -u bob wc -l", "wc -l"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("commands = %q, want %q", got, want)
	}
	if cmds[0].Name() != "echo" || !cmds[0].Args[3].Dynamic || cmds[0].Args[2].Dynamic {
		t.Fatalf("argv = %+v", cmds[0].Args)
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, line := range []string{
		"echo 'unterminated",
		"if then fi (",
		strings.Repeat("bash -c '", 1) + "echo \"x", // quote error inside bash -c
		strings.Repeat("x", maxCommandLine+1),
		nestedShells(maxCommandNesting + 2),
	} {
		if _, err := ParseCommand(line); !errors.Is(err, ErrUnparseableCommand) {
			t.Errorf("ParseCommand(%.40q): err = %v, want ErrUnparseableCommand", line, err)
		}
	}
	if _, err := ParseCommand(nestedShells(3)); err != nil {
		t.Errorf("3 nested shells: %v", err)
	}
}

// nestedShells builds sh -c 'sh -c ...' n levels deep, escaping by re-quoting.
func nestedShells(n int) string {
	s := "rm -rf /"
	for range n {
		s = "sh -c '" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

func TestDecideCommand(t *testing.T) {
	rules := []CommandRule{
		{Name: "ops-may", Action: Allow, Patterns: []string{"rm -rf /var/cache/*"}, Groups: []string{"ops"}},
		{Name: "no-rm-rf", Action: Block, Patterns: []string{"rm -rf *"}},
		{Name: "prod-deploys", Action: Review, Patterns: []string{"kubectl apply *", "helm upgrade *"}, Targets: []string{"prod"}},
		{Name: "ls-ok", Action: Allow, Patterns: []string{"ls *", "echo *"}},
	}
	dev := Subject{Target: "web1", Identity: "alice", Groups: []string{"developers"}}
	ops := Subject{Target: "prod", Identity: "olga", Groups: []string{"ops"}}
	cases := []struct {
		sub      Subject
		line     string
		action   Action
		rule     string
		def      Action
		unparsed Action
	}{
		{dev, "ls -la", Allow, "ls-ok", Allow, Block},
		{dev, "ls; rm -rf /", Block, "no-rm-rf", Allow, Block},
		{dev, "rm -rf /var/cache/apt", Block, "no-rm-rf", Allow, Block},
		{ops, "rm -rf /var/cache/apt", Allow, "ops-may", Allow, Block},
		// A dynamic word never lets an allow rule through.
		{ops, "rm -rf /var/cache/$X", Block, "no-rm-rf", Allow, Block},
		{ops, "ls && kubectl apply -f x.yaml", Review, "prod-deploys", Allow, Block},
		{dev, "kubectl apply -f x.yaml", Allow, "", Allow, Block},
		{dev, "kubectl apply -f x.yaml; rm -rf /", Block, "no-rm-rf", Allow, Block},
		{dev, "echo 'unterminated", Block, "", Allow, Block},
		{dev, "echo 'unterminated", Review, "", Allow, Review},
		{dev, "uname -a", Block, "", Block, Block},
		{dev, "echo hi", Allow, "ls-ok", Block, Block},
		{dev, "echo hi; uname", Block, "", Block, Block},
		{dev, "", Allow, "", Block, Block},
	}
	for _, c := range cases {
		d := decideCommand(rules, c.def, c.unparsed, c.sub, c.line)
		if d.Action != c.action || d.Rule != c.rule {
			t.Errorf("%s: %q: got %s/%q, want %s/%q (%s)", c.sub.Identity, c.line, d.Action, d.Rule, c.action, c.rule, d.Message)
		}
		if d.Action != Allow && d.Message == "" {
			t.Errorf("%q: %s without a message", c.line, d.Action)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pat, text string
		prefix    bool
		want      bool
	}{
		{"*", "", false, true},
		{"*", "/a/b", false, true},
		{"/", "/", false, true},
		{"/", "/x", false, false},
		{"/e?c", "/etc", false, true},
		{"[a-c]x", "bx", false, true},
		{"[!a-c]x", "bx", false, false},
		{`\*`, "*", false, true},
		{`\*`, "a", false, false},
		{"[", "[", false, true},
		{"a*b*c", "aXbYc", false, true},
		{"a*b*c", "aXbY", false, false},
		{"/etc/*", "/e", true, true},
		{"/etc/*", "/x", true, false},
		{"/", "", true, true},
	}
	for _, c := range cases {
		if got := globMatch(c.pat, c.text, c.prefix); got != c.want {
			t.Errorf("globMatch(%q, %q, %v) = %v, want %v", c.pat, c.text, c.prefix, got, c.want)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"ls; rm -rf /", "a && b || c | d", "echo $(rm -rf /) `x`", "bash -c 'sh -c \"rm -rf /\"'",
		"sudo -u x env A=1 xargs -n1 nice timeout 5 rm -rf", "find / -exec rm {} \\;", "bash <<EOF\nrm x\nEOF",
		"echo \"${x:-$(y)}\" $'a\\nb' {a,b}{1..3} ~/x [ab]*", "f() { g; }; f", "eval \"$x\"", "env -S 'a b'",
		"su -c 'id'", "((x++)); [[ -f x ]]; case x in y) z;; esac", "echo 'unterminated",
	} {
		f.Add(s, "rm -rf *")
	}
	f.Fuzz(func(t *testing.T, line, pattern string) {
		cmds, err := ParseCommand(line)
		if err != nil {
			if !errors.Is(err, ErrUnparseableCommand) {
				t.Fatalf("error not wrapped: %v", err)
			}
			return
		}
		for _, c := range cmds {
			_ = c.String()
			_ = c.Name()
			_ = MatchCommand(pattern, c)
		}
		_ = decideCommand([]CommandRule{{Name: "r", Action: Block, Patterns: []string{pattern}}}, Allow, Block, Subject{}, line)
	})
}

func TestCheckCommandThroughPolicy(t *testing.T) {
	cfg, err := config.Parse([]byte(`
policies:
  guarded:
    rules:
      - {name: no-rm-rf, when: {command: "rm -rf *"}, action: block}
      - {name: reboots, when: {command: [reboot, "shutdown *"]}, action: review}
targets:
  - {name: web1, protocol: ssh, policy: guarded, upstream: {address: "127.0.0.1:22", user: deploy, key_file: k, known_hosts: kh}}
`), "t.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := set.For("web1")
	sub := Subject{Target: "web1", Protocol: "ssh", Identity: "alice"}
	cases := []struct {
		line string
		want Action
		rule string
	}{
		{"ls -la", Allow, ""},
		{"ls; rm -rf /", Block, "no-rm-rf"},
		{"sudo rm -fr /var", Block, "no-rm-rf"},
		{`echo "rm -rf /"`, Allow, ""},
		{"sudo reboot", Review, "reboots"},
		{"shutdown -h now", Review, "reboots"},
	}
	for _, c := range cases {
		d := p.CheckCommand(sub, c.line)
		if d.Action != c.want || d.Rule != c.rule {
			t.Errorf("%q: got %v/%q, want %v/%q", c.line, d.Action, d.Rule, c.want, c.rule)
		}
	}
	var nilPolicy *Policy
	if d := nilPolicy.CheckCommand(sub, "rm -rf /"); d.Action != Allow {
		t.Errorf("nil policy: %v", d.Action)
	}
}
