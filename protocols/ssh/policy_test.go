package ssh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/replay"
)

func TestExecBlockedByPolicy(t *testing.T) {
	g := startGateway(t)
	victim := filepath.Join(g.remoteDir, "victim")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	// The dangerous command hides behind an allowed one and a wrapper.
	r := g.ssh(t, "alice+web1", "echo first; sh -c 'rm -rf "+victim+"'")
	if r.code != 126 || r.stdout != "" || !strings.Contains(r.stderr, "no-rm-rf") {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("the blocked command ran: %v", err)
	}
	rec := g.closedSession(t, "web1")
	_, events := g.recordFiles(t, rec)
	if !hasEvent(events, "exec", "decision", "block") {
		t.Fatalf("block not recorded: %+v", events)
	}
}

// decideNext waits for the next pending approval and decides it.
func decideNext(t *testing.T, g *testGateway, approve bool) policy.ApprovalRequest {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p := g.deps.Broker.Pending(); len(p) > 0 {
			if _, err := g.deps.Broker.Decide(p[0].ID, approve, policy.Reviewer{Name: "carol", Admin: true}, "checked"); err != nil {
				t.Fatal(err)
			}
			return p[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("no approval request was filed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecHeldForReview(t *testing.T) {
	g := startGateway(t)
	for _, approve := range []bool{true, false} {
		file := filepath.Join(g.remoteDir, "reviewed-"+map[bool]string{true: "yes", false: "no"}[approve])
		done := make(chan runResult, 1)
		go func() { done <- g.ssh(t, "alice+web1", "touch "+file) }()
		req := decideNext(t, g, approve)
		if req.Identity != "alice" || req.Target != "web1" || req.Rule != "touch-review" || !strings.Contains(req.Statement, "touch") {
			t.Fatalf("request %+v", req)
		}
		var r runResult
		select {
		case r = <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("client still waiting after the decision")
		}
		_, statErr := os.Stat(file)
		if approve && (r.code != 0 || statErr != nil) {
			t.Fatalf("approved: code=%d stderr=%q stat=%v", r.code, r.stderr, statErr)
		}
		if !approve && (r.code != 126 || statErr == nil || !strings.Contains(r.stderr, "denied")) {
			t.Fatalf("denied: code=%d stderr=%q stat=%v", r.code, r.stderr, statErr)
		}
	}
}

func TestInteractiveBlockedLines(t *testing.T) {
	g := startGateway(t)
	victim := filepath.Join(g.remoteDir, "victim")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"ssh"}, g.sshArgs(g.aliceKey)...)
	argv = append(argv, "-tt", "alice+web1@127.0.0.1")
	tm := startTmux(t, 120, 40, strings.Join(quoteAll(argv), " "))
	tm.waitFor("~$") // the login shell's own prompt
	// PS1 is spelt so that the typed command does not show "prompt$".
	tm.send("export PS1='pro''mpt$ '", "Enter")
	tm.waitFor("prompt$")

	// 1. Typed with a typo fixed by backspaces.
	tm.send("rm -rf "+victim+"xyz", "BSpace", "BSpace", "BSpace", "Enter")
	tm.waitFor("no-rm-rf")
	// 2. An allowed line, then recalled from history and edited with
	// cursor keys into the blocked command.
	tm.send("ls -d "+victim, "Enter")
	tm.waitFor(victim + "\n")
	tm.send("Up", "C-a", "C-d", "C-d", "rm -rf", "Enter")
	// 3. A blocked line put into the history without running, then recalled.
	tm.send("history -s 'rm -rf "+victim+"'", "Enter")
	tm.send("Up", "Enter")
	// The session is still usable.
	tm.send("echo still-$((40+2))", "Enter")
	scr := tm.waitFor("still-42")
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("a blocked line ran: %v\n%s", err, scr)
	}
	if n := strings.Count(scr, "sluice: "); n != 3 {
		t.Fatalf("want 3 blocks on screen, got %d:\n%s", n, scr)
	}
	tm.send("exit", "Enter")
	rec := g.closedSession(t, "web1")
	casts, events := g.recordFiles(t, rec)
	blocks := 0
	for _, e := range events {
		if e.Kind == "command" && e.Fields["decision"] == "block" {
			blocks++
		}
	}
	if blocks != 3 || !hasEvent(events, "command", "command", "echo still-$((40+2))") {
		t.Fatalf("events %+v", events)
	}
	markers := 0
	for _, l := range readLines(t, casts[0])[1:] {
		if e, err := replay.DecodeCastEvent(l); err == nil && e.Type == "m" && strings.HasPrefix(e.Data, "blocked") {
			markers++
		}
	}
	if markers != 3 {
		t.Fatalf("want 3 block markers in the cast, got %d", markers)
	}
}

func TestShellWithoutPtyJudgedLineByLine(t *testing.T) {
	g := startGateway(t)
	victim := filepath.Join(g.remoteDir, "victim2")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "echo one\nrm -rf " + victim + "\necho two\n"
	args := append(g.sshArgs(g.aliceKey), "-T", "alice+web1@127.0.0.1")
	cmd := exec.Command("ssh", args...)
	cmd.Stdin = strings.NewReader(script)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if out.String() != "one\ntwo\n" || !strings.Contains(errb.String(), "no-rm-rf") {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("the blocked line ran: %v", err)
	}
}

func TestCommandTargetExecJudged(t *testing.T) {
	g := startGateway(t)
	if r := g.ssh(t, "alice+tools", `"it's"`, "fine"); r.code != 0 || r.stdout != "it's fine\n" {
		t.Fatalf("allowed: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	// The command target runs `echo touch x`: the rule "touch *" does not
	// apply to an echo, so this is allowed too.
	if r := g.ssh(t, "alice+tools", "touch", "x"); r.code != 0 || r.stdout != "touch x\n" {
		t.Fatalf("echo touch: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	// Command substitution in the arguments is judged, not run.
	if r := g.ssh(t, "alice+tools", "'$(rm -rf /tmp/none)'"); r.code != 0 || r.stdout != "$(rm -rf /tmp/none)\n" {
		t.Fatalf("quoted: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestCommandTargetExecHeldAndDenied(t *testing.T) {
	g := startGateway(t)
	file := filepath.Join(g.dir, "touched")
	done := make(chan runResult, 1)
	go func() { done <- g.ssh(t, "alice+toucher", file) }()
	req := decideNext(t, g, false)
	if req.Target != "toucher" || req.Statement != "touch "+file {
		t.Fatalf("request %+v", req)
	}
	r := <-done
	if r.code != 126 || !strings.Contains(r.stderr, "denied") {
		t.Fatalf("code=%d stderr=%q", r.code, r.stderr)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("the denied command ran")
	}
}

func TestInteractiveLineHeldForReview(t *testing.T) {
	g := startGateway(t)
	file := filepath.Join(g.remoteDir, "held")
	argv := append([]string{"ssh"}, g.sshArgs(g.aliceKey)...)
	argv = append(argv, "-tt", "alice+web1@127.0.0.1")
	tm := startTmux(t, 160, 40, strings.Join(quoteAll(argv), " "))
	tm.waitFor("~$") // the login shell's own prompt
	// PS1 is spelt so that the typed command does not show "prompt$".
	tm.send("export PS1='pro''mpt$ '", "Enter")
	tm.waitFor("prompt$")
	tm.send("touch "+file, "Enter")
	tm.waitFor("waiting for approval")
	if _, err := os.Stat(file); err == nil {
		t.Fatal("the held line ran before a decision")
	}
	decideNext(t, g, true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the approved line did not run:\n%s", tm.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tm.send("exit", "Enter")
	rec := g.closedSession(t, "web1")
	_, events := g.recordFiles(t, rec)
	if !hasEvent(events, "command", "decision", "review-approved") {
		t.Fatalf("events %+v", events)
	}
}

func TestCommandTargetShellLinesJudged(t *testing.T) {
	g := startGateway(t)
	victim := filepath.Join(g.remoteDir, "victim3")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"ssh"}, g.sshArgs(g.aliceKey)...)
	argv = append(argv, "-tt", "alice+bashbox@127.0.0.1")
	tm := startTmux(t, 160, 40, strings.Join(quoteAll(argv), " "))
	tm.waitFor("$")
	tm.send("export PS1='pro''mpt$ '", "Enter")
	tm.waitFor("prompt$")
	tm.send("rm -rf "+victim, "Enter")
	tm.waitFor("no-rm-rf")
	tm.send("echo after-$((2*21))", "Enter")
	scr := tm.waitFor("after-42")
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("the blocked line ran: %v\n%s", err, scr)
	}
}

func TestCommandTargetShellWithoutPtyJudged(t *testing.T) {
	g := startGateway(t)
	victim := filepath.Join(g.remoteDir, "victim4")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append(g.sshArgs(g.aliceKey), "-T", "alice+bashbox@127.0.0.1")
	cmd := exec.Command("ssh", args...)
	cmd.Stdin = strings.NewReader("echo one\nrm -rf " + victim + "\necho two\n")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if !strings.Contains(out.String(), "one") || !strings.Contains(out.String(), "two") || !strings.Contains(errb.String(), "no-rm-rf") {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("the blocked line ran: %v", err)
	}
}

func TestShellExecReadingStdinJudged(t *testing.T) {
	g := startGateway(t)
	victim := filepath.Join(g.remoteDir, "victim5")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append(g.sshArgs(g.aliceKey), "alice+web1@127.0.0.1", "bash")
	cmd := exec.Command("ssh", args...)
	cmd.Stdin = strings.NewReader("echo one\nrm -rf " + victim + "\necho two\n")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if out.String() != "one\ntwo\n" || !strings.Contains(errb.String(), "no-rm-rf") {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("the blocked line ran: %v", err)
	}
}
