// Package admin is the gateway's HTTP admin API (sessions, approvals,
// metrics, health) and its Go client, which the CLI uses.
//
// Authentication: "Authorization: Bearer <admin token>" (compared in
// constant time), or HTTP Basic "<identity>:<identity token>", acting as
// that identity. /healthz and /metrics need no credentials: they carry no
// secrets and are meant for probes and Prometheus scrapers; keep the admin
// listener on a private address.
package admin

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/replay"
	"github.com/sluice-gw/sluice/session"
)

// Request body and field bounds.
const (
	maxBodyBytes  = 16 << 10
	maxReasonLen  = 1000
	maxListLimit  = 10000
	defaultLimit  = 100
	maxNameLength = 200
)

// Deps are what the admin API serves from.
type Deps struct {
	Config  *config.Config
	Store   *session.Store
	Broker  *policy.Broker
	Metrics *metrics.Metrics
	Auth    *identity.Authenticator
	Log     *slog.Logger
}

type server struct {
	store          *session.Store
	broker         *policy.Broker
	auth           *identity.Authenticator
	log            *slog.Logger
	reviewers      config.Reviewers
	hasAdminToken  bool
	adminTokenHash [32]byte
}

// New returns the admin API handler.
func New(d Deps) http.Handler {
	s := &server{store: d.Store, broker: d.Broker, auth: d.Auth, log: d.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if d.Config != nil {
		s.reviewers = d.Config.Approvals.Reviewers
		if tok := d.Config.Admin.Token.Reveal(); tok != "" {
			s.hasAdminToken = true
			s.adminTokenHash = sha256.Sum256([]byte(tok))
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics.Handler())
	}
	mux.HandleFunc("GET /api/sessions", s.sessionsOnly(s.listSessions))
	mux.HandleFunc("GET /api/sessions/{id}", s.sessionsOnly(s.getSession))
	mux.HandleFunc("GET /api/sessions/{id}/cast", s.sessionsOnly(s.sessionCast))
	mux.HandleFunc("POST /api/sessions/{id}/kill", s.authed(s.killSession))
	mux.HandleFunc("GET /api/approvals", s.authed(s.listApprovals))
	mux.HandleFunc("POST /api/approvals/{id}/approve", s.authed(s.decide(true)))
	mux.HandleFunc("POST /api/approvals/{id}/deny", s.authed(s.decide(false)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type authedHandler func(http.ResponseWriter, *http.Request, *principal)

// authed requires credentials.
func (s *server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.authenticate(r)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice", Basic realm="sluice"`)
			writeError(w, http.StatusUnauthorized, errUnauthenticated)
			return
		}
		h(w, r, p)
	}
}

// sessionsOnly requires credentials allowed to read session records.
func (s *server) sessionsOnly(h authedHandler) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) {
		if !s.mayReadSessions(p) {
			writeError(w, http.StatusForbidden, "only the admin token and approvals reviewers may read sessions")
			return
		}
		h(w, r, p)
	})
}

func (s *server) listSessions(w http.ResponseWriter, r *http.Request, _ *principal) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	recs, err := s.store.List(r.Context(), f)
	if err != nil {
		s.internal(w, "listing sessions", err)
		return
	}
	if recs == nil {
		recs = []session.Record{}
	}
	writeJSON(w, http.StatusOK, SessionList{Sessions: recs})
}

// parseFilter reads ?target=&identity=&protocol=&status=&credential=&since=&limit=.
// since is an RFC 3339 time or a duration back from now ("2h").
func parseFilter(r *http.Request) (session.Filter, error) {
	q := r.URL.Query()
	f := session.Filter{
		Target: q.Get("target"), Identity: q.Get("identity"), Protocol: q.Get("protocol"),
		Status: session.Status(q.Get("status")), CredentialID: q.Get("credential"), Limit: defaultLimit,
	}
	if v := q.Get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			f.Since = t
		} else if d, derr := time.ParseDuration(v); derr == nil && d > 0 {
			f.Since = time.Now().Add(-d)
		} else {
			return f, fmt.Errorf("since: %q is neither an RFC 3339 time nor a duration such as 2h", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return f, fmt.Errorf("limit: %q is not a number from 1 to %d", v, maxListLimit)
		}
		f.Limit = n
	}
	return f, nil
}

func (s *server) getSession(w http.ResponseWriter, r *http.Request, _ *principal) {
	rec, err := s.store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, session.ErrNotFound) {
		writeError(w, http.StatusNotFound, "session not found")
		return
	}
	if err != nil {
		s.internal(w, "reading session", err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *server) killSession(w http.ResponseWriter, r *http.Request, p *principal) {
	if !p.admin {
		writeError(w, http.StatusForbidden, "only the admin token may kill sessions")
		return
	}
	var body KillRequest
	if err := readJSON(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	id := r.PathValue("id")
	if _, err := s.store.Get(r.Context(), id); errors.Is(err, session.ErrNotFound) {
		writeError(w, http.StatusNotFound, "session not found")
		return
	} else if err != nil {
		s.internal(w, "reading session", err)
		return
	}
	reason := strings.TrimSpace(body.Reason)
	if reason == "" {
		reason = "killed by an administrator"
	}
	killed := s.store.Kill(id, truncateRunes(reason, maxReasonLen))
	s.log.Info("session kill", "session", id, "live", killed)
	writeJSON(w, http.StatusOK, KillResult{Killed: killed})
}

func (s *server) listApprovals(w http.ResponseWriter, r *http.Request, _ *principal) {
	out := ApprovalList{Pending: s.broker.Pending(), Recent: s.broker.Recent()}
	if out.Pending == nil {
		out.Pending = []policy.ApprovalRequest{}
	}
	if out.Recent == nil {
		out.Recent = []policy.DecidedRequest{}
	}
	writeJSON(w, http.StatusOK, out)
}

// decide approves or denies. The reviewer is the identity behind the
// credentials, or, with the admin token, the name given in "as".
func (s *server) decide(approve bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		var body DecisionRequest
		if err := readJSON(r, &body); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		as := strings.TrimSpace(body.As)
		if len(as) > maxNameLength || len(body.Reason) > 4*maxReasonLen {
			writeError(w, http.StatusBadRequest, "as or reason is too long")
			return
		}
		var who policy.Reviewer
		switch {
		case p.admin && as == "":
			writeError(w, http.StatusBadRequest, "as: the admin token must name the reviewer (sluice approve ID --as NAME)")
			return
		case p.admin:
			who = policy.Reviewer{Name: as, Admin: true}
		case as != "" && as != p.id.Name:
			writeError(w, http.StatusBadRequest, "as: only the admin token may name another reviewer")
			return
		default:
			who = policy.Reviewer{Name: p.id.Name, Groups: p.id.Groups}
		}
		id := r.PathValue("id")
		out, err := s.broker.Decide(id, approve, who, truncateRunes(strings.TrimSpace(body.Reason), maxReasonLen))
		if err != nil {
			writeError(w, decideStatus(err), err.Error())
			return
		}
		s.log.Info("approval decided", "approval", id, "approved", approve, "reviewer", who.Name, "admin_token", who.Admin)
		writeJSON(w, http.StatusOK, out)
	}
}

func decideStatus(err error) int {
	switch {
	case errors.Is(err, policy.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, policy.ErrAlreadyDecided):
		return http.StatusConflict
	case errors.Is(err, policy.ErrSelfApproval), errors.Is(err, policy.ErrNotReviewer):
		return http.StatusForbidden
	case errors.Is(err, policy.ErrReviewerName):
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

// internal answers 500 without internal detail and logs the detail.
func (s *server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("admin API: "+what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error while "+what)
}

// readJSON decodes an optional, bounded JSON body.
func readJSON(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, errEOF) {
			return nil
		}
		return fmt.Errorf("request body is not valid JSON: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// sessionCast streams the session's recording as asciicast v2 (a terminal
// session's cast, or a database session's transcript).
func (s *server) sessionCast(w http.ResponseWriter, r *http.Request, _ *principal) {
	rec, err := s.store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, session.ErrNotFound) {
		writeError(w, http.StatusNotFound, "session not found")
		return
	}
	if err != nil {
		s.internal(w, "reading session", err)
		return
	}
	cw := &castWriter{w: w}
	err = replay.ExportCast(cw, s.store.Dir(), rec)
	switch {
	case err == nil:
		if !cw.started {
			cw.start()
		}
	case !cw.started && errors.Is(err, fs.ErrNotExist):
		writeError(w, http.StatusNotFound, "this session has no recording")
	case !cw.started:
		s.internal(w, "exporting the recording", err)
	default:
		// Headers are gone; the client sees a truncated body. Log why.
		s.log.Error("admin API: cast export failed mid-stream", "session", rec.ID, "err", err)
	}
}

// castWriter sends the cast headers only once the export has produced bytes,
// so an export that fails early can still answer with a JSON error.
type castWriter struct {
	w       http.ResponseWriter
	started bool
}

func (c *castWriter) start() {
	c.started = true
	c.w.Header().Set("Content-Type", "application/x-asciicast")
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.WriteHeader(http.StatusOK)
}

func (c *castWriter) Write(p []byte) (int, error) {
	if !c.started {
		c.start()
	}
	return c.w.Write(p)
}
