package policy

import (
	"strings"
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

// Per-database caches are smaller, and there are at most maxDBCaches of
// them (a session switching through more databases starts them afresh).
const (
	maxDBCaches     = 16
	dbCacheEntries  = 1024
	dbCacheKeyBytes = 1 << 20
)

// dbCaches holds MySQL analyses per current database, for a policy whose
// column masks name a schema: what an unqualified name masks then depends
// on the database it resolves against.
type dbCaches struct {
	mu sync.RWMutex
	m  map[string]*dialectCache
}

func (c *dbCaches) get(db string) *dialectCache {
	c.mu.RLock()
	dc := c.m[db]
	c.mu.RUnlock()
	if dc != nil {
		return dc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if dc = c.m[db]; dc != nil {
		return dc
	}
	if c.m == nil || len(c.m) >= maxDBCaches {
		c.m = map[string]*dialectCache{}
	}
	dc = &dialectCache{}
	for _, cc := range []*clockCache{&dc.exact, &dc.norm} {
		cc.init(dbCacheEntries)
		cc.maxBytes = dbCacheKeyBytes
	}
	c.m[strings.Clone(db)] = dc
	return dc
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
