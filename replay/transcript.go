package replay

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-gw/sluice/session"
)

// Transcript layout.
const (
	transcriptWidth  = 100
	transcriptHeight = 30
	maxCell          = 40  // characters of a result cell shown
	maxTyping        = 1.0 // seconds a statement takes to "type", at most
	perRuneTyping    = 0.02
)

// ANSI styles for the transcript; asciinema and terminals render them.
const (
	styleBold   = "\x1b[1m"
	styleDim    = "\x1b[2m"
	styleRed    = "\x1b[31m"
	styleGreen  = "\x1b[32m"
	styleYellow = "\x1b[33m"
	styleReset  = "\x1b[0m"
)

// renderer turns query-log and events-log entries into timed terminal
// output: a prompt, the statement typed out, then its outcome.
type renderer struct {
	rec    session.Record
	prompt string
	cursor float64 // stream time of the last output
	out    []Event
}

func newRenderer(rec session.Record) *renderer {
	where := rec.Database
	if where == "" {
		where = rec.Target
	}
	prompt := rec.Identity + "@" + where + "=> "
	if rec.Protocol == "mysql" {
		prompt = rec.Identity + "@" + where + "> "
	}
	return &renderer{rec: rec, prompt: prompt}
}

// emit appends text at time t (never before the previous output).
func (r *renderer) emit(t float64, text string) {
	if text == "" {
		return
	}
	t = max(t, r.cursor)
	r.cursor = t
	if n := len(r.out); n > 0 && r.out[n-1].Time == t && r.out[n-1].Type == "o" {
		r.out[n-1].Data += text
		return
	}
	r.out = append(r.out, Event{Time: t, Type: "o", Data: text})
}

// take returns and clears the pending output.
func (r *renderer) take() []Event {
	out := r.out
	r.out = nil
	return out
}

func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func (r *renderer) banner() {
	rec := r.rec
	line := fmt.Sprintf("-- sluice session %s: %s -> %s (%s)", rec.ID, rec.Identity, rec.Target, rec.Protocol)
	if rec.ClientAddr != "" {
		line += " from " + rec.ClientAddr
	}
	r.emit(0, styleDim+line+"\r\n-- started "+rec.Start.UTC().Format(time.RFC3339)+styleReset+"\r\n")
}

func (r *renderer) showPrompt(t float64) { r.emit(t, styleBold+r.prompt+styleReset) }

// at is the stream time of a recorded instant.
func (r *renderer) at(t time.Time) float64 {
	if t.IsZero() {
		return r.cursor + 0.5
	}
	return max(t.Sub(r.rec.Start).Seconds(), r.cursor)
}

// query renders one query-log entry. The prompt is already shown.
func (r *renderer) query(e session.QueryEvent) {
	tq := r.at(e.Time)
	stmt := crlf(strings.TrimSpace(e.Statement))
	runes := []rune(stmt)
	typing := min(perRuneTyping*float64(len(runes)), maxTyping, tq-r.cursor)
	chunks := min(len(runes), 10)
	for i := range chunks {
		from, to := i*len(runes)/chunks, (i+1)*len(runes)/chunks
		r.emit(tq-typing+typing*float64(i)/float64(chunks), string(runes[from:to]))
	}
	r.emit(tq, "\r\n")
	if len(e.Params) > 0 {
		r.emit(tq, styleDim+"-- params: "+truncate(strings.Join(e.Params, ", "), 2*maxCell)+styleReset+"\r\n")
	}
	end := tq + e.Duration.Seconds()
	switch e.Decision {
	case "block":
		line := styleRed + "BLOCKED" + styleReset + ruleText(e.Rule) + reasonText(e.Reason)
		if e.SQLState != "" {
			line += "  (SQLSTATE " + e.SQLState + ")"
		}
		r.emit(tq, line+"\r\n")
	case "review-approved", "review-denied", "review-timeout":
		r.emit(tq, styleYellow+"HELD for review"+styleReset+approvalText(e)+ruleText(e.Rule)+", waiting for a reviewer...\r\n")
		switch e.Decision {
		case "review-approved":
			r.emit(end, styleGreen+"APPROVED"+styleReset+byText(e.Reviewer)+reasonText(e.Reason)+"\r\n")
		case "review-denied":
			r.emit(end, styleRed+"DENIED"+styleReset+byText(e.Reviewer)+reasonText(e.Reason)+"\r\n")
		default:
			r.emit(end, styleRed+"NO DECISION before the timeout: denied"+styleReset+"\r\n")
		}
	}
	if e.Decision == "allow" || e.Decision == "review-approved" || e.Decision == "" {
		r.emit(end, result(e))
	} else if e.Error != "" && e.Decision != "block" {
		r.emit(end, errorText(e))
	}
	if len(e.Masked) > 0 {
		r.emit(end, styleDim+"-- masked: "+strings.Join(e.Masked, ", ")+styleReset+"\r\n")
	}
	r.emit(end, "\r\n")
	r.showPrompt(end)
}

func ruleText(rule string) string {
	if rule == "" {
		return ""
	}
	return " by rule " + rule
}

func reasonText(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + crlf(reason)
}

func byText(who string) string {
	if who == "" {
		return ""
	}
	return " by " + who
}

func approvalText(e session.QueryEvent) string {
	if e.Approval == "" {
		return ""
	}
	return " (approval " + e.Approval + ")"
}

func errorText(e session.QueryEvent) string {
	s := styleRed + "ERROR:  " + crlf(e.Error) + styleReset
	if e.SQLState != "" {
		s += "  (SQLSTATE " + e.SQLState + ")"
	}
	return s + "\r\n"
}

// result renders a statement's outcome: an error, a few rows, or the tag.
func result(e session.QueryEvent) string {
	if e.Error != "" || e.SQLState != "" {
		return errorText(e)
	}
	var b strings.Builder
	if len(e.Columns) > 0 {
		writeTable(&b, e.Columns, e.Sample)
		shown := int64(len(e.Sample))
		switch {
		case e.Rows > shown:
			fmt.Fprintf(&b, "... (%d rows, %d shown)\r\n", e.Rows, shown)
		case e.Rows == 1:
			b.WriteString("(1 row)\r\n")
		default:
			fmt.Fprintf(&b, "(%d rows)\r\n", max(e.Rows, shown))
		}
		return b.String()
	}
	if e.Tag != "" {
		return e.Tag + "\r\n"
	}
	if e.Rows > 0 {
		return fmt.Sprintf("(%d rows)\r\n", e.Rows)
	}
	return ""
}

// writeTable writes rows psql-style, cells cut to maxCell characters.
func writeTable(b *strings.Builder, cols []string, rows [][]string) {
	widths := make([]int, len(cols))
	cell := func(row []string, i int) string {
		if i < len(row) {
			return truncate(strings.NewReplacer("\r", " ", "\n", " ", "\x1b", " ").Replace(row[i]), maxCell)
		}
		return ""
	}
	for i, c := range cols {
		widths[i] = utf8.RuneCountInString(truncate(c, maxCell))
		for _, row := range rows {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell(row, i)))
		}
	}
	line := func(vals func(i int) string) {
		for i := range cols {
			if i > 0 {
				b.WriteString(" |")
			}
			v := vals(i)
			b.WriteString(" " + v + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v)))
		}
		b.WriteString("\r\n")
	}
	line(func(i int) string { return truncate(cols[i], maxCell) })
	for i, w := range widths {
		if i > 0 {
			b.WriteString("+")
		}
		b.WriteString(strings.Repeat("-", w+2))
	}
	b.WriteString("\r\n")
	for _, row := range rows {
		line(func(i int) string { return cell(row, i) })
	}
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// event renders an events-log entry (file transfers, forwards, policy events).
func (r *renderer) event(e session.Event) {
	var b strings.Builder
	b.WriteString(styleYellow + "[" + e.Kind + "]" + styleReset)
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		fmt.Fprintf(&b, " %s=%v", k, e.Fields[k])
	}
	r.emit(r.at(e.Time), crlf(b.String())+"\r\n")
}

// transcript is a Stream generated from a query log (or an events log).
type transcript struct {
	lr     *LineReader
	events bool
	r      *renderer
	header Header
	queue  []Event
	eof    bool
}

func newTranscript(rec session.Record, logPath string, events bool) (Stream, error) {
	lr, err := OpenLines(logPath)
	if err != nil {
		return nil, err
	}
	t := &transcript{lr: lr, events: events, r: newRenderer(rec), header: Header{
		Version: 2, Width: transcriptWidth, Height: transcriptHeight, Timestamp: rec.Start.Unix(),
		Env:   map[string]string{"TERM": "xterm-256color", "SHELL": "/bin/sh"},
		Title: fmt.Sprintf("%s@%s (%s) %s", rec.Identity, rec.Target, rec.Protocol, rec.ID),
	}}
	t.r.banner()
	if !events {
		t.r.showPrompt(0)
	}
	return t, nil
}

func (t *transcript) Header() Header { return t.header }

func (t *transcript) Next() (Event, error) {
	for len(t.queue) == 0 {
		if t.eof {
			return Event{}, io.EOF
		}
		t.fill()
		t.queue = append(t.queue, t.r.take()...)
	}
	ev := t.queue[0]
	t.queue = t.queue[1:]
	return ev, nil
}

// fill renders the next log line, or the ending at the end of the log.
func (t *transcript) fill() {
	line, err := t.lr.Next()
	if err != nil {
		t.eof = true
		t.ending()
		return
	}
	if t.events {
		e, err := DecodeEventLine(line)
		if err == nil {
			t.r.event(e)
		}
		return
	}
	e, err := DecodeQueryLine(line)
	if err == nil {
		t.r.query(e)
	}
}

func (t *transcript) ending() {
	rec := t.r.rec
	end := t.r.cursor
	if !rec.End.IsZero() {
		end = max(end, rec.End.Sub(rec.Start).Seconds())
	}
	msg := "\r\n" + styleDim + "-- session " + string(rec.Status)
	if rec.Error != "" {
		msg += ": " + crlf(rec.Error)
	}
	if t.lr.Damaged != nil {
		msg += " (recording ends early: " + t.lr.Damaged.Error() + ")"
	}
	t.r.emit(end, msg+styleReset+"\r\n")
}

func (t *transcript) Close() error { return t.lr.Close() }
