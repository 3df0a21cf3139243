package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	gossh "golang.org/x/crypto/ssh"
)

// requestQueue bounds the client requests waiting while one is held (a
// command under review). A client that floods past it gets failures.
const requestQueue = 64

// sessionChannel relays one "session" channel between the client and the
// upstream: data both ways, requests judged one by one, exit status last.
type sessionChannel struct {
	c      *clientConn
	client gossh.Channel
	up     gossh.Channel

	pty     *ptyRequest // set by pty-req, before shell/exec
	started atomic.Bool // shell, exec or subsystem accepted

	rec   atomic.Pointer[terminalRecorder] // set once shell/exec starts
	sftp  atomic.Pointer[sftpLog]          // set when the sftp subsystem starts
	guard atomic.Pointer[lineGuard]        // set for a pty shell under a policy
	xfer  atomic.Pointer[streamLog]        // set for a file-transfer exec (scp, rsync, git)
	scp   atomic.Pointer[scpLog]           // set for a legacy scp exec: per-file log
	scpUp bool                             // the scp files flow client -> server

	// maskOut and maskErr, when set (shell and exec on a policy with
	// detectors), mask the output streams before client and recording.
	maskOut, maskErr atomic.Pointer[outputMasker]
	input            atomic.Bool // record "i" events

	workers *sync.WaitGroup // the channel's goroutines; run waits for them
	writeMu *sync.Mutex     // serialises writes to the client (see clientConn.track)
	stdout  io.Writer       // the client's stdout, under writeMu
	stderr  io.Writer       // the client's stderr, under writeMu
}

func (ch *sessionChannel) closeWrite() {
	ch.writeMu.Lock()
	defer ch.writeMu.Unlock()
	_ = ch.client.CloseWrite()
}

// lockedWriter serialises writes to one side of a client channel:
// x/crypto/ssh does not allow concurrent writes to one stream, nor a write
// concurrent with CloseWrite.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// relaySession opens the upstream twin of a client session channel and
// relays until either side closes it.
func (c *clientConn) relaySession(ctx context.Context, nc gossh.NewChannel) {
	up, ureqs, err := c.upstream.OpenChannel("session", nil)
	if err != nil {
		var oe *gossh.OpenChannelError
		if errors.As(err, &oe) {
			_ = nc.Reject(oe.Reason, "sluice: upstream refused the session: "+oe.Message)
		} else {
			_ = nc.Reject(gossh.ConnectionFailed, "sluice: upstream connection lost")
		}
		return
	}
	client, creqs, err := nc.Accept()
	if err != nil {
		up.Close()
		return
	}
	writeMu, untrack := c.track(client)
	defer untrack()
	ch := &sessionChannel{c: c, client: client, up: up, writeMu: writeMu,
		stdout: lockedWriter{writeMu, client}, stderr: lockedWriter{writeMu, client.Stderr()}}
	ch.run(ctx, creqs, ureqs)
}

func (ch *sessionChannel) run(ctx context.Context, creqs <-chan *gossh.Request, ureqs <-chan *gossh.Request) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var workers sync.WaitGroup

	// Output: upstream stdout and stderr to the client, through the recorder.
	var outputs sync.WaitGroup
	outputs.Add(2)
	workers.Add(2)
	go func() {
		defer workers.Done()
		defer outputs.Done()
		defer ch.c.recoverBug("stdout pump")
		ch.pumpOut(ch.stdout, ch.up, ch.onStdout, &ch.maskOut)
	}()
	go func() {
		defer workers.Done()
		defer outputs.Done()
		defer ch.c.recoverBug("stderr pump")
		ch.pumpOut(ch.stderr, ch.up.Stderr(), ch.onOutput, &ch.maskErr)
	}()
	ch.workers = &workers

	// Client requests: a reader that notices the channel closing even while
	// the handler is held on a review, and the handler itself.
	pending := make(chan *gossh.Request, requestQueue)
	workers.Add(2)
	go func() {
		defer workers.Done()
		for r := range creqs {
			select {
			case pending <- r:
			default:
				if r.WantReply {
					_ = r.Reply(false, nil)
				}
			}
		}
		// The client closed the channel: stop any held request, close upstream.
		cancel()
		close(pending)
		_ = ch.up.Close()
	}()
	go func() {
		defer workers.Done()
		defer ch.c.recoverBug("request handler")
		for r := range pending {
			ch.handleRequest(ctx, r)
		}
	}()

	// Upstream requests: exit-status/exit-signal are held until all output
	// has been relayed, so the client never sees its exit before its data.
	var exits []*gossh.Request
	for r := range ureqs {
		switch r.Type {
		case "exit-status", "exit-signal":
			exits = append(exits, r)
		default:
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
	}
	outputs.Wait()
	if len(exits) == 0 && ctx.Err() == nil && ch.started.Load() {
		// The upstream ended the channel without an exit status, and the
		// client did not ask for it: the upstream connection died.
		ch.c.upstreamLost.Store(true)
		_, _ = io.WriteString(ch.stderr, fmt.Sprintf("\r\nsluice: the connection to target %q was lost\r\n", ch.c.target.Name))
	}
	for _, r := range exits {
		_, _ = ch.client.SendRequest(r.Type, false, r.Payload)
		ch.recordExit(r)
	}
	ch.closeWrite()
	_ = ch.client.Close()
	cancel()
	workers.Wait()
	ch.finish()
}

// pump copies src to dst, handing every chunk to tap first. It returns at
// EOF or the first error on either side.
func (ch *sessionChannel) pump(dst io.Writer, src io.Reader, tap func([]byte)) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tap(buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pumpOut relays one output stream: through its masker once one is set,
// else straight (tap, then write). The masker is flushed at the end.
func (ch *sessionChannel) pumpOut(dst io.Writer, src io.Reader, tap func([]byte), mask *atomic.Pointer[outputMasker]) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			var werr error
			if m := mask.Load(); m != nil {
				_, werr = m.Write(buf[:n])
			} else {
				tap(buf[:n])
				_, werr = dst.Write(buf[:n])
			}
			if werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if m := mask.Load(); m != nil {
		m.close()
	}
}

// startMasking masks a shell's or exec's output when the policy has
// content detectors. File transfers and sftp are never masked: they carry
// files, not terminal text.
func (ch *sessionChannel) startMasking() {
	p := ch.c.e.deps.Policies.For(ch.c.target.Name)
	if m := p.OutputMasker(); m != nil {
		ch.maskOut.Store(newOutputMasker(m, ch.stdout, ch.onStdout))
		ch.maskErr.Store(newOutputMasker(p.OutputMasker(), ch.stderr, ch.onOutput))
	}
}

// startInput starts relaying client input once the channel's use is known:
// a pty shell under a policy is judged line by line at Enter, a shell
// without a pty line by line as it arrives, anything else passes as is.
// Input sent before that waits in the channel's window.
func (ch *sessionChannel) startInput(ctx context.Context, shell bool) {
	judged := shell && ch.c.e.deps.Policies.For(ch.c.target.Name) != nil
	var g *lineGuard
	if judged && ch.pty != nil {
		g = newLineGuard(ch.c, int(ch.pty.Columns), int(ch.pty.Rows), ch.onInput, ch.rec.Load, ch.stdout)
		ch.guard.Store(g)
	}
	ch.workers.Add(1)
	go func() {
		defer ch.workers.Done()
		defer ch.c.recoverBug("input pump")
		switch {
		case g != nil:
			g.pumpInput(ctx, ch.up, ch.client)
		case judged:
			pumpLines(ctx, ch.c, ch.up, ch.client, ch.onInput, ch.stderr)
		default:
			ch.pump(ch.up, ch.client, ch.onInput)
		}
		// EOF from the client is passed on as EOF.
		_ = ch.up.CloseWrite()
	}()
}

func (ch *sessionChannel) onStdout(p []byte) {
	if x := ch.xfer.Load(); x != nil {
		x.fromServer(p)
	}
	if s := ch.scp.Load(); s != nil && !ch.scpUp {
		s.feed(p)
	}
	if s := ch.sftp.Load(); s != nil {
		// Only stdout carries SFTP packets; stderr would desync the decoder.
		s.fromServer(p)
	}
	ch.onOutput(p)
}

func (ch *sessionChannel) onOutput(p []byte) {
	ch.c.countBytes("out", len(p))
	if g := ch.guard.Load(); g != nil {
		g.output(p)
	}
	if r := ch.rec.Load(); r != nil {
		r.output(p)
	}
}

func (ch *sessionChannel) onInput(p []byte) {
	ch.c.countBytes("in", len(p))
	if x := ch.xfer.Load(); x != nil {
		x.fromClient(p)
	}
	if s := ch.scp.Load(); s != nil && ch.scpUp {
		s.feed(p)
	}
	if s := ch.sftp.Load(); s != nil {
		s.fromClient(p)
	}
	if ch.input.Load() {
		if r := ch.rec.Load(); r != nil {
			r.inputEvent(p)
		}
	}
}

// forward passes a request upstream and its answer back.
func (ch *sessionChannel) forward(r *gossh.Request) bool {
	ok, err := ch.up.SendRequest(r.Type, r.WantReply, r.Payload)
	ok = ok && err == nil
	if r.WantReply {
		_ = r.Reply(ok, nil)
	}
	return ok
}

func refuse(r *gossh.Request) {
	if r.WantReply {
		_ = r.Reply(false, nil)
	}
}

// handleRequest judges one client channel request.
func (ch *sessionChannel) handleRequest(ctx context.Context, r *gossh.Request) {
	switch r.Type {
	case "pty-req":
		p, err := parsePty(r.Payload)
		if err != nil || ch.started.Load() {
			refuse(r)
			return
		}
		ch.pty = &p
		ch.forward(r)
	case "window-change":
		w, err := parseWindowChange(r.Payload)
		if err != nil {
			refuse(r)
			return
		}
		if rec := ch.rec.Load(); rec != nil {
			rec.resize(int(w.Columns), int(w.Rows))
		}
		if g := ch.guard.Load(); g != nil {
			g.resize(int(w.Columns), int(w.Rows))
		}
		ch.forward(r)
	case "env":
		var e envRequest
		if gossh.Unmarshal(r.Payload, &e) != nil || !envAllowed(e.Name) {
			refuse(r)
			return
		}
		ch.forward(r)
	case "shell":
		if ch.started.Load() {
			refuse(r)
			return
		}
		ch.started.Store(true)
		ch.startRecording("")
		ch.startMasking()
		ch.startInput(ctx, true)
		ch.forward(r)
	case "exec":
		var e execRequest
		if gossh.Unmarshal(r.Payload, &e) != nil || ch.started.Load() {
			refuse(r)
			return
		}
		ch.started.Store(true)
		ch.exec(ctx, r, e.Command)
	case "subsystem":
		var s subsystemRequest
		if gossh.Unmarshal(r.Payload, &s) != nil || ch.started.Load() || s.Name != "sftp" {
			ch.c.logEvent("subsystem_denied", map[string]any{"name": s.Name})
			refuse(r)
			return
		}
		ch.started.Store(true)
		ch.sftp.Store(newSFTPLog(ch.c.logEvent))
		ch.c.logEvent("subsystem", map[string]any{"name": s.Name})
		ch.startInput(ctx, false)
		ch.forward(r)
	case "signal", "break":
		ch.forward(r)
	case "x11-req":
		ch.c.logEvent("x11_denied", nil)
		refuse(r)
	case "auth-agent-req@openssh.com":
		ch.c.logEvent("agent_forwarding_denied", nil)
		refuse(r)
	default:
		refuse(r)
	}
}

// exec judges a command line and runs it upstream only when allowed.
func (ch *sessionChannel) exec(ctx context.Context, r *gossh.Request, command string) {
	v := ch.c.judgeCommand(ctx, command, execJudgement)
	if !v.allowed {
		if r.WantReply {
			_ = r.Reply(true, nil)
		}
		_, _ = io.WriteString(ch.stderr, v.message)
		_, _ = ch.client.SendRequest("exit-status", false, gossh.Marshal(exitStatus{Status: 126}))
		ch.closeWrite()
		_ = ch.up.Close()
		return
	}
	if op := transferOp(command); op != "" && ch.pty == nil {
		if dir := scpDirection(command); dir != "" {
			ch.scpUp = dir == "upload"
			ch.scp.Store(newSCPLog(dir, ch.c.logEvent))
		}
		ch.xfer.Store(newStreamLog(op, command))
	} else {
		ch.startRecording(command)
		ch.startMasking()
	}
	// An exec that is itself an interactive terminal (ssh -t host bash) or a
	// shell reading its script from stdin (ssh host bash < script) gets
	// its input judged like a shell's; anything else (scp, rsync, git,
	// pipes into cat) passes as it is.
	ch.startInput(ctx, ch.pty != nil || readsScript(command))
	ch.forward(r)
}

// recordExit notes how the remote command ended.
func (ch *sessionChannel) recordExit(r *gossh.Request) {
	fields := map[string]any{}
	switch r.Type {
	case "exit-status":
		var s exitStatus
		if gossh.Unmarshal(r.Payload, &s) == nil {
			fields["status"] = s.Status
		}
	case "exit-signal":
		var s exitSignal
		if gossh.Unmarshal(r.Payload, &s) == nil {
			fields["signal"] = s.Signal
		}
	}
	ch.c.logEvent(r.Type, fields)
}

func (ch *sessionChannel) finish() {
	if s := ch.scp.Load(); s != nil {
		s.close()
	}
	if x := ch.xfer.Load(); x != nil {
		ch.c.logEvent("file_transfer", x.fields())
	}
	if s := ch.sftp.Load(); s != nil {
		s.close()
	}
	if r := ch.rec.Load(); r != nil {
		r.close()
	}
}
