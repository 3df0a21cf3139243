package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Status is how a session ended.
type Status string

// Session end states.
const (
	StatusActive Status = "active"
	StatusOK     Status = "closed"
	StatusFailed Status = "failed"
	StatusKilled Status = "killed"
)

// Info is what is known about a session when it opens.
type Info struct {
	Protocol   string // postgres | mysql | ssh | command
	Target     string
	Identity   string
	Groups     []string
	AuthMethod string
	ClientAddr string
	// Tags are client-supplied labels: application_name, other startup
	// parameters, sqlcommenter tags.
	Tags map[string]string
	// Database or upstream user, for display.
	Database string
	// CredentialID names the credential the session was opened with when it
	// can be revoked (a gateway token's id), so KillCredential can end it
	// and an audit can tell which token a session used (Record.CredentialID).
	CredentialID string
}

// QueryEvent is one line of a database session's query log.
type QueryEvent struct {
	Seq       int64             `json:"seq"`
	Time      time.Time         `json:"time"`
	Statement string            `json:"statement"`
	Params    []string          `json:"params,omitempty"`
	Duration  time.Duration     `json:"duration_ns"`
	Rows      int64             `json:"rows"`
	Tag       string            `json:"tag,omitempty"`
	SQLState  string            `json:"sqlstate,omitempty"`
	Error     string            `json:"error,omitempty"`
	Decision  string            `json:"decision"` // allow | block | review-approved | review-denied | review-timeout
	Rule      string            `json:"rule,omitempty"`
	Approval  string            `json:"approval,omitempty"`
	Reviewer  string            `json:"reviewer,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Masked    []string          `json:"masked,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
	// Sample holds the first few result rows as text, for the replay transcript.
	Columns []string   `json:"columns,omitempty"`
	Sample  [][]string `json:"sample,omitempty"`
}

// Options configure a Store.
type Options struct {
	// FlushInterval bounds what a crash can lose (default 1s).
	FlushInterval time.Duration
	Log           *slog.Logger
	// ReadOnly opens an existing data dir to read the index only (the CLI,
	// possibly while a gateway runs): no directory is created and Open fails.
	ReadOnly bool
	// SealKey authenticates seals (recording.seal_key): written with each
	// seal, checked by Verify. Nil: seals carry no MAC and none is checked.
	SealKey []byte
}

// Recording is the effective recording setting of one session (the target's
// override or the global one), resolved by the engine from config.
type Recording struct {
	OmitParams  bool // drop bind parameters from the query log
	FailOpen    bool // keep the session going when its record cannot be written
	RecordInput bool // record terminal input ("i" events)
}

// Filter selects sessions from the index.
type Filter struct {
	Target   string
	Identity string
	Protocol string
	Status   Status
	// CredentialID selects the sessions opened with one gateway token
	// (Record.CredentialID): what a revoked token was used for.
	CredentialID string
	Since        time.Time
	Limit        int
}

// Record is a session's index row.
type Record struct {
	ID           string            `json:"id"`
	Protocol     string            `json:"protocol"`
	Target       string            `json:"target"`
	Identity     string            `json:"identity"`
	Groups       []string          `json:"groups,omitempty"`
	AuthMethod   string            `json:"auth_method,omitempty"`
	CredentialID string            `json:"credential_id,omitempty"` // Info.CredentialID: a gateway token's id, never the token
	ClientAddr   string            `json:"client_addr"`
	Database     string            `json:"database,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	Start        time.Time         `json:"start"`
	End          time.Time         `json:"end,omitzero"`
	Status       Status            `json:"status"`
	Error        string            `json:"error,omitempty"`
	Queries      int64             `json:"queries"`
	// Files are the session's recording files, relative to the data dir.
	Files []string `json:"files,omitempty"`
}

// ErrNotFound is returned for an unknown session id.
var ErrNotFound = errors.New("session not found")

// Recording file names inside a session directory.
const (
	QueryLogFile = "queries.jsonl.zst"
	EventLogFile = "events.jsonl.zst"
	ChainFile    = "chain.jsonl"
	SealFile     = "seal.json"
	indexFile    = "index.db"
)

// Store is where sessions are recorded and indexed.
type Store struct {
	dir      string
	opts     Options
	log      *slog.Logger
	idx      *index
	enc      *zstd.Encoder
	readOnly bool
	// create opens a new record file; tests point it at a failing device.
	create func(path string) (recordFile, error)

	mu     sync.Mutex
	live   map[string]*Session
	closed bool
	// revoked holds the credentials KillCredential ended recently, with
	// when, so a session whose login was verified just before cannot open
	// unnoticed just after.
	revoked map[string]revokedCredential

	kick     chan struct{}
	stopLoop context.CancelFunc
	loopDone chan struct{}
}

// OpenStore opens (creating) the data dir and its index.
func OpenStore(dataDir string, opts Options) (*Store, error) {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	st := &Store{dir: dataDir, opts: opts, log: opts.Log, readOnly: opts.ReadOnly, create: createFile,
		live: map[string]*Session{}, kick: make(chan struct{}, 1), loopDone: make(chan struct{})}
	ctx := context.Background()
	if opts.ReadOnly {
		if _, err := os.Stat(filepath.Join(dataDir, indexFile)); err != nil {
			return nil, fmt.Errorf("open session index in %s: %w", dataDir, err)
		}
		idx, err := openIndex(ctx, filepath.Join(dataDir, indexFile), true)
		if err != nil {
			return nil, err
		}
		st.idx = idx
		close(st.loopDone)
		return st, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	idx, err := openIndex(ctx, filepath.Join(dataDir, indexFile), false)
	if err != nil {
		return nil, err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		idx.close()
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	st.idx, st.enc = idx, enc
	// One gateway writes a data dir: rows still active are sessions of a
	// previous process that stopped without closing them.
	if err := idx.markAbandoned(ctx); err != nil {
		enc.Close()
		idx.close()
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	st.stopLoop = cancel
	go st.flushLoop(loopCtx)
	return st, nil
}

// Dir is the data dir.
func (st *Store) Dir() string { return st.dir }

// flushLoop is the store's one background writer: it compresses and writes
// every live session's buffers each FlushInterval, or early when a buffer
// grows past kickSize. It exits when the store closes.
func (st *Store) flushLoop(ctx context.Context) {
	defer close(st.loopDone)
	t := time.NewTicker(st.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-st.kick:
		}
		st.mu.Lock()
		live := make([]*Session, 0, len(st.live))
		for _, s := range st.live {
			live = append(live, s)
		}
		st.mu.Unlock()
		for _, s := range live {
			s.flush()
		}
	}
}

func (st *Store) wake() {
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// Close flushes and closes every open session record and the index.
func (st *Store) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	live := make([]*Session, 0, len(st.live))
	for _, s := range st.live {
		live = append(live, s)
	}
	st.mu.Unlock()
	var errs []error
	for _, s := range live {
		cause := &KilledError{Reason: "gateway shutting down"}
		s.cancel(cause)
		errs = append(errs, s.Close(StatusKilled, cause))
	}
	if st.stopLoop != nil {
		st.stopLoop()
	}
	<-st.loopDone
	if st.enc != nil {
		errs = append(errs, st.enc.Close())
	}
	errs = append(errs, st.idx.close())
	return errors.Join(errs...)
}

// newID returns a time-prefixed, sortable, unique-enough session id.
func newID(now time.Time) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails on supported platforms
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(rnd[:])
}

// sessionDir is the directory of a session, relative to the data dir.
func sessionDir(id string) string {
	day := id
	if len(id) >= 8 {
		day = id[:8]
	}
	return filepath.Join("sessions", day, id)
}

// Open starts recording a session. It fails when the record cannot be
// written and rec.FailOpen is false. The session's Context is cancelled by
// Kill or when ctx is done.
func (st *Store) Open(ctx context.Context, info Info, rec Recording) (*Session, error) {
	if st.readOnly {
		return nil, errors.New("session store is read-only")
	}
	now := time.Now()
	c, cancel := context.WithCancelCause(ctx)
	s := &Session{store: st, rec: rec, ctx: c, cancel: cancel, credentialID: info.CredentialID}
	s.record = Record{
		ID: newID(now), Protocol: info.Protocol, Target: info.Target, Identity: info.Identity,
		Groups: info.Groups, AuthMethod: info.AuthMethod, CredentialID: info.CredentialID, ClientAddr: info.ClientAddr,
		Database: info.Database, Tags: maps.Clone(info.Tags), Start: now.UTC(), Status: StatusActive,
	}
	s.head = chainStart(s.record.ID)
	err := s.create(ctx, isDatabase(info.Protocol))
	if err != nil {
		if !rec.FailOpen {
			s.abandon()
			cancel(err)
			return nil, fmt.Errorf("recording session: %w", err)
		}
		// Fail open: the session runs unrecorded; say so loudly once.
		st.log.Warn("session recording failed; continuing unrecorded (fail_open)", "session", s.record.ID, "err", err)
		s.abandon()
		s.unrecorded = true
	}
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		cancel(errors.New("gateway shutting down"))
		return nil, errors.New("session store is closed")
	}
	st.live[s.record.ID] = s
	if info.CredentialID != "" {
		if rc, ok := st.revoked[info.CredentialID]; ok && now.Sub(rc.at) < revokedGrace {
			// Its credential was revoked between the login and now: the
			// engine sees a killed session, as if it had been live then.
			cancel(&KilledError{Reason: rc.reason})
		}
	}
	st.mu.Unlock()
	return s, nil
}

func isDatabase(protocol string) bool { return protocol == "postgres" || protocol == "mysql" }

// create makes the session directory, its first record files and the index row.
func (s *Session) create(ctx context.Context, database bool) error {
	st := s.store
	s.relDir = sessionDir(s.record.ID)
	abs := filepath.Join(st.dir, s.relDir)
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("create session dir: %w", err)
	}
	chain, err := st.create(filepath.Join(abs, ChainFile))
	if err != nil {
		return fmt.Errorf("create chain file: %w", err)
	}
	s.chain = chain
	if database {
		w, err := s.addStream(QueryLogFile)
		if err != nil {
			return err
		}
		s.queries = w
	}
	w, err := s.addStream(EventLogFile)
	if err != nil {
		return err
	}
	s.events = w
	if err := st.idx.insert(ctx, &s.record); err != nil {
		return err
	}
	s.indexed = true
	return nil
}

// addStream creates a record file and lists it in the record.
func (s *Session) addStream(name string) (*stream, error) {
	f, err := s.store.create(filepath.Join(s.store.dir, s.relDir, name))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	w := &stream{name: name, f: f}
	s.streams = append(s.streams, w)
	s.record.Files = append(s.record.Files, filepath.ToSlash(filepath.Join(s.relDir, name)))
	return w, nil
}

// abandon releases whatever create managed to open; the session records nothing.
func (s *Session) abandon() {
	for _, w := range s.streams {
		w.f.Close()
	}
	if s.chain != nil {
		s.chain.Close()
	}
	s.streams, s.queries, s.events, s.chain = nil, nil, nil, nil
}

// List returns index rows, newest first.
func (st *Store) List(ctx context.Context, f Filter) ([]Record, error) { return st.idx.list(ctx, f) }

// Get returns one index row or ErrNotFound.
func (st *Store) Get(ctx context.Context, id string) (Record, error) {
	r, _, err := st.idx.get(ctx, id)
	return r, err
}

// Kill ends a live session with a user-visible reason. It reports whether the session was live.
func (st *Store) Kill(id, reason string) bool {
	st.mu.Lock()
	s, ok := st.live[id]
	st.mu.Unlock()
	if !ok {
		return false
	}
	s.cancel(&KilledError{Reason: reason})
	return true
}

// revokedGrace is how long KillCredential keeps refusing a credential's new
// sessions: longer than a login takes from the credential check to Open.
const revokedGrace = time.Minute

type revokedCredential struct {
	reason string
	at     time.Time
}

// KillCredential ends every live session opened with credentialID
// (Info.CredentialID) with a *KilledError carrying reason, and returns their
// index rows as they were when killed, oldest first. For a minute after,
// a session opened with the same credential starts killed: its login was
// checked before the revocation and it reached Open after this call. An
// empty credentialID kills nothing.
func (st *Store) KillCredential(credentialID, reason string) []Record {
	if credentialID == "" {
		return nil
	}
	now := time.Now()
	st.mu.Lock()
	for id, rc := range st.revoked {
		if now.Sub(rc.at) >= revokedGrace {
			delete(st.revoked, id)
		}
	}
	if st.revoked == nil {
		st.revoked = map[string]revokedCredential{}
	}
	st.revoked[credentialID] = revokedCredential{reason: reason, at: now}
	var hit []*Session
	for _, s := range st.live {
		if s.credentialID == credentialID {
			hit = append(hit, s)
		}
	}
	st.mu.Unlock()
	out := make([]Record, 0, len(hit))
	for _, s := range hit {
		s.cancel(&KilledError{Reason: reason})
		out = append(out, s.snapshot())
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	return out
}
