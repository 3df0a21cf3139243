package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/creack/pty"
	gossh "golang.org/x/crypto/ssh"
	"mvdan.cc/sh/v3/shell"
	"mvdan.cc/sh/v3/syntax"

	"github.com/sluice-gw/sluice/config"
)

// checkCommandTarget validates what New can about a command target.
func checkCommandTarget(t *config.Target) error {
	if _, err := exec.LookPath(t.Command[0]); err != nil {
		return fmt.Errorf("command: %w", err)
	}
	if t.RunAs != "" {
		if _, err := lookupRunAs(t.RunAs); err != nil {
			return fmt.Errorf("run_as: %w", err)
		}
	}
	return nil
}

type runAsUser struct {
	uid, gid uint32
	name     string
	home     string
}

func lookupRunAs(name string) (*runAsUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("looking up user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q has a non-numeric uid/gid", name)
	}
	return &runAsUser{uid: uint32(uid), gid: uint32(gid), name: u.Username, home: u.HomeDir}, nil
}

// commandChannel runs a command target's command for one session channel,
// in a pty when the client asked for one.
type commandChannel struct {
	c      *clientConn
	client gossh.Channel

	pty     *ptyRequest
	env     []string
	started bool
	proc    chan *os.Process // the running process, for signals; buffered 1
	ptmx    atomic.Pointer[os.File]
	guard   atomic.Pointer[lineGuard] // a pty shell under a policy: lines judged at Enter
	stdout  io.Writer                 // the client's stdout and stderr, serialised with notices
	stderr  io.Writer
	rec     atomic.Pointer[terminalRecorder]
}

// runCommand serves a session channel on a command target.
func (c *clientConn) runCommand(ctx context.Context, nc gossh.NewChannel) {
	client, creqs, err := nc.Accept()
	if err != nil {
		return
	}
	writeMu, untrack := c.track(client)
	defer untrack()
	ctx, cancel := context.WithCancel(ctx)
	cc := &commandChannel{c: c, client: client, proc: make(chan *os.Process, 1),
		stdout: lockedWriter{writeMu, client}, stderr: lockedWriter{writeMu, client.Stderr()}}
	var running sync.WaitGroup
	for r := range creqs {
		cc.handleRequest(ctx, r, &running)
	}
	// The client closed the channel: stop the command.
	cancel()
	running.Wait()
	_ = client.Close()
}

func (cc *commandChannel) handleRequest(ctx context.Context, r *gossh.Request, running *sync.WaitGroup) {
	switch r.Type {
	case "pty-req":
		p, err := parsePty(r.Payload)
		if err != nil || cc.started {
			refuse(r)
			return
		}
		cc.pty = &p
		reply(r, true)
	case "env":
		var e envRequest
		if gossh.Unmarshal(r.Payload, &e) != nil || !envAllowed(e.Name) || cc.started {
			refuse(r)
			return
		}
		cc.env = append(cc.env, e.Name+"="+e.Value)
		reply(r, true)
	case "window-change":
		w, err := parseWindowChange(r.Payload)
		f := cc.ptmx.Load()
		if err != nil || f == nil {
			refuse(r)
			return
		}
		_ = pty.Setsize(f, &pty.Winsize{Cols: uint16(w.Columns), Rows: uint16(w.Rows)})
		if g := cc.guard.Load(); g != nil {
			g.resize(int(w.Columns), int(w.Rows))
		}
		if rec := cc.rec.Load(); rec != nil {
			rec.resize(int(w.Columns), int(w.Rows))
		}
		reply(r, true)
	case "shell", "exec":
		if cc.started {
			refuse(r)
			return
		}
		cc.started = true
		argv := cc.c.target.Command
		if r.Type == "exec" {
			var e execRequest
			if gossh.Unmarshal(r.Payload, &e) != nil {
				refuse(r)
				return
			}
			words, err := shell.Fields(e.Command, func(string) string { return "" })
			if err != nil {
				reply(r, true)
				cc.fail("sluice: cannot parse the command line: "+err.Error()+"\r\n", 2)
				return
			}
			argv = append(append([]string(nil), argv...), words...)
			if v := cc.c.judgeCommand(ctx, shellJoin(argv), execJudgement); !v.allowed {
				reply(r, true)
				cc.fail(v.message, 126)
				return
			}
		}
		reply(r, true)
		running.Add(1)
		shell := r.Type == "shell"
		go func() {
			defer running.Done()
			defer cc.c.recoverBug("command")
			cc.run(ctx, argv, shell)
		}()
	case "signal":
		var s struct{ Name string }
		if gossh.Unmarshal(r.Payload, &s) != nil {
			refuse(r)
			return
		}
		sig, ok := signals[s.Name]
		select {
		case p := <-cc.proc:
			if ok {
				_ = p.Signal(sig)
			}
			cc.proc <- p
		default:
		}
		reply(r, ok)
	default:
		// x11, agent forwarding, subsystems: not on a command target.
		refuse(r)
	}
}

func reply(r *gossh.Request, ok bool) {
	if r.WantReply {
		_ = r.Reply(ok, nil)
	}
}

// fail ends the channel with a message on stderr and an exit status.
func (cc *commandChannel) fail(msg string, status uint32) {
	_, _ = io.WriteString(cc.stderr, msg)
	_, _ = cc.client.SendRequest("exit-status", false, gossh.Marshal(exitStatus{Status: status}))
	_ = cc.client.Close()
}

// environ is the command's whole environment: a minimal base, the client's
// allowed variables, then the target's env, which wins.
func (cc *commandChannel) environ(ru *runAsUser) []string {
	home, name := os.Getenv("HOME"), os.Getenv("USER")
	if ru != nil {
		home, name = ru.home, ru.name
	}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "USER=" + name, "LOGNAME=" + name}
	if cc.pty != nil && cc.pty.Term != "" {
		env = append(env, "TERM="+cc.pty.Term)
	}
	env = append(env, cc.env...)
	for k, v := range cc.c.target.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// run starts argv, relays its I/O and reports how it ended.
func (cc *commandChannel) run(ctx context.Context, argv []string, shell bool) {
	t := cc.c.target
	var ru *runAsUser
	if t.RunAs != "" {
		u, err := lookupRunAs(t.RunAs)
		if err != nil {
			cc.c.log.Error("command target run_as", "err", err)
			cc.fail("sluice: the command cannot be started (configuration)\r\n", 1)
			return
		}
		ru = u
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = cc.environ(ru)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: cc.pty == nil}
	if ru != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: ru.uid, Gid: ru.gid}
		cmd.Dir = ru.home
	}
	cc.startRecording(strings.Join(argv, " "))
	// Output goes to the client through the recorder and, when the policy
	// has content detectors, a masker per stream.
	stdout, stderr := cc.outputs()
	defer stdout.close()
	defer stderr.close()

	var outputs sync.WaitGroup
	var err error
	if cc.pty != nil {
		var f *os.File
		f, err = pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cc.pty.Columns), Rows: uint16(cc.pty.Rows)})
		if err == nil {
			cc.ptmx.Store(f)
			defer f.Close()
			// Closing the pty on cancel unblocks both copies.
			stop := context.AfterFunc(ctx, func() { f.Close() })
			defer stop()
			outputs.Add(1)
			go func() {
				defer outputs.Done()
				defer cc.c.recoverBug("command output")
				cc.copyOut(stdout, f)
			}()
			if shell && cc.c.e.deps.Policies.For(t.Name) != nil {
				g := newLineGuard(cc.c, int(cc.pty.Columns), int(cc.pty.Rows), cc.onInput, cc.rec.Load, cc.stdout)
				cc.guard.Store(g)
				go func() { // ends when the client channel or the pty closes
					defer cc.c.recoverBug("command input")
					g.pumpInput(ctx, f, cc.client)
				}()
			} else {
				go func() { // ends when the client channel or the pty closes
					defer cc.c.recoverBug("command input")
					cc.copyIn(f, cc.client, nil)
				}()
			}
		}
	} else {
		cmd.Stdout, cmd.Stderr = stdout, stderr
		var stdin io.WriteCloser
		stdin, err = cmd.StdinPipe()
		if err == nil {
			err = cmd.Start()
			if shell && cc.c.e.deps.Policies.For(t.Name) != nil {
				// A shell without a pty reads commands from stdin: judge each line.
				go func() {
					defer stdin.Close()
					defer cc.c.recoverBug("command input")
					pumpLines(ctx, cc.c, stdin, cc.client, cc.onInput, cc.stderr)
				}()
			} else {
				go func() {
					defer cc.c.recoverBug("command input")
					cc.copyIn(stdin, cc.client, stdin)
				}()
			}
		}
	}
	if err != nil {
		cc.c.log.Error("starting command", "err", err)
		cc.fail("sluice: the command could not be started\r\n", 127)
		cc.finish()
		return
	}
	cc.proc <- cmd.Process
	werr := cmd.Wait()
	outputs.Wait()
	stdout.close()
	stderr.close()
	cc.sendExit(cmd, werr)
	cc.finish()
	_ = cc.client.Close()
}

// outputStream is one output stream of a command: recorded, masked when
// the policy has detectors, written to the client.
type outputStream interface {
	io.Writer
	close()
}

// recordedWriter records then writes, unmasked.
type recordedWriter struct {
	cc  *commandChannel
	dst io.Writer
}

func (w recordedWriter) Write(p []byte) (int, error) {
	w.cc.recordOut(p)
	return w.dst.Write(p)
}

func (recordedWriter) close() {}

func (cc *commandChannel) outputs() (stdout, stderr outputStream) {
	p := cc.c.e.deps.Policies.For(cc.c.target.Name)
	if m := p.OutputMasker(); m != nil {
		return newOutputMasker(m, cc.stdout, cc.recordOut), newOutputMasker(p.OutputMasker(), cc.stderr, cc.recordOut)
	}
	return recordedWriter{cc, cc.stdout}, recordedWriter{cc, cc.stderr}
}

func (cc *commandChannel) copyOut(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (cc *commandChannel) copyIn(dst io.Writer, src io.Reader, closer io.Closer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			cc.onInput(buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if closer != nil {
		_ = closer.Close()
	}
}

// onInput accounts and (when configured, in a pty) records client input.
func (cc *commandChannel) onInput(p []byte) {
	cc.c.countBytes("in", len(p))
	if cc.pty != nil && cc.c.e.cfg.RecordingFor(cc.c.target).RecordInput {
		if rec := cc.rec.Load(); rec != nil {
			rec.inputEvent(p)
		}
	}
}

func (cc *commandChannel) recordOut(p []byte) {
	cc.c.countBytes("out", len(p))
	if g := cc.guard.Load(); g != nil {
		g.output(p)
	}
	if rec := cc.rec.Load(); rec != nil {
		rec.output(p)
	}
}

func (cc *commandChannel) sendExit(cmd *exec.Cmd, werr error) {
	st := cmd.ProcessState
	var ee *exec.ExitError
	if st == nil && !errors.As(werr, &ee) {
		cc.fail("", 1)
		return
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		name := strings.TrimPrefix(signalName(ws.Signal()), "SIG")
		cc.c.logEvent("exit-signal", map[string]any{"signal": name})
		_, _ = cc.client.SendRequest("exit-signal", false, gossh.Marshal(exitSignal{Signal: name}))
		return
	}
	code := st.ExitCode()
	cc.c.logEvent("exit-status", map[string]any{"status": code})
	_, _ = cc.client.SendRequest("exit-status", false, gossh.Marshal(exitStatus{Status: uint32(code)}))
}

func (cc *commandChannel) startRecording(command string) {
	cols, rows, term := 80, 24, ""
	if cc.pty != nil {
		cols, rows, term = int(cc.pty.Columns), int(cc.pty.Rows), cc.pty.Term
	}
	w, err := cc.c.openCast(cols, rows, term, castTitle(cc.c.id.Name, cc.c.target.Name, command), command)
	if err != nil {
		cc.c.log.Error("opening terminal recording", "err", err)
		if !cc.c.e.cfg.RecordingFor(cc.c.target).FailOpen {
			cc.c.sconn.Close()
		}
		return
	}
	cc.rec.Store(newTerminalRecorder(cc.c, w))
}

func (cc *commandChannel) finish() {
	if rec := cc.rec.Load(); rec != nil {
		rec.close()
	}
}

// shellJoin quotes argv as one shell command line, so the policy parses
// the words the program will get.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		q, err := syntax.Quote(a, syntax.LangBash)
		if err != nil {
			// Unquotable (NUL bytes): a line the policy refuses to parse.
			q = "$'\\0'"
		}
		out[i] = q
	}
	return strings.Join(out, " ")
}

// signals maps SSH signal names (RFC 4254 6.10) to the host's.
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

func signalName(s syscall.Signal) string {
	for k, v := range signals {
		if v == s {
			return k
		}
	}
	return "KILL"
}
