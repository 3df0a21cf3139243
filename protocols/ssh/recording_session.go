package ssh

// openCast opens an asciicast recording on the session. It returns a nil
// writer when the session store does not record terminals.
func (c *clientConn) openCast(cols, rows int, term, title string) (castWriter, error) {
	return nil, nil
}

// logEvent appends a non-terminal event (exec, transfer, denial) to the
// session's event log.
func (c *clientConn) logEvent(kind string, fields map[string]any) {
	c.log.Info("ssh event", "kind", kind)
}

func (c *clientConn) countBytes(direction string, n int) {
	c.e.deps.Metrics.Bytes.WithLabelValues(c.protocol(), c.target.Name, direction).Add(float64(n))
}
