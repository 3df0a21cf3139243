// Package listener is the accept loop every protocol shares: it applies the
// connection limit and hands each net.Conn to the protocol's Engine. It also
// defines Deps, what every engine is given, so the three engines have one
// visible shape.
package listener

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/rawconn"
	"github.com/sluice-gw/sluice/session"
)

// Deps is what the gateway hands every engine.
type Deps struct {
	Config   *config.Config
	Auth     *identity.Authenticator
	Policies *policy.Set
	Broker   *policy.Broker
	Store    *session.Store
	Metrics  *metrics.Metrics
	Log      *slog.Logger
}

// Engine handles one client connection until it ends. It owns conn and
// closes it. ctx is cancelled when the gateway drains.
type Engine interface {
	Handle(ctx context.Context, conn net.Conn)
}

// Serve accepts on ln until ctx is done, running e.Handle for each
// connection, at most limits.MaxConnections at once. It returns after every
// handler has returned.
func Serve(ctx context.Context, ln net.Listener, limits config.Limits, e Engine, log *slog.Logger) error {
	maxConns := limits.MaxConnections
	if maxConns <= 0 {
		maxConns = config.DefaultMaxConnections
	}
	slots := make(chan struct{}, maxConns)
	var wg sync.WaitGroup
	defer wg.Wait()

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Temporary errors (EMFILE): back off instead of spinning.
			backoff = min(max(backoff*2, 5*time.Millisecond), time.Second)
			log.Warn("accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		backoff = 0
		select {
		case slots <- struct{}{}:
		default:
			log.Warn("connection refused: max_connections reached", "client", conn.RemoteAddr().String(), "max", maxConns)
			conn.Close()
			continue
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
			tc.SetKeepAlive(true)
			tc.SetKeepAlivePeriod(30 * time.Second)
		}
		conn = rawconn.Wrap(conn) // cheaper relay I/O; see package rawconn
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer func() {
				// A panic is a bug in the gateway; it ends this connection,
				// not the gateway and every other session with it.
				if p := recover(); p != nil {
					log.Error("connection handler panicked: a bug in sluice; the connection is closed",
						"client", conn.RemoteAddr().String(), "panic", p, "stack", string(debug.Stack()))
					conn.Close()
				}
			}()
			e.Handle(ctx, conn)
		}()
	}
}
