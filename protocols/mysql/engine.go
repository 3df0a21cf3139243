// Package mysql is the gateway's MySQL/MariaDB engine: it terminates client
// connections (handshake, TLS, auth against Sluice identities), dials the
// target with the gateway's own credentials, and relays command by command,
// judging each statement against policy, masking result rows and recording
// a query log.
//
// Packets are framed by the engine's own bounded reader and buffered writer
// (wire.go); go-mysql supplies the protocol constants, the password
// scrambles and the upstream handshake (client package).
package mysql

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/listener"
	"github.com/sluice-gw/sluice/servertls"
	"github.com/sluice-gw/sluice/session"
)

const protocolName = "mysql"

// serverVersion is announced to clients before the upstream is dialed
// (authentication comes first). Clients only use it for display and
// feature sniffing; MySQL 8 framing is what the relay speaks.
const serverVersion = "8.0.36-sluice"

// Engine serves one mysql target.
type Engine struct {
	target   *config.Target
	deps     listener.Deps
	policy   *policy.Policy
	tls      *tls.Config
	upstream *upstreamDialer
	views    policy.ViewsCache
	conns    *connRegistry
	rsa      rsaKeyPair
	maxMsg   int
	log      *slog.Logger

	// Counters resolved once: label hashing per message is measurable.
	bytesIn, bytesOut prometheus.Counter
	decisions         *metrics.DecisionCounters
}

// New validates the target and prepares TLS and the upstream dialer.
func New(t *config.Target, deps listener.Deps) (*Engine, error) {
	if t.Protocol != protocolName {
		return nil, fmt.Errorf("target %s: protocol %q is not mysql", t.Name, t.Protocol)
	}
	if deps.Config == nil || deps.Auth == nil || deps.Store == nil || deps.Metrics == nil {
		return nil, errors.New("mysql engine: Config, Auth, Store and Metrics are required")
	}
	maxMsg := deps.Config.Limits.MaxMessageBytes
	if maxMsg <= 0 {
		maxMsg = config.DefaultMaxMessageBytes
	}
	up, err := newUpstreamDialer(t, maxMsg)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := servertls.Load(deps.Config)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		target:   t,
		deps:     deps,
		policy:   deps.Policies.For(t.Name),
		tls:      tlsCfg,
		upstream: up,
		conns:    newConnRegistry(),
		maxMsg:   maxMsg,
		log:      log.With("protocol", protocolName, "target", t.Name),
		bytesIn:  deps.Metrics.Bytes.WithLabelValues(protocolName, t.Name, "in"),
		bytesOut: deps.Metrics.Bytes.WithLabelValues(protocolName, t.Name, "out"),

		decisions: deps.Metrics.DecisionCounters(protocolName, t.Name),
	}
	up.log = e.log
	return e, nil
}

// countingWriter counts the bytes sent to the client.
type countingWriter struct {
	w io.Writer
	c prometheus.Counter
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.c.Add(float64(n))
	return n, err
}

// Handle serves one client connection until it ends. It owns conn.
func (e *Engine) Handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	gwID := e.conns.nextID()
	log := e.log.With("conn", gwID, "client", conn.RemoteAddr().String())
	host := "%"
	if h, _, err := net.SplitHostPort(conn.RemoteAddr().String()); err == nil {
		host = h
	}

	hsTimeout := e.deps.Config.Limits.HandshakeTimeout.Duration
	if hsTimeout <= 0 {
		hsTimeout = config.DefaultHandshakeTimeout
	}
	if err := conn.SetDeadline(time.Now().Add(hsTimeout)); err != nil {
		return
	}
	cl := newLeg(conn, e.maxMsg)
	st, err := e.handshake(ctx, cl, gwID, host)
	if err != nil {
		e.refuse(cl, log, err)
		return
	}
	defer st.up.leg.conn.Close()
	st.client.w.reset(countingWriter{w: st.client.conn, c: e.bytesOut})
	if err := conn.SetDeadline(time.Time{}); err != nil {
		st.sess.Close(session.StatusFailed, err)
		return
	}
	e.serve(st, log)
}

// connState is one established client connection: both legs, who it is
// and its session.
type connState struct {
	gwID     uint32
	client   *leg
	up       *upstreamConn
	id       *identity.Identity
	sess     *session.Session
	sub      policy.Subject
	caps     uint32
	overTLS  bool
	rec      session.Recording
	stmts    map[uint32]*preparedStmt
	seq      int64
	rowBuf   []byte
	values   [][]byte
	lastCols []columnDef
	// lastNames is the last result's column names as given to the query
	// log; shared read-only, replaced (never modified) when they change.
	lastNames []string
	// lastMasker is the masker of the last masked result, reused while
	// the same mask meets the same columns (one goroutine owns st).
	lastMasker maskerKey
	// diagMask is the last statement's error mask and diagStmt its text,
	// for SHOW WARNINGS (see diagnostics.go).
	diagMask *policy.ErrorMask
	diagStmt string
}

type maskerKey struct {
	mask   *policy.ResultMask
	cols   []columnDef
	binary bool
	masker *policy.RowMasker
}

func (st *connState) deprecateEOF() bool { return st.caps&gm.CLIENT_DEPRECATE_EOF != 0 }

// handshake runs the connection phase up to the client's OK:
// greeting, optional TLS, authentication, target admission, session open,
// upstream dial. The client is told OK only once the upstream is ready.
func (e *Engine) handshake(ctx context.Context, cl *leg, gwID uint32, host string) (*connState, error) {
	scramble, err := newScramble()
	if err != nil {
		return nil, err
	}
	if err := cl.writeFlush(appendGreeting(nil, serverVersion, gwID, scramble, gm.AUTH_CACHING_SHA2_PASSWORD)); err != nil {
		return nil, err
	}
	p, err := cl.r.Read()
	if err != nil {
		return nil, fmt.Errorf("reading handshake response: %w", err)
	}
	hs, err := parseHandshakeResponse(p)
	if err != nil {
		return nil, fatalf(gm.ER_HANDSHAKE_ERROR, stateCommLink, err, "Bad handshake")
	}
	overTLS := false
	if hs.SSLRequest {
		// The ClientHello may already sit in the read buffer.
		pre, _ := cl.r.br.Peek(cl.r.buffered())
		tc := tls.Server(&prefixConn{Conn: cl.conn, pre: bytes.Clone(pre)}, e.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("client TLS: %w", err)
		}
		cl.setConn(tc)
		overTLS = true
		if p, err = cl.r.Read(); err != nil {
			return nil, fmt.Errorf("reading handshake response: %w", err)
		}
		if hs, err = parseHandshakeResponse(p); err != nil || hs.SSLRequest {
			return nil, fatalf(gm.ER_HANDSHAKE_ERROR, stateCommLink, err, "Bad handshake")
		}
	}
	if hs.Caps&gm.CLIENT_PROTOCOL_41 == 0 {
		return nil, fatalf(gm.ER_NOT_SUPPORTED_AUTH_MODE, stateCommLink, nil, "sluice: the client must speak protocol 4.1")
	}
	hs.Caps &= serverCaps | gm.CLIENT_SSL

	id, err := e.authenticate(identity.ContextWithClientAddr(ctx, cl.conn.RemoteAddr().String()), cl, hs, scramble, overTLS, host)
	if err != nil {
		e.deps.Metrics.AuthFailures.WithLabelValues(protocolName, "credentials").Inc()
		return nil, err
	}
	if err := identity.Allowed(id, e.target); err != nil {
		e.deps.Metrics.AuthFailures.WithLabelValues(protocolName, "not_allowed").Inc()
		return nil, fatalf(gm.ER_DBACCESS_DENIED_ERROR, stateSyntaxOrAccess, err,
			"Access denied for user '%s' to target '%s'", id.Name, e.target.Name)
	}
	db := hs.DB
	if pinned := e.target.Upstream.Database; pinned != "" {
		if db != "" && db != pinned {
			return nil, fatalf(gm.ER_DBACCESS_DENIED_ERROR, stateSyntaxOrAccess, nil,
				"Access denied for user '%s' to database '%s' (target %s is pinned to %s)", id.Name, db, e.target.Name, pinned)
		}
		db = pinned
	}

	rec := recordingFrom(e.deps.Config.RecordingFor(e.target))
	acct := e.target.AccountFor(id.Name, id.Groups)
	tags := clientTags(hs.Attrs)
	tags["upstream_user"] = acct.User
	sess, err := e.deps.Store.Open(ctx, session.Info{
		Protocol: protocolName, Target: e.target.Name, Identity: id.Name, Groups: id.Groups,
		AuthMethod: id.Method, ClientAddr: cl.conn.RemoteAddr().String(), Tags: tags,
		Database: db, CredentialID: id.TokenID,
	}, rec)
	if err != nil {
		return nil, fatalf(gm.ER_UNKNOWN_ERROR, stateGeneral, err, "sluice: the session cannot be recorded; refusing the connection")
	}
	var vc *policy.ViewsCache
	if e.policy.NeedsViews() {
		vc = &e.views
	}
	up, err := e.upstream.dial(sess.Context(), acct, hs, db, vc)
	if err != nil {
		ce := upstreamConnectError(e.target.Name, err)
		sess.Close(session.StatusFailed, err)
		e.deps.Metrics.Sessions.WithLabelValues(protocolName, e.target.Name, string(session.StatusFailed)).Inc()
		return nil, ce
	}
	st := &connState{
		gwID: gwID, client: cl, up: up, id: id, sess: sess, caps: hs.Caps, overTLS: overTLS, rec: rec,
		stmts: map[uint32]*preparedStmt{},
		sub: policy.Subject{Views: up.views, Database: db, Target: e.target.Name, Protocol: protocolName, Identity: id.Name,
			Groups: id.Groups, Session: sess.ID()},
	}
	// The client's OK is sent by serve, once the connection is registered
	// for KILL.
	return st, nil
}

// refuse sends a handshake-phase error to the client (when it is one the
// client may see) and logs the internal detail.
func (e *Engine) refuse(cl *leg, log *slog.Logger, err error) {
	var ce *clientError
	if errors.As(err, &ce) {
		_ = cl.writeFlush(ce.packet())
		log.Info("connection refused", "err", err)
		return
	}
	log.Debug("handshake failed", "err", err)
}

// clientTags keeps the client's self-description (program name, driver)
// as session tags.
func clientTags(attrs map[string]string) map[string]string {
	tags := map[string]string{}
	for _, k := range []string{"program_name", "_client_name", "_client_version"} {
		if v, ok := attrs[k]; ok {
			tags[k] = v
		}
	}
	return tags
}

func recordingFrom(r config.Recording) session.Recording {
	return session.Recording{OmitParams: r.OmitParams, FailOpen: r.FailOpen, RecordInput: r.RecordInput}
}

// prefixConn replays bytes already read from a connection before reading
// from it again (the TLS ClientHello that arrived with the SSLRequest).
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
