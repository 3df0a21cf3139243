package testenv

import (
	"context"
	"testing"
	"time"
)

// forTest starts a server for tb and stops it on cleanup. A start failure
// (a missing binary included) fails the test; nothing here ever skips.
func forTest[S interface{ Stop() error }](tb testing.TB, name string, timeout time.Duration, start func(context.Context) (S, error)) S {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := start(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stop %s: %v", name, err)
		}
	})
	return s
}
