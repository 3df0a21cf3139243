package ssh

import (
	"log/slog"
	"strings"
	"testing"
)

// A panic in one of a connection's goroutines is a bug; it must be logged
// and end that connection, not the gateway.
func TestRecoverBugLogsAndSurvives(t *testing.T) {
	var logged strings.Builder
	c := &clientConn{log: slog.New(slog.NewTextHandler(&logged, nil))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.recoverBug("request handler")
		panic("boom")
	}()
	<-done
	for _, want := range []string{"boom", "request handler", "stack"} {
		if !strings.Contains(logged.String(), want) {
			t.Fatalf("log lacks %q: %s", want, logged.String())
		}
	}
}
