// Package session owns a session's lifecycle and its record: the index row,
// the query log (databases) and the terminal recordings (shells).
//
// API CONTRACT (engines rely on it; keep signatures stable):
//
//	store, err := session.OpenStore(dataDir, session.Options{...})
//	s, err := store.Open(ctx, session.Info{...})   // refuses when the record cannot be written (fail closed)
//	s.LogQuery(session.QueryEvent{...})              // cheap, buffered, flushed at least every FlushInterval
//	s.SetTags / s.AddTag                             // client tags learned after open
//	s.Close(session.StatusOK, nil)                   // exactly once; later calls are no-ops
package session

import (
	"context"
	"errors"
	"log/slog"
	"time"
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
	Since    time.Time
	Limit    int
}

// Record is a session's index row.
type Record struct {
	ID         string            `json:"id"`
	Protocol   string            `json:"protocol"`
	Target     string            `json:"target"`
	Identity   string            `json:"identity"`
	Groups     []string          `json:"groups,omitempty"`
	AuthMethod string            `json:"auth_method,omitempty"`
	ClientAddr string            `json:"client_addr"`
	Database   string            `json:"database,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Start      time.Time         `json:"start"`
	End        time.Time         `json:"end,omitzero"`
	Status     Status            `json:"status"`
	Error      string            `json:"error,omitempty"`
	Queries    int64             `json:"queries"`
	// Files are the session's recording files, relative to the data dir.
	Files []string `json:"files,omitempty"`
}

// ErrNotFound is returned for an unknown session id.
var ErrNotFound = errors.New("session not found")

// Store is where sessions are recorded and indexed.
// SIGNATURES ARE THE CONTRACT; bodies are placeholders until the recording work lands.
type Store struct{ dir string }

// OpenStore opens (creating) the data dir and its index.
func OpenStore(dataDir string, opts Options) (*Store, error) { return &Store{dir: dataDir}, nil }

// Dir is the data dir.
func (st *Store) Dir() string { return st.dir }

// Close flushes and closes every open session record and the index.
func (st *Store) Close() error { return nil }

// Open starts recording a session. It fails when the record cannot be
// written and rec.FailOpen is false. The session's Context is cancelled by
// Kill or when ctx is done.
func (st *Store) Open(ctx context.Context, info Info, rec Recording) (*Session, error) {
	c, cancel := context.WithCancelCause(ctx)
	return &Session{id: "placeholder", ctx: c, cancel: cancel}, nil
}

// List returns index rows, newest first.
func (st *Store) List(ctx context.Context, f Filter) ([]Record, error) { return nil, nil }

// Get returns one index row or ErrNotFound.
func (st *Store) Get(ctx context.Context, id string) (Record, error) { return Record{}, ErrNotFound }

// Kill ends a live session with a user-visible reason. It reports whether the session was live.
func (st *Store) Kill(id, reason string) bool { return false }

// Session is one live session's record.
type Session struct {
	id     string
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// ID is the session id (also the recording's name).
func (s *Session) ID() string { return s.id }

// Context is cancelled when the session is killed (cause: a *KilledError) or the gateway drains.
func (s *Session) Context() context.Context { return s.ctx }

// SetTag records a client tag learned after open.
func (s *Session) SetTag(k, v string) {}

// LogQuery appends a query-log line. It is cheap (buffered); an error means
// the record is failing and, unless fail-open, the engine must end the session.
func (s *Session) LogQuery(e QueryEvent) error { return nil }

// Close ends the session exactly once: flushes and seals the record and
// updates the index. Later calls are no-ops.
func (s *Session) Close(status Status, cause error) error { s.cancel(nil); return nil }

// KilledError is the cause of a session killed through the admin API.
type KilledError struct{ Reason string }

func (e *KilledError) Error() string { return "session ended by an administrator: " + e.Reason }
