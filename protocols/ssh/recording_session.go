package ssh

import "github.com/sluice-gw/sluice/session"

// openCast opens an asciicast recording of one channel on the session.
func (c *clientConn) openCast(cols, rows int, term, title, command string) (castWriter, error) {
	env := map[string]string{}
	if term != "" {
		env["TERM"] = term
	}
	if c.target.Protocol == "command" && len(c.target.Command) > 0 {
		env["SHELL"] = c.target.Command[0]
	}
	return c.sess.OpenCast(session.CastHeader{Width: cols, Height: rows, Env: env, Title: title, Command: command})
}

// logEvent appends a non-terminal event (exec, transfer, denial) to the
// session's event log. A failing record ends the session unless fail-open.
func (c *clientConn) logEvent(kind string, fields map[string]any) {
	if err := c.sess.LogEvent(kind, fields); err != nil {
		c.log.Error("session event log failed", "kind", kind, "err", err)
		if !c.e.cfg.RecordingFor(c.target).FailOpen {
			c.sconn.Close()
		}
	}
}

func (c *clientConn) countBytes(direction string, n int) {
	if direction == "in" {
		c.bytesIn.Add(float64(n))
	} else {
		c.bytesOut.Add(float64(n))
	}
}
