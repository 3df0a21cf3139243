package policy

import (
	"sync"
	"sync/atomic"
)

// Cache bounds. A text longer than maxCachedText (bulk INSERTs) is analysed
// every time rather than pinning its memory.
const (
	cacheEntries  = 4096
	cacheKeyBytes = 8 << 20 // per cache: bounds memory when texts are long
	maxCachedText = 16 << 10
)

// dialectCache holds analyses by exact text and by literal-normalized key.
type dialectCache struct {
	exact clockCache
	norm  clockCache
}

func (c *dialectCache) init() {
	c.exact.init(cacheEntries)
	c.norm.init(cacheEntries)
}

// clockCache is a bounded map with second-chance (CLOCK-like) eviction: a
// hit only sets an atomic flag, so lookups share a read lock and never
// allocate.
type clockCache struct {
	mu       sync.RWMutex
	m        map[string]*cacheEntry
	max      int
	bytes    int // total key length
	maxBytes int
}

type cacheEntry struct {
	a    *analysis
	used atomic.Bool
}

func (c *clockCache) init(max int) {
	c.m = make(map[string]*cacheEntry, max)
	c.max = max
	c.maxBytes = cacheKeyBytes
}

func (c *clockCache) get(key string) *analysis {
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	if e == nil {
		return nil
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e.a
}

func (c *clockCache) put(key string, a *analysis) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return
	}
	for len(c.m) > 0 && (len(c.m) >= c.max || c.bytes+len(key) > c.maxBytes) {
		c.evictLocked()
	}
	c.m[key] = &cacheEntry{a: a}
	c.bytes += len(key)
}

// evictLocked drops about an eighth of the entries, preferring those not
// used since the last sweep; used ones get a second chance.
func (c *clockCache) evictLocked() {
	want := c.max / 8
	if want < 1 {
		want = 1
	}
	for pass := 0; pass < 2 && want > 0; pass++ {
		for k, e := range c.m {
			if want == 0 {
				break
			}
			if pass == 0 && e.used.Load() {
				e.used.Store(false)
				continue
			}
			delete(c.m, k)
			c.bytes -= len(k)
			want--
		}
	}
}

func (c *clockCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
