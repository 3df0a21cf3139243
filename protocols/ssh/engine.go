// Package ssh is the gateway's SSH path. The gateway terminates SSH from the
// client (it must, to see and record the session), authenticates the client
// as a Sluice identity, routes by the user name `identity+target`, and
// either opens its own SSH connection upstream (ssh targets) or runs the
// target's command in a pty on the gateway host (command targets).
//
// One listener serves every ssh and command target:
//
//	eng, err := ssh.New(cfg, deps)
//	listener.Serve(ctx, ln, cfg.Limits, eng, log)
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	gossh "golang.org/x/crypto/ssh"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/protocols/listener"
	"github.com/sluice-gw/sluice/session"
)

// Engine serves SSH clients for every ssh and command target.
type Engine struct {
	cfg       *config.Config
	deps      listener.Deps
	log       *slog.Logger
	hostKey   gossh.Signer
	upstreams map[string]*upstreamDialer // by target name; ssh targets only
}

// New loads (or creates on first start) the gateway's host key and prepares
// the upstream credentials of every ssh target, so a broken key file or
// known_hosts is reported at start, not at the first connection.
func New(cfg *config.Config, deps listener.Deps) (*Engine, error) {
	if deps.Auth == nil || deps.Store == nil || deps.Metrics == nil {
		return nil, errors.New("ssh: deps.Auth, deps.Store and deps.Metrics are required")
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hostKeyPath := cfg.SSH.HostKey
	if hostKeyPath == "" {
		hostKeyPath = filepath.Join(cfg.DataDir, "ssh_host_ed25519_key")
	}
	hk, err := loadOrCreateHostKey(hostKeyPath)
	if err != nil {
		return nil, fmt.Errorf("ssh.host_key: %w", err)
	}
	e := &Engine{cfg: cfg, deps: deps, log: log.With("protocol", "ssh"), hostKey: hk, upstreams: map[string]*upstreamDialer{}}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		switch t.Protocol {
		case "ssh":
			d, err := newUpstreamDialer(t)
			if err != nil {
				return nil, fmt.Errorf("targets[%d] (%s): %w", i, t.Name, err)
			}
			e.upstreams[t.Name] = d
		case "command":
			if err := checkCommandTarget(t); err != nil {
				return nil, fmt.Errorf("targets[%d] (%s): %w", i, t.Name, err)
			}
		}
	}
	return e, nil
}

// HostKey is the gateway's public host key (for known_hosts lines in docs and tests).
func (e *Engine) HostKey() gossh.PublicKey { return e.hostKey.PublicKey() }

// Handle serves one client connection until it ends. It owns conn.
func (e *Engine) Handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	log := e.log.With("client", conn.RemoteAddr().String())

	auth := newAuthState(ctx, e)
	if err := conn.SetDeadline(time.Now().Add(e.cfg.Limits.HandshakeTimeout.Duration)); err != nil {
		return
	}
	sconn, chans, reqs, err := gossh.NewServerConn(conn, auth.serverConfig())
	if err != nil {
		e.metric().AuthFailures.WithLabelValues("ssh", auth.failureReason()).Inc()
		log.Debug("ssh handshake failed", "err", err)
		return
	}
	defer sconn.Close()
	_ = conn.SetDeadline(time.Time{})

	g, ok := auth.granted(sconn.Permissions)
	if !ok {
		// Cannot happen: the handshake succeeds only through a grant.
		log.Error("ssh: authenticated connection without a grant")
		return
	}
	c := &clientConn{
		e: e, sconn: sconn, id: g.id, target: g.target,
		log: log.With("identity", g.id.Name, "target", g.target.Name),
	}
	c.serve(ctx, chans, reqs)
}

// clientConn is one authenticated client connection and its session.
type clientConn struct {
	e      *Engine
	sconn  *gossh.ServerConn
	id     *identity.Identity
	target *config.Target
	log    *slog.Logger

	sess     *session.Session
	acct     config.Account // the upstream account (ssh targets)
	upstream *gossh.Client  // nil for command targets
	channels sync.WaitGroup
	// upstreamLost is set by a channel that saw the upstream end it without
	// an exit status. The client may then hang up before the upstream
	// connection's own end is noticed; the session still failed.
	upstreamLost atomic.Bool

	bytesIn, bytesOut prometheus.Counter

	mu   sync.Mutex
	open map[gossh.Channel]*sync.Mutex // client session channels, to tell them why the session ends
}

// track registers a client channel until the returned func is called. The
// returned mutex serialises every write to the channel (relay, notices,
// CloseWrite): x/crypto/ssh does not synchronise them itself.
func (c *clientConn) track(ch gossh.Channel) (*sync.Mutex, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open = map[gossh.Channel]*sync.Mutex{}
	}
	mu := &sync.Mutex{}
	c.open[ch] = mu
	return mu, func() {
		c.mu.Lock()
		delete(c.open, ch)
		c.mu.Unlock()
	}
}

// tell writes a user-visible message to every open channel's stderr. A
// client that does not read cannot hold the session open: the writes get a
// second, then the caller closes the connection, which ends them.
func (c *clientConn) tell(msg string) {
	c.mu.Lock()
	open := maps.Clone(c.open)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for ch, mu := range open {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			_, _ = io.WriteString(ch.Stderr(), "\r\nsluice: "+msg+"\r\n")
		}()
	}
	written := make(chan struct{})
	go func() { wg.Wait(); close(written) }()
	select {
	case <-written:
	case <-time.After(time.Second):
	}
}

func (c *clientConn) protocol() string { return c.target.Protocol }

// serve opens the session, dials upstream and relays channels until the
// client leaves, the upstream dies or the session is killed.
func (c *clientConn) serve(ctx context.Context, chans <-chan gossh.NewChannel, reqs <-chan *gossh.Request) {
	m := c.e.metric()
	// Global requests from the client: remote port forwarding (tcpip-forward)
	// is denied, keepalives are answered "unsupported" as OpenSSH does.
	go denyRequests(reqs)

	if deadline, ok := c.e.deps.Auth.SessionDeadline(c.id); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, deadline, errCredentialExpired)
		defer cancel()
	}
	rec := c.e.cfg.RecordingFor(c.target)
	c.acct = c.target.AccountFor(c.id.Name, c.id.Groups)
	tags := map[string]string{"client_version": string(c.sconn.ClientVersion())}
	if c.target.Protocol == "ssh" {
		tags["upstream_user"] = c.acct.User
	}
	sess, err := c.e.deps.Store.Open(ctx, session.Info{
		Protocol:   c.protocol(),
		Target:     c.target.Name,
		Identity:   c.id.Name,
		Groups:     c.id.Groups,
		AuthMethod: c.id.Method,
		ClientAddr: c.sconn.RemoteAddr().String(),
		Database:   c.acct.User,
		Tags:       tags,
		// A gateway token's id, so revoking the token ends the session.
		CredentialID: c.id.TokenID,
	}, recordingFrom(rec))
	if err != nil {
		c.log.Error("session refused: recording unavailable", "err", err)
		rejectAll(chans, gossh.ConnectionFailed, msgRecordingUnavailable)
		return
	}
	c.sess = sess
	c.log = c.log.With("session", sess.ID())
	c.bytesIn = m.Bytes.WithLabelValues(c.protocol(), c.target.Name, "in")
	c.bytesOut = m.Bytes.WithLabelValues(c.protocol(), c.target.Name, "out")
	m.ActiveSessions.WithLabelValues(c.protocol(), c.target.Name).Inc()
	defer m.ActiveSessions.WithLabelValues(c.protocol(), c.target.Name).Dec()

	// Channels run under their own context, not the session's: a killed or
	// revoked session tells them why before they stop (a command target's
	// process would otherwise die, and its channel close, before the notice
	// is written), and a channel whose upstream died must still be able to
	// say so after relay returns.
	chCtx, stopChannels := context.WithCancel(context.WithoutCancel(sess.Context()))
	defer stopChannels()
	status, cause := c.relay(sess.Context(), chCtx, chans)
	if sess.Context().Err() != nil {
		stopChannels() // killed, expired or shutting down: relay has told them
	}
	// Upstream first: its channels end and tell their clients why (a lost
	// connection) while the client connection is still open; then, after a
	// bounded grace, whatever still runs and the client connection.
	if c.upstream != nil {
		c.upstream.Close()
	}
	channelsDone := make(chan struct{})
	go func() { c.channels.Wait(); close(channelsDone) }()
	select {
	case <-channelsDone:
	case <-time.After(closeGrace):
	}
	stopChannels()
	c.sconn.Close()
	<-channelsDone
	if err := sess.Close(status, cause); err != nil {
		c.log.Error("closing session record", "err", err)
	}
	m.Sessions.WithLabelValues(c.protocol(), c.target.Name, string(status)).Inc()
	c.log.Info("ssh session ended", "status", status)
}

// relay runs the connection's main loop, opening channels under chCtx. It
// returns how the session ended.
func (c *clientConn) relay(ctx, chCtx context.Context, chans <-chan gossh.NewChannel) (session.Status, error) {
	var upstreamDone chan error
	if c.target.Protocol == "ssh" {
		up, err := c.e.upstreams[c.target.Name].dial(ctx, c.acct)
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				// Killed or expired while dialling: say that, not a dial error.
				rejectAll(chans, gossh.ConnectionFailed, "sluice: "+cause.Error())
				return session.StatusKilled, cause
			}
			c.log.Warn("upstream dial failed", "err", err)
			rejectAll(chans, gossh.ConnectionFailed, userMessage(err, c.target.Name))
			return session.StatusFailed, err
		}
		c.upstream = up
		upstreamDone = make(chan error, 1)
		go func() { upstreamDone <- up.Wait() }()
		go keepalive(ctx, up, keepaliveInterval, keepaliveMaxMissed)
	}
	clientDone := make(chan struct{})
	go func() { c.sconn.Wait(); close(clientDone) }()

	for {
		select {
		case nc, ok := <-chans:
			if !ok {
				return c.clientGone(upstreamDone)
			}
			c.openChannel(chCtx, nc)
		case err := <-upstreamDone:
			// The upstream closed the connection or died mid-session.
			if err != nil && !errors.Is(err, net.ErrClosed) {
				return session.StatusFailed, fmt.Errorf("upstream connection: %w", err)
			}
			if c.upstreamLost.Load() {
				return session.StatusFailed, errUpstreamLost
			}
			return session.StatusOK, nil
		case <-ctx.Done():
			cause := context.Cause(ctx)
			var killed *session.KilledError
			if errors.As(cause, &killed) {
				c.tell(killed.Error())
				return session.StatusKilled, cause
			}
			if errors.Is(cause, errCredentialExpired) {
				c.tell(cause.Error())
				return session.StatusKilled, cause
			}
			return session.StatusOK, cause
		case <-clientDone:
			return c.clientGone(upstreamDone)
		}
	}
}

// clientGone is how a session ends when the client hangs up: closed,
// unless a channel saw the upstream die first (the client then often hangs
// up before the upstream connection's own end is noticed). The cause is
// the upstream connection's error, waited for a bounded time.
func (c *clientConn) clientGone(upstreamDone <-chan error) (session.Status, error) {
	if !c.upstreamLost.Load() {
		return session.StatusOK, nil
	}
	select {
	case err := <-upstreamDone:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return session.StatusFailed, fmt.Errorf("upstream connection: %w", err)
		}
	case <-time.After(closeGrace):
	}
	return session.StatusFailed, errUpstreamLost
}

var errUpstreamLost = errors.New("upstream connection lost")

// recoverBug ends this client connection when one of its goroutines
// panics (a bug in the gateway): the panic is logged with its stack and
// the connection closes; the gateway and its other connections carry on.
// Use it as a deferred call.
func (c *clientConn) recoverBug(goroutine string) {
	if p := recover(); p != nil {
		c.log.Error("ssh goroutine panicked: a bug in sluice; the connection is closed",
			"goroutine", goroutine, "panic", p, "stack", string(debug.Stack()))
		if c.sconn != nil {
			_ = c.sconn.Close()
		}
	}
}

// openChannel dispatches a new client channel by type.
func (c *clientConn) openChannel(ctx context.Context, nc gossh.NewChannel) {
	switch nc.ChannelType() {
	case "session":
		c.channels.Add(1)
		go func() {
			defer c.channels.Done()
			defer c.recoverBug("session channel")
			if c.upstream != nil {
				c.relaySession(ctx, nc)
			} else {
				c.runCommand(ctx, nc)
			}
		}()
	case "direct-tcpip":
		c.channels.Add(1)
		go func() {
			defer c.channels.Done()
			defer c.recoverBug("direct-tcpip channel")
			c.forwardTCP(ctx, nc)
		}()
	default:
		_ = nc.Reject(gossh.UnknownChannelType, "sluice: channel type "+nc.ChannelType()+" is not supported")
	}
}

func (e *Engine) metric() *metrics.Metrics { return e.deps.Metrics }

// denyRequests answers every request with failure until reqs is closed.
func denyRequests(reqs <-chan *gossh.Request) {
	for r := range reqs {
		if r.WantReply {
			_ = r.Reply(false, nil)
		}
	}
}

// rejectAll refuses the channels a client opens until it goes away, so it
// sees why instead of a silent disconnect. The client leaves after its
// first refusal (or the connection is closed by the caller right after).
func rejectAll(chans <-chan gossh.NewChannel, reason gossh.RejectionReason, msg string) {
	select {
	case nc, ok := <-chans:
		if ok {
			_ = nc.Reject(reason, msg)
		}
	case <-time.After(5 * time.Second):
	}
}

// closeGrace bounds how long a session's channels get to finish (flush
// output, send exit status and notices) before the client connection is
// closed under them.
const closeGrace = 2 * time.Second

// errCredentialExpired ends a session whose identity's credential expired
// longer ago than identity.max_session_after_expiry allows.
var errCredentialExpired = errors.New("your credential expired and identity.max_session_after_expiry has passed; reconnect with a fresh token")

func recordingFrom(r config.Recording) session.Recording {
	return session.Recording{OmitParams: r.OmitParams, FailOpen: r.FailOpen, RecordInput: r.RecordInput}
}
