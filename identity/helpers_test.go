package identity_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
)

// fakeClock is an injectable clock: tests move time instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testTokenKey = "test-token-key-0123456789"

// testAuth parses a config (identities etc. in yaml) and builds an
// Authenticator on clock, logging audit events into the returned buffer.
func testAuth(t *testing.T, yaml string, clock *fakeClock, tune ...func(*identity.Options)) (*identity.Authenticator, *config.Config, *syncBuffer) {
	t.Helper()
	full := fmt.Sprintf("data_dir: %s\n%s", t.TempDir(), yaml)
	cfg, err := config.Parse([]byte(full), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, full)
	}
	logs := &syncBuffer{}
	opts := identity.Options{Log: slog.New(slog.NewTextHandler(logs, nil))}
	if clock != nil {
		opts.Now = clock.Now
	}
	for _, f := range tune {
		f(&opts)
	}
	a, err := identity.NewWithOptions(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a, cfg, logs
}

// noRateLimit lets table tests fail many times in a row.
func noRateLimit(o *identity.Options) { o.RateLimit.Threshold = 1 << 20 }

func parseConfig(yaml string) (*config.Config, error) {
	return config.Parse([]byte(yaml), "test.yaml", func(string) (string, bool) { return "", false })
}

func indent(s string) string { return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ") }
