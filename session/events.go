package session

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is one line of a session's events log: file transfers (op, path,
// bytes, sha256), port forwards, policy decisions on terminals, ...
type Event struct {
	Time   time.Time      `json:"time"`
	Kind   string         `json:"kind"`
	Fields map[string]any `json:"fields,omitempty"`
}

// LogEvent appends a non-terminal event to the session's events log. A write
// after Close returns an error, as does a failing record unless fail-open.
func (s *Session) LogEvent(kind string, fields map[string]any) error {
	if s.unrecorded {
		return nil
	}
	if s.closed.Load() || s.events == nil {
		return errClosed
	}
	line, err := json.Marshal(Event{Time: time.Now().UTC(), Kind: kind, Fields: fields})
	if err != nil {
		return fmt.Errorf("encode event %q: %w", kind, err)
	}
	kick, err := s.events.appendLine(line)
	if err != nil {
		return s.recordingError(err)
	}
	if kick {
		s.store.wake()
	}
	return nil
}
