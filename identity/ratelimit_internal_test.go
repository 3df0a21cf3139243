package identity

import (
	"testing"
	"time"
)

// TestLimiterMemoryBound: unique names cannot grow the table past
// MaxEntries; expired entries are swept to make room.
func TestLimiterMemoryBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(RateLimit{Threshold: 1, NameThreshold: 1, MaxEntries: 3, Window: time.Minute}, func() time.Time { return now })
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		l.fail(limitKeys("", n))
	}
	if len(l.entries) != 3 {
		t.Fatalf("entries = %d, want the bound 3", len(l.entries))
	}
	if l.wait(limitKeys("", "a")) == 0 || l.wait(limitKeys("", "e")) != 0 {
		t.Fatal("tracked name not limited, or untracked name limited")
	}
	now = now.Add(2 * time.Minute)
	l.fail(limitKeys("", "f"))
	if _, ok := l.entries["name\x00f"]; !ok || len(l.entries) != 1 {
		t.Fatalf("expired entries not swept: %d entries", len(l.entries))
	}
}

func TestLimitKeysIgnorePort(t *testing.T) {
	a, b := limitKeys("10.0.0.1:1000", "x"), limitKeys("10.0.0.1:2000", "y")
	if a[0] != b[0] {
		t.Fatalf("address keys differ by port: %q %q", a[0], b[0])
	}
	if got := limitKeys("", ""); len(got) != 0 {
		t.Fatalf("keys for nothing: %q", got)
	}
}
