// Package postgres is the Postgres engine: it terminates the client's
// connection (TLS, SCRAM), authenticates a Sluice identity, dials the target
// with the gateway's own credentials, and relays every message, decoded with
// pgproto3, through policy, masking and the session record.
package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/listener"
	"github.com/sluice-gw/sluice/session"
)

// Engine serves one Postgres target.
type Engine struct {
	target  *config.Target
	deps    listener.Deps
	tls     *tls.Config // client-facing; nil = TLS not offered
	dialer  *upstreamDialer
	cancels cancelRegistry
	scram   scramVerifiers
	views   policy.ViewsCache
	log     *slog.Logger
	// decisions counts every judged statement by action and rule.
	decisions *metrics.DecisionCounters
	// tokenSources: OIDC issuers or a gateway token key are configured, so a
	// client may present a token SCRAM cannot carry.
	tokenSources bool
}

// New prepares the engine for target t. serverTLS is the gateway's
// client-facing TLS config (nil to refuse TLS).
func New(t *config.Target, deps listener.Deps, serverTLS *tls.Config) (*Engine, error) {
	if t.Protocol != "postgres" {
		return nil, fmt.Errorf("target %s: protocol %q is not postgres", t.Name, t.Protocol)
	}
	d, err := newUpstreamDialer(t)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ids := deps.Config.Identity
	return &Engine{target: t, deps: deps, tls: serverTLS, dialer: d, log: log.With("target", t.Name, "protocol", "postgres"),
		decisions:    deps.Metrics.DecisionCounters("postgres", t.Name),
		tokenSources: len(ids.OIDC) > 0 || ids.TokenKey != ""}, nil
}

// Handle serves one client connection until it ends.
func (e *Engine) Handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	log := e.log.With("client", conn.RemoteAddr().String())
	conn.SetDeadline(time.Now().Add(e.deps.Config.Limits.HandshakeTimeout.Duration))

	st, err := negotiate(conn, e.tls)
	if err != nil {
		var ce *clientError
		if errors.As(err, &ce) {
			writeRaw(conn, ce.response())
		}
		log.Debug("startup failed", "err", err)
		return
	}
	if st.cancel != nil {
		if err := e.forwardCancel(ctx, st.cancel); err != nil {
			log.Debug("cancel request not forwarded", "err", err)
		}
		return
	}
	c := st.conn
	defer c.Close()
	be := pgproto3.NewBackend(c, c)
	be.SetMaxBodyLen(e.deps.Config.Limits.MaxMessageBytes)
	fail := func(ce *clientError) {
		be.Send(ce.response())
		be.Flush()
	}

	params := st.msg.Parameters
	if rep := params["replication"]; rep != "" && rep != "false" && rep != "off" && rep != "0" && rep != "no" {
		fail(fatal(codeFeatureNotSupported, "sluice: replication connections are not supported", nil))
		return
	}
	if st.minor != 0 || len(st.unrecognized) > 0 {
		be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: st.unrecognized})
	}
	user := params["user"]
	id, err := e.authenticate(identity.ContextWithClientAddr(ctx, conn.RemoteAddr().String()), be, be.Flush, user, st.tls)
	if err != nil {
		e.authFailure(log, user, err)
		var ce *clientError
		if errors.As(err, &ce) {
			fail(ce)
		}
		return
	}
	if err := identity.Allowed(id, e.target); err != nil {
		log.Info("identity not allowed on target", "identity", id.Name)
		fail(fatal(codeInvalidAuthorization, "sluice: "+err.Error(), nil))
		return
	}
	acct := e.target.AccountFor(id.Name, id.Groups)
	database, ce := e.database(params["database"], id.Name, acct.User)
	if ce != nil {
		fail(ce)
		return
	}

	info := session.Info{
		Protocol: "postgres", Target: e.target.Name, Identity: id.Name, Groups: id.Groups,
		AuthMethod: id.Method, ClientAddr: conn.RemoteAddr().String(), Database: database,
		Tags: clientTags(params), CredentialID: id.TokenID,
	}
	info.Tags["upstream_user"] = acct.User
	rec := e.deps.Config.RecordingFor(e.target)
	sess, err := e.deps.Store.Open(ctx, info, session.Recording{OmitParams: rec.OmitParams, FailOpen: rec.FailOpen})
	if err != nil {
		log.Error("session record unavailable; refusing connection", "err", err)
		fail(fatal(codeCannotConnectNow, "sluice: the session cannot be recorded, so it is refused; ask the gateway operator", err))
		return
	}
	log = log.With("session", sess.ID(), "identity", id.Name)
	status, cause := e.serve(sess.Context(), log, c, be, id, sess, acct, database, params, rec)
	if cause != nil {
		log.Info("session ended", "status", status, "err", cause)
	}
	sess.Close(status, cause)
	if m := e.deps.Metrics; m != nil {
		m.Sessions.WithLabelValues("postgres", e.target.Name, string(status)).Inc()
	}
}

// serve dials upstream, completes the client's startup and relays.
func (e *Engine) serve(ctx context.Context, log *slog.Logger, c net.Conn, be *pgproto3.Backend, id *identity.Identity,
	sess *session.Session, acct config.Account, database string, params map[string]string, rec config.Recording) (session.Status, error) {
	var vc *policy.ViewsCache
	if e.deps.Policies.For(e.target.Name).NeedsViews() {
		vc = &e.views
	}
	hc, views, err := e.dialer.dial(ctx, acct, database, params, vc)
	if err != nil {
		ce := upstreamConnectError(e.target.Name, err)
		be.Send(ce.response())
		be.Flush()
		return session.StatusFailed, err
	}
	up := hc.Conn
	defer up.Close()
	key, err := e.cancels.register(upstreamKey{pid: hc.PID, secret: hc.SecretKey})
	if err != nil {
		return session.StatusFailed, err
	}
	defer e.cancels.unregister(key)

	be.Send(&pgproto3.AuthenticationOk{})
	for k, v := range hc.ParameterStatuses {
		if k == "session_authorization" {
			v = id.Name
		}
		be.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: key.pid, SecretKey: key.secret[:]})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: hc.TxStatus})
	if err := be.Flush(); err != nil {
		return session.StatusFailed, err
	}
	c.SetDeadline(time.Time{})

	if m := e.deps.Metrics; m != nil {
		g := m.ActiveSessions.WithLabelValues("postgres", e.target.Name)
		g.Inc()
		defer g.Dec()
	}
	if deadline, ok := e.deps.Auth.SessionDeadline(id); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, deadline, errCredentialExpired)
		defer cancel()
	}
	r := newRelay(e, log, c, up, sess, id, rec)
	r.sub.Views = views
	return r.run(ctx)
}

// database picks the upstream database: the pinned one, or the client's
// (user is the client's user name, upstreamUser the account it maps to).
func (e *Engine) database(asked, user, upstreamUser string) (string, *clientError) {
	pinned := e.target.Upstream.Database
	switch {
	case pinned == "":
		if asked == "" {
			return upstreamUser, nil // what libpq would have asked for upstream
		}
		return asked, nil
	case asked == "" || asked == pinned || asked == user:
		// libpq defaults the database to the user name: accept it for a pinned target.
		return pinned, nil
	default:
		return "", &clientError{severity: "FATAL", code: "3D000",
			msg: fmt.Sprintf("sluice: target %q serves database %q only", e.target.Name, pinned)}
	}
}

func (e *Engine) authFailure(log *slog.Logger, user string, err error) {
	reason := "bad_credentials"
	if !errors.Is(err, identity.ErrBadCredentials) {
		var ce *clientError
		if errors.As(err, &ce) && ce.code == codeInvalidPassword {
			reason = "bad_credentials"
		} else {
			reason = "protocol"
		}
	}
	if m := e.deps.Metrics; m != nil {
		m.AuthFailures.WithLabelValues("postgres", reason).Inc()
	}
	// The audit line names the user but never what was presented.
	log.Warn("authentication failed", "user", user, "reason", reason, "err", err)
}

// clientTags are the startup parameters kept as session tags.
func clientTags(params map[string]string) map[string]string {
	tags := map[string]string{}
	for k, v := range params {
		switch k {
		case "user", "database", "password":
			continue
		}
		tags[k] = v
	}
	return tags
}

// writeRaw sends one message on a connection without a Backend (startup errors).
func writeRaw(w io.Writer, msg pgproto3.BackendMessage) {
	if b, err := msg.Encode(nil); err == nil {
		w.Write(b)
	}
}

// errCredentialExpired ends a session whose identity's credential expired
// longer ago than identity.max_session_after_expiry allows.
var errCredentialExpired = errors.New("your credential expired and identity.max_session_after_expiry has passed; reconnect with a fresh token")

// relay is one session's message pump.
type relay struct {
	e    *Engine
	log  *slog.Logger
	sess *session.Session
	pol  *policy.Policy
	sub  policy.Subject

	clientIn *flushingReader
	be       *pgproto3.Backend
	toClient *outbuf
	upIn     *flushingReader
	fe       *pgproto3.Frontend
	toUp     *outbuf

	pending pendingQueue
	shapes  shapeCache              // server loop only
	stmts   map[string]*stmtState   // client loop only
	portals map[string]*portalState // client loop only
	seq     int64                   // client loop only
	// batchOpen: extended-protocol messages were sent since the last Sync
	// (client loop only). The gateway must not inject a Sync of its own
	// then: it would end the client's implicit transaction early.
	batchOpen  bool
	poison     string
	omitParams bool
	failOpen   bool

	failed chan error // record failure, fail-closed

	// Which side ended the session, when both loops end at nearly the same
	// time: the client's Terminate, or a FATAL from the upstream.
	clientQuit    atomic.Bool
	upstreamFatal atomic.Pointer[string]
}

func newRelay(e *Engine, log *slog.Logger, client, up net.Conn, sess *session.Session, id *identity.Identity, rec config.Recording) *relay {
	r := &relay{
		e: e, log: log, sess: sess,
		pol:        e.deps.Policies.For(e.target.Name),
		sub:        policy.Subject{Target: e.target.Name, Protocol: "postgres", Identity: id.Name, Groups: id.Groups, Session: sess.ID()},
		stmts:      map[string]*stmtState{},
		portals:    map[string]*portalState{},
		poison:     "SLUICE_BLOCKED_" + strings.ReplaceAll(sess.ID(), "-", "_"),
		omitParams: rec.OmitParams,
		failOpen:   rec.FailOpen,
		failed:     make(chan error, 1),
	}
	var in, out prometheus.Counter
	if m := e.deps.Metrics; m != nil {
		in = m.Bytes.WithLabelValues("postgres", e.target.Name, "in")
		out = m.Bytes.WithLabelValues("postgres", e.target.Name, "out")
	}
	r.toClient = newOutbuf(client, "client", out)
	r.toUp = newOutbuf(up, "upstream", nil)
	r.clientIn = &flushingReader{conn: client, out: r.toUp, bytes: in}
	r.upIn = &flushingReader{conn: up, out: r.toClient}
	r.be = pgproto3.NewBackend(r.clientIn, client)
	r.be.SetMaxBodyLen(e.deps.Config.Limits.MaxMessageBytes)
	r.fe = pgproto3.NewFrontend(r.upIn, up)
	// Postgres never sends a message over 1 GB (MaxAllocSize); anything
	// claiming more is a corrupt or hostile stream.
	r.fe.SetMaxBodyLen(1<<30 + 64<<10)
	return r
}

// fail ends the session because its record cannot be written.
func (r *relay) fail(err error) {
	select {
	case r.failed <- err:
	default:
	}
}

// guard runs a relay loop, turning a panic (a bug in the gateway) into an
// error that ends this session only: the gateway and its other sessions
// carry on, and the record says what happened.
func (r *relay) guard(loop string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("relay loop panicked: a bug in sluice; the session ends", "loop", loop, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in the gateway's %s (see the gateway log)", loop)
		}
	}()
	return f()
}

// run relays until either side ends, the session is killed, or the record fails.
func (r *relay) run(ctx context.Context) (session.Status, error) {
	clientDone := make(chan error, 1)
	serverDone := make(chan error, 1)
	go func() { clientDone <- r.guard("client loop", func() error { return r.clientLoop(ctx) }) }()
	go func() { serverDone <- r.guard("server loop", r.serverLoop) }()

	var status session.Status
	var cause error
	select {
	case err := <-clientDone:
		clientDone <- err // put back for the wait below
		status, cause = session.StatusOK, ignoreClosed(err)
		if msg := r.upstreamFatal.Load(); msg != nil {
			// The client left because the upstream told it to.
			status, cause = session.StatusFailed, fmt.Errorf("upstream ended the session: %s", *msg)
		} else if wrote(err, "upstream") {
			status = session.StatusFailed
		}
	case err := <-serverDone:
		serverDone <- err
		if r.clientQuit.Load() || wrote(err, "client") {
			// The upstream closed after the client's Terminate, or the
			// client went away while a response streamed to it.
			status = session.StatusOK
			break
		}
		// Upstream went away: tell the client like Postgres would.
		r.toClient.send(fatal(codeAdminShutdown, "sluice: the upstream connection closed", nil).response())
		r.toClient.flush()
		status, cause = session.StatusFailed, ignoreClosed(err)
		if msg := r.upstreamFatal.Load(); msg != nil {
			cause = fmt.Errorf("upstream ended the session: %s", *msg)
		} else if cause == nil {
			cause = errors.New("upstream closed the connection")
		}
	case err := <-r.failed:
		r.toClient.send(fatal(codeCannotConnectNow, "sluice: the session record failed; session ended", nil).response())
		r.toClient.flush()
		status, cause = session.StatusFailed, fmt.Errorf("recording failed: %w", err)
	case <-ctx.Done():
		msg := "sluice: the gateway is shutting down"
		var ke *session.KilledError
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errCredentialExpired):
			msg = "sluice: " + cause.Error()
		case errors.As(cause, &ke):
			msg = "sluice: " + ke.Error()
		}
		r.toClient.send(fatal(codeAdminShutdown, msg, nil).response())
		r.toClient.flush()
		status, cause = session.StatusKilled, context.Cause(ctx)
		if errors.Is(cause, context.Canceled) {
			cause = errGatewayShutdown // a drain: Run's context ended
		}
	}
	// Closing both ends unblocks whichever loop is still reading.
	r.clientIn.conn.Close()
	r.upIn.conn.Close()
	<-clientDone
	<-serverDone
	r.recordUnfinished(status, cause)
	return status, cause
}

// recordUnfinished writes a query-log line for each statement still waiting
// for its response when the session ended (client gone mid-result, upstream
// lost, session killed): the log must show what was sent, with the rows
// streamed so far, even when no answer completed it. Both loops have ended,
// so the queue and its entries are ours alone.
func (r *relay) recordUnfinished(status session.Status, cause error) {
	code, why := "08006", "the client disconnected"
	switch {
	case status == session.StatusKilled:
		code, why = codeAdminShutdown, "the session was ended"
		if cause != nil {
			why += ": " + cause.Error()
		}
	case status == session.StatusFailed && cause != nil:
		why = cause.Error()
	}
	for {
		it, ok := r.pending.pop()
		if !ok {
			return
		}
		e := it.entry
		if e == nil || e.done {
			continue
		}
		if e.errMsg == "" {
			e.sqlstate, e.errMsg = code, "not completed: "+why
		}
		r.record(e)
	}
}

// errGatewayShutdown is what a drained session's record says.
var errGatewayShutdown = errors.New("the gateway is shutting down")

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
