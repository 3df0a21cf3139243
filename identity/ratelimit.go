package identity

import (
	"math"
	"net"
	"strings"
	"sync"
	"time"
)

// RateLimit configures the failed-authentication backoff. Failures are
// counted per client address and per presented identity name; once a key
// has its threshold of failures within Window, each further attempt must
// wait Base * 2^(failures-threshold), capped at Max, after the last
// failure. Attempts made while waiting are refused without checking the
// secret and do not extend the wait (the client is told how long it is).
//
// An address is limited after Threshold failures; a name only after
// NameThreshold (from any addresses). The name's count is there against
// guessing spread over many addresses; were it as low as an address's, one
// attacker could lock anybody out by failing a few times under their name.
type RateLimit struct {
	Threshold int
	// NameThreshold defaults to 10 * Threshold.
	NameThreshold int
	Window        time.Duration
	Base          time.Duration
	Max           time.Duration
	// MaxEntries bounds memory: at most this many keys are tracked.
	MaxEntries int
}

// DefaultRateLimit: 5 free failures per address (50 per name) in 15
// minutes, then 1s, 2s, 4s ... up to 5 minutes. One address, backing off,
// reaches about 15 failures in a window: a name's backoff takes several.
var DefaultRateLimit = RateLimit{Threshold: 5, NameThreshold: 50, Window: 15 * time.Minute, Base: time.Second, Max: 5 * time.Minute, MaxEntries: 100_000}

func (r RateLimit) withDefaults() RateLimit {
	d := DefaultRateLimit
	if r.Threshold > 0 {
		d.Threshold = r.Threshold
	}
	switch {
	case r.NameThreshold > 0:
		d.NameThreshold = r.NameThreshold
	case d.Threshold > math.MaxInt/10:
		d.NameThreshold = math.MaxInt
	default:
		d.NameThreshold = 10 * d.Threshold
	}
	if r.Window > 0 {
		d.Window = r.Window
	}
	if r.Base > 0 {
		d.Base = r.Base
	}
	if r.Max > 0 {
		d.Max = r.Max
	}
	if r.MaxEntries > 0 {
		d.MaxEntries = r.MaxEntries
	}
	return d
}

type failureRecord struct {
	count int
	last  time.Time
}

// limiter counts failures per key. It is driven by an injected clock so
// tests show the backoff by counting, not by sleeping.
type limiter struct {
	cfg RateLimit
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*failureRecord
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	return &limiter{cfg: cfg.withDefaults(), now: now, entries: map[string]*failureRecord{}}
}

// nameKeyPrefix marks a presented name's key (an address key starts "addr\x00").
const nameKeyPrefix = "name\x00"

// limitKeys are the keys an attempt is counted under: the client's host
// (the port changes with every connection) and the presented name.
func limitKeys(addr, name string) []string {
	keys := make([]string, 0, 2)
	if addr != "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
		keys = append(keys, "addr\x00"+addr)
	}
	if name != "" {
		keys = append(keys, nameKeyPrefix+name)
	}
	return keys
}

// wait is how long the longest-limited key must still wait; 0 = go ahead.
func (l *limiter) wait(keys []string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var longest time.Duration
	for _, k := range keys {
		rec, ok := l.entries[k]
		if !ok {
			continue
		}
		if now.Sub(rec.last) > l.cfg.Window {
			delete(l.entries, k)
			continue
		}
		threshold := l.cfg.Threshold
		if strings.HasPrefix(k, nameKeyPrefix) {
			threshold = l.cfg.NameThreshold
		}
		if rec.count < threshold {
			continue
		}
		if w := rec.last.Add(l.backoff(rec.count - threshold)).Sub(now); w > longest {
			longest = w
		}
	}
	return longest
}

// backoff after n failures beyond the key's threshold.
func (l *limiter) backoff(n int) time.Duration {
	if n >= 30 {
		return l.cfg.Max
	}
	d := l.cfg.Base << n
	if d > l.cfg.Max || d <= 0 {
		return l.cfg.Max
	}
	return d
}

func (l *limiter) fail(keys []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		rec, ok := l.entries[k]
		if ok && now.Sub(rec.last) > l.cfg.Window {
			rec.count = 0
		}
		if !ok {
			if len(l.entries) >= l.cfg.MaxEntries {
				l.sweepLocked(now)
			}
			if len(l.entries) >= l.cfg.MaxEntries {
				// Full of live entries: the other key still counts this
				// failure; refusing to track is better than unbounded memory.
				continue
			}
			rec = &failureRecord{}
			l.entries[k] = rec
		}
		rec.count++
		rec.last = now
	}
}

// succeed forgets the failures of a name that just proved its secret. The
// address keeps its count: an attacker holding one valid account must not
// be able to reset the backoff of the address it is guessing from.
func (l *limiter) succeed(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, nameKeyPrefix+name)
}

func (l *limiter) sweepLocked(now time.Time) {
	for k, rec := range l.entries {
		if now.Sub(rec.last) > l.cfg.Window {
			delete(l.entries, k)
		}
	}
}
