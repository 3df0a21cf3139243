package ssh

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/replay"
)

// tmuxSession drives a real terminal: the OpenSSH client runs in a
// detached tmux pane; keys are sent and the screen captured as a user sees it.
type tmuxSession struct {
	t    *testing.T
	name string
	sock string
}

func startTmux(t *testing.T, cols, rows int, argv ...string) *tmuxSession {
	t.Helper()
	testenvBinary(t, "tmux")
	s := &tmuxSession{t: t, name: "sluice", sock: t.TempDir() + "/tmux.sock"}
	args := append([]string{"-S", s.sock, "new-session", "-d", "-s", s.name, "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows)}, argv...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v %s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) send(keys ...string) {
	s.tmux(append([]string{"send-keys", "-t", s.name}, keys...)...)
}

func (s *tmuxSession) screen() string { return s.tmux("capture-pane", "-p", "-t", s.name) }

// waitFor waits until the screen shows text.
func (s *tmuxSession) waitFor(text string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		scr := s.screen()
		if strings.Contains(scr, text) {
			return scr
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("screen never showed %q:\n%s", text, scr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestInteractiveShellInTmux(t *testing.T) {
	g := startGateway(t)
	argv := append([]string{"ssh"}, g.sshArgs(g.aliceKey)...)
	argv = append(argv, "-tt", "alice+web1@127.0.0.1")
	tm := startTmux(t, 100, 30, strings.Join(quoteAll(argv), " "))
	tm.waitFor("~$") // the login shell's own prompt
	// PS1 is spelt so that the typed command does not show "prompt$".
	tm.send("export PS1='pro''mpt$ '", "Enter")
	tm.waitFor("prompt$")
	tm.send("echo typed-$((20+3))", "Enter")
	tm.waitFor("typed-23")
	tm.tmux("resize-window", "-t", tm.name, "-x", "90", "-y", "25")
	tm.send("stty size", "Enter")
	tm.waitFor("25 90")
	tm.send("exit", "Enter")

	rec := g.closedSession(t, "web1")
	casts, _ := g.recordFiles(t, rec)
	if len(casts) != 1 {
		t.Fatalf("files %v", rec.Files)
	}
	lines := readLines(t, casts[0])
	h, err := replay.DecodeCastHeader(lines[0])
	if err != nil || h.Width != 100 || h.Height != 30 || h.Env["TERM"] == "" {
		t.Fatalf("header %+v %v", h, err)
	}
	var out strings.Builder
	resized := false
	for _, l := range lines[1:] {
		e, err := replay.DecodeCastEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		switch e.Type {
		case "o":
			out.WriteString(e.Data)
		case "r":
			resized = resized || e.Data == "90x25"
		}
	}
	if !strings.Contains(out.String(), "typed-23") || !resized {
		t.Fatalf("resized=%v output %q", resized, out.String())
	}
}

func quoteAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}
