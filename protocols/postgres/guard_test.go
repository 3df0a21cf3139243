package postgres

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// A panic in a relay loop is a bug; it must end that session with an
// error, not take the gateway down with every other session.
func TestGuardTurnsPanicIntoError(t *testing.T) {
	var logged strings.Builder
	r := &relay{log: slog.New(slog.NewTextHandler(&logged, nil))}
	err := r.guard("server loop", func() error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "server loop") {
		t.Fatalf("guard: %v", err)
	}
	if !strings.Contains(logged.String(), "boom") || !strings.Contains(logged.String(), "stack") {
		t.Fatalf("the panic and its stack are not logged: %s", logged.String())
	}
	want := errors.New("plain")
	if err := r.guard("client loop", func() error { return want }); err != want {
		t.Fatalf("guard changed a plain error: %v", err)
	}
}
