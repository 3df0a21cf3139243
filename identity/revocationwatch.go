package identity

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// WatchRevocations polls the revocation list in data_dir every interval
// until ctx is done, and calls fn with the token ids that appeared on it
// since the previous look, sorted. The first look reports every id listed,
// so a caller that ends the sessions of reported tokens needs no other
// starting point. A poll is one stat of the file; the file is read only when
// its inode, modification time or size changed.
//
// An unreadable or corrupt list reports nothing (there is nothing to trust
// in it) and is logged as an error once, until it is readable again; new
// logins with gateway tokens are refused meanwhile (verification fails
// closed). A missing file is an empty list.
//
// A non-positive interval means one second. fn runs on the watching
// goroutine: a slow fn delays the next poll. Without a data_dir there is
// nothing to watch and WatchRevocations returns at once.
func (a *Authenticator) WatchRevocations(ctx context.Context, interval time.Duration, fn func(ids []string)) {
	if a.revoked.path == "" {
		return
	}
	if interval <= 0 {
		interval = time.Second
	}
	w := &revocationWatch{r: a.revoked, log: a.log}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ids := w.poll(ctx); len(ids) > 0 {
			fn(ids)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// revocationWatch is one watcher's memory of what it has reported.
type revocationWatch struct {
	r   *revocations
	log *slog.Logger

	looked  bool
	gen     uint64
	seen    map[string]struct{} // the set at the last good look; shared, read-only
	failing string              // the error being reported, so it is logged once
}

// poll returns the ids listed now that were not at the last good look.
func (w *revocationWatch) poll(ctx context.Context) []string {
	ids, gen, err := w.r.current()
	if err != nil {
		if msg := err.Error(); msg != w.failing {
			w.failing = msg
			w.log.LogAttrs(ctx, slog.LevelError, "revocation list unreadable: open sessions are not checked against it, new gateway-token logins are refused",
				slog.String("event", "revocation_list_error"), slog.String("err", msg))
		}
		return nil
	}
	if w.failing != "" {
		w.failing = ""
		w.log.LogAttrs(ctx, slog.LevelInfo, "revocation list readable again", slog.String("event", "revocation_list_ok"))
	}
	if w.looked && gen == w.gen {
		return nil
	}
	var fresh []string
	for id := range ids {
		if _, ok := w.seen[id]; !ok {
			fresh = append(fresh, id)
		}
	}
	w.looked, w.gen, w.seen = true, gen, ids
	slices.Sort(fresh)
	return fresh
}
