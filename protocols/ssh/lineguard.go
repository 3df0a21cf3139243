package ssh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/policy"
)

// Interactive command filtering. At Enter the command line is read back
// from a screen emulator fed with the server's output (so line editing,
// history recall and completion are what the user sees), the prompt is
// stripped by where the line began, and the line is judged like an exec.
// block: the Enter is not forwarded, the line is cleared upstream (Ctrl-U)
// and the user is told why; review: the Enter waits for the decision.
//
// Limits (documented in the README): full-screen programs (alternate
// screen) and REPLs are passed through or misjudged as shell; a line
// assembled by the shell from several Enters (continuations, heredocs) is
// judged piece by piece; output that races with typing can hide the line.
// Exec channels are the exact guarantee.

const (
	// settle is how long the screen must be quiet before it is read: the
	// echo of what was just typed must have arrived.
	settle = 30 * time.Millisecond
	// maxSettle bounds the wait when the server never goes quiet.
	maxSettle = 500 * time.Millisecond
	// typeAheadSettle is the quiet a shell must keep after an Enter before
	// keys typed ahead are let through: long enough for a busy shell to
	// draw its prompt, bounded by maxTypeAhead for programs that never
	// stop printing.
	typeAheadSettle = 100 * time.Millisecond
	maxTypeAhead    = time.Second
	// maxPendingLine bounds a non-pty shell's line held for judgement.
	maxPendingLine = 64 << 10
)

const ctrlU = 0x15

// lineGuard judges the lines typed into one pty shell channel.
type lineGuard struct {
	c       *clientConn
	onInput func([]byte)             // input accounting and recording
	rec     func() *terminalRecorder // the channel's recorder, or nil
	stdout  io.Writer                // the client's stdout (serialised)

	mu         sync.Mutex
	scr        *screen
	lastOutput time.Time
	lastInput  time.Time
	lastEnter  time.Time
	started    bool // the current input line's start is known
	startX     int
	startY     int
	startRoll  int // scr.scrolled when the line started
}

func newLineGuard(c *clientConn, cols, rows int, onInput func([]byte), rec func() *terminalRecorder, stdout io.Writer) *lineGuard {
	return &lineGuard{c: c, onInput: onInput, rec: rec, stdout: stdout, scr: newScreen(cols, rows)}
}

// output feeds server output to the screen.
func (g *lineGuard) output(p []byte) {
	g.mu.Lock()
	g.scr.write(p)
	g.lastOutput = time.Now()
	g.mu.Unlock()
}

func (g *lineGuard) resize(cols, rows int) {
	g.mu.Lock()
	g.scr.resize(cols, rows)
	g.started = false
	g.mu.Unlock()
}

// quiet waits until neither side has sent anything for settle.
func (g *lineGuard) quiet(ctx context.Context) { g.quietFor(ctx, settle, maxSettle) }

// quietFor waits until neither side has sent anything for d, at most bound.
func (g *lineGuard) quietFor(ctx context.Context, d, bound time.Duration) {
	deadline := time.Now().Add(bound)
	for {
		g.mu.Lock()
		last := g.lastOutput
		if g.lastInput.After(last) {
			last = g.lastInput
		}
		g.mu.Unlock()
		wait := time.Until(last.Add(d))
		if wait <= 0 || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(wait, time.Until(deadline))):
		}
	}
}

// awaitEcho waits, at most bound, until the server has written something
// since the last key was forwarded: the shell's echo or redraw of what was
// typed. On a loaded machine the shell can be slower than settle, and a
// screen read before its echo would judge the line as it was before the
// keys (a recalled or edited command would pass unseen). Keys that echo
// nothing (a password) cost one bound per Enter.
func (g *lineGuard) awaitEcho(ctx context.Context, bound time.Duration) {
	deadline := time.Now().Add(bound)
	for {
		g.mu.Lock()
		echoed := !g.lastOutput.Before(g.lastInput)
		g.mu.Unlock()
		if echoed || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// beginLine notes where a new input line starts (just after the prompt).
func (g *lineGuard) beginLine(ctx context.Context) {
	g.mu.Lock()
	started, sinceEnter := g.started, time.Since(g.lastEnter)
	g.mu.Unlock()
	if started {
		return
	}
	if sinceEnter < maxTypeAhead {
		// Typed ahead right after an Enter: hold the keys until the shell
		// has gone quiet (its next prompt drawn), so they land in the line
		// editor and the line's start is where the prompt ends.
		g.quietFor(ctx, typeAheadSettle, maxTypeAhead)
	}
	g.mu.Lock()
	g.started, g.startX, g.startY, g.startRoll = true, g.scr.x, g.scr.y, g.scr.scrolled
	g.mu.Unlock()
}

// candidate is one reading of the command line on screen.
type candidate struct {
	text    string
	primary bool // the text from where the user started typing
}

// lines reads the current command line off the screen. The primary reading
// is the text from where the user started typing. When that start may be
// wrong (typed ahead before the prompt was drawn, a prompt redrawn
// elsewhere), the text after the last prompt-like "$ ", "# ", "> " or "% "
// and the whole row are read too; the caller judges all of them and keeps
// the most severe verdict, so a misplaced start can over-block but not let
// a line through.
func (g *lineGuard) lines() ([]candidate, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.scr.alt {
		return nil, false
	}
	y := g.startY - (g.scr.scrolled - g.startRoll)
	x := g.startX
	if y < 0 {
		x, y = 0, 0
	}
	start := g.scr.text(x, y)
	row := g.scr.text(0, y)
	best := -1
	for _, p := range []string{"$ ", "# ", "> ", "% "} {
		if i := strings.LastIndex(row, p); i > best {
			best = i
		}
	}
	var out []candidate
	// The text after the prompt comes first: on a tie it is what the
	// decision names (the cleanest reading when the start was misplaced).
	if best >= 0 && row[best+2:] != start {
		out = append(out, candidate{text: row[best+2:]})
	}
	out = append(out, candidate{text: start, primary: true})
	if row != start {
		out = append(out, candidate{text: row})
	}
	return out, true
}

// mostSevere picks the reading the policy judges most severely. Secondary
// readings count only when they parse: a fragment such as the tail of a
// quoted "$ " must not block a line as unparseable.
func (g *lineGuard) mostSevere(cands []candidate) string {
	c := g.c
	p := c.e.deps.Policies.For(c.target.Name)
	pick, rank := "", -1
	for _, cd := range cands {
		if isBlank(cd.text) {
			continue
		}
		if !cd.primary {
			if _, err := policy.ParseCommand(cd.text); err != nil {
				continue
			}
		}
		if r := severity(checkCommand(p, c.subject(), cd.text).Action); r > rank {
			pick, rank = cd.text, r
		}
	}
	return pick
}

func severity(a policy.Action) int {
	switch a {
	case policy.Block:
		return 2
	case policy.Review:
		return 1
	}
	return 0
}

func (g *lineGuard) endLine() {
	g.mu.Lock()
	g.started = false
	g.lastEnter = time.Now()
	g.mu.Unlock()
}

func (g *lineGuard) inAlt() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.scr.alt
}

// tell shows text to the client and keeps the screen model in step.
func (g *lineGuard) tell(text string) {
	_, _ = io.WriteString(g.stdout, text)
	g.output([]byte(text))
	if r := g.rec(); r != nil {
		r.output([]byte(text))
	}
}

// pumpInput relays client keystrokes upstream, judging each line at Enter.
func (g *lineGuard) pumpInput(ctx context.Context, up io.Writer, client io.Reader) {
	buf := make([]byte, 32<<10)
	forward := func(p []byte) bool {
		if len(p) == 0 {
			return true
		}
		g.onInput(p)
		g.mu.Lock()
		g.lastInput = time.Now()
		g.mu.Unlock()
		_, err := up.Write(p)
		return err == nil
	}
	for {
		n, err := client.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			if g.inAlt() {
				if !forward(data) {
					return
				}
				break
			}
			i := bytes.IndexAny(data, "\r\n\x03\x04")
			if i < 0 {
				g.beginLine(ctx)
				if !forward(data) {
					return
				}
				break
			}
			if i > 0 {
				g.beginLine(ctx)
				if !forward(data[:i]) {
					return
				}
			}
			key := data[i : i+1]
			data = data[i+1:]
			if key[0] == 0x03 || key[0] == 0x04 {
				// Ctrl-C abandons the line, Ctrl-D may end the shell.
				if !forward(key) {
					return
				}
				g.endLine()
				continue
			}
			if !g.enter(ctx, up, key, forward) {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// enter judges the line on screen and forwards the Enter only if allowed.
func (g *lineGuard) enter(ctx context.Context, up io.Writer, key []byte, forward func([]byte) bool) bool {
	g.mu.Lock()
	started := g.started
	g.mu.Unlock()
	if !started {
		// Enter on a line nobody typed on: an empty line or a redraw.
		g.beginLine(ctx)
	}
	g.awaitEcho(ctx, maxSettle)
	g.quiet(ctx)
	cands, ok := g.lines()
	line := ""
	if ok {
		line = g.mostSevere(cands)
	}
	if isBlank(line) {
		g.endLine()
		return forward(key)
	}
	v := g.c.judgeCommand(ctx, line, judgement{kind: "command", onHold: func(id string) {
		g.marker("review " + id)
		g.tell(fmt.Sprintf("\r\nsluice: waiting for approval %s ...\r\n", id))
	}})
	g.endLine()
	if v.allowed {
		return forward(key)
	}
	g.marker("blocked " + v.rule)
	// Clear the line upstream, say why, then ask for a fresh prompt.
	if !forward([]byte{ctrlU}) {
		return false
	}
	g.quiet(ctx)
	g.tell("\r\n" + v.message)
	return forward(key)
}

func (g *lineGuard) marker(label string) {
	if r := g.rec(); r != nil {
		r.marker(label)
	}
}

func isBlank(s string) bool {
	return len(bytes.TrimSpace([]byte(s))) == 0
}

// pumpLines relays a shell without a pty line by line, judging each line
// before it reaches the shell. A line longer than maxPendingLine is judged
// as it stands.
func pumpLines(ctx context.Context, c *clientConn, up io.Writer, client io.Reader, onInput func([]byte), stderr io.Writer) {
	buf := make([]byte, 32<<10)
	var pending []byte
	judge := func(line []byte) bool {
		text := string(bytes.TrimRight(line, "\r\n"))
		if isBlank(text) {
			_, err := up.Write(line)
			return err == nil
		}
		v := c.judgeCommand(ctx, text, judgement{kind: "command"})
		if !v.allowed {
			_, _ = io.WriteString(stderr, v.message)
			return true
		}
		_, err := up.Write(line)
		return err == nil
	}
	for {
		n, err := client.Read(buf)
		if n > 0 {
			onInput(buf[:n])
			pending = append(pending, buf[:n]...)
			for {
				i := bytes.IndexByte(pending, '\n')
				if i < 0 && len(pending) < maxPendingLine {
					break
				}
				if i < 0 {
					i = len(pending) - 1
				}
				if !judge(pending[:i+1]) {
					return
				}
				pending = pending[i+1:]
			}
		}
		if err != nil {
			if len(pending) > 0 {
				judge(pending)
			}
			return
		}
	}
}
