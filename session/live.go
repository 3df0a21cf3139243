package session

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Session is one live session's record.
type Session struct {
	store  *Store
	rec    Recording
	ctx    context.Context
	cancel context.CancelCauseFunc

	// Set at open, then read-only.
	relDir     string
	queries    *stream // nil for non-database sessions
	events     *stream
	unrecorded bool // fail-open session whose record could not be created
	indexed    bool
	// credentialID is Info.CredentialID (KillCredential matches on it).
	credentialID string

	seq atomic.Int64 // queries logged

	// flushMu serialises file writes and the hash chain.
	flushMu sync.Mutex
	streams []*stream
	chain   recordFile
	head    [32]byte
	chunks  int
	frame   []byte
	nCasts  int
	failed  error // first write failure (also in the stream)

	mu     sync.Mutex // guards record (tags, files, end state)
	record Record

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// ID is the session id (also the recording's name).
func (s *Session) ID() string { return s.record.ID }

// Context is cancelled when the session is killed (cause: a *KilledError) or the gateway drains.
func (s *Session) Context() context.Context { return s.ctx }

// SetTag records a client tag learned after open.
func (s *Session) SetTag(k, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.record.Tags == nil {
		s.record.Tags = map[string]string{}
	}
	s.record.Tags[k] = v
}

// LogQuery appends a query-log line. It is cheap (buffered); an error means
// the record is failing and, unless fail-open, the engine must end the session.
func (s *Session) LogQuery(e QueryEvent) error {
	if s.queries == nil {
		if s.unrecorded {
			return nil
		}
		if s.closed.Load() {
			return errClosed
		}
		return errors.New("session has no query log (not a database session)")
	}
	w := s.queries
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		if s.rec.FailOpen {
			return nil
		}
		return err
	}
	w.buf = appendQueryEvent(w.buf, &e, s.rec.OmitParams)
	w.buf = append(w.buf, '\n')
	kick := len(w.buf) >= kickSize
	w.mu.Unlock()
	s.seq.Add(1)
	if kick {
		s.store.wake()
	}
	return nil
}

// flush writes pending buffers now (the flusher and tests call it).
func (s *Session) flush() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.flushLocked()
}

// recordFailure notes the first write failure. The caller holds flushMu.
func (s *Session) recordFailure(err error) {
	if s.failed != nil {
		return
	}
	s.failed = err
	s.store.log.Error("session recording failed", "session", s.record.ID, "fail_open", s.rec.FailOpen, "err", err)
}

// Close ends the session exactly once: flushes and seals the record and
// updates the index. Later calls are no-ops.
func (s *Session) Close(status Status, cause error) error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.finish(status, cause)
		s.store.mu.Lock()
		delete(s.store.live, s.record.ID)
		s.store.mu.Unlock()
		s.cancel(cause)
	})
	return s.closeErr
}

func (s *Session) finish(status Status, cause error) error {
	if s.unrecorded {
		return nil
	}
	s.flushMu.Lock()
	var errs []error
	for _, w := range s.streams {
		errs = append(errs, s.finishStreamLocked(w))
	}
	head := s.head
	sealErr := s.writeSeal(status)
	errs = append(errs, sealErr)
	s.flushMu.Unlock()

	s.mu.Lock()
	s.record.End = time.Now().UTC()
	s.record.Status = status
	if cause != nil {
		s.record.Error = userText(cause)
	}
	s.record.Queries = s.seq.Load()
	s.mu.Unlock()
	rec := s.snapshot()
	if s.indexed {
		// The index must learn of the end even when the caller's context is gone.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		seal := ""
		if sealErr == nil {
			seal = hex.EncodeToString(head[:])
		}
		errs = append(errs, s.store.idx.finish(ctx, &rec, seal))
	}
	return errors.Join(errs...)
}

// snapshot copies the record, so it can be read while the session goes on.
func (s *Session) snapshot() Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.record
	rec.Files = slices.Clone(s.record.Files)
	rec.Tags = maps.Clone(s.record.Tags)
	rec.Groups = slices.Clone(s.record.Groups)
	return rec
}

// userText is what the index shows for a session's end cause: the
// user-visible reason for a kill, the error text otherwise.
func userText(err error) string {
	var ke *KilledError
	if errors.As(err, &ke) {
		return ke.Error()
	}
	return err.Error()
}

// KilledError is the cause of a session killed through the admin API, by a
// revocation of its credential (Store.KillCredential) or a gateway shutdown.
type KilledError struct{ Reason string }

func (e *KilledError) Error() string { return "session ended by an administrator: " + e.Reason }
