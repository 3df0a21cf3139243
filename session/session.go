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

// Store is where sessions are recorded and indexed.
// TEMPORARY placeholder until the recording package lands.
type Store struct{}
