// Package gateway wires a loaded config into running listeners: the
// identity, policy, session store and broker every engine shares, one
// listener per database target, the SSH listener, and the admin API.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/listener"
	"github.com/sluice-gw/sluice/protocols/mysql"
	"github.com/sluice-gw/sluice/protocols/postgres"
	"github.com/sluice-gw/sluice/protocols/ssh"
	"github.com/sluice-gw/sluice/servertls"
	"github.com/sluice-gw/sluice/session"
)

// Gateway is a running set of listeners.
type Gateway struct {
	cfg  *config.Config
	deps listener.Deps
	log  *slog.Logger

	// Addrs are the bound listen addresses by target name (and "admin", "ssh").
	Addrs map[string]string

	serves  []func(ctx context.Context) error
	closers []func()
}

// revocationPoll is how often the gateway looks at the revocation list to
// end the sessions of newly revoked gateway tokens (one stat per look).
const revocationPoll = 2 * time.Second

// revokedReason is what a client whose token was revoked is told.
const revokedReason = "gateway token revoked"

// New builds the shared dependencies and binds every listener, so a port
// conflict is reported before anything is served.
func New(cfg *config.Config, log *slog.Logger) (*Gateway, error) {
	auth, err := identity.NewWithOptions(cfg, identity.Options{Log: log})
	if err != nil {
		return nil, err
	}
	pols, err := policy.NewSet(cfg)
	if err != nil {
		return nil, err
	}
	store, err := session.OpenStore(cfg.DataDir, session.Options{FlushInterval: cfg.Recording.FlushInterval.Duration, Log: log,
		SealKey: []byte(cfg.Recording.SealKey.Reveal())})
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	m := metrics.New()
	broker := policy.NewBroker(cfg.Approvals, policy.BrokerOptions{Log: log, OnOutcome: func(_ policy.ApprovalRequest, o policy.Outcome) {
		m.Approvals.WithLabelValues(policy.OutcomeLabel(o)).Inc()
	}})
	g := &Gateway{
		cfg:   cfg,
		log:   log,
		Addrs: map[string]string{},
		deps:  listener.Deps{Config: cfg, Auth: auth, Policies: pols, Broker: broker, Store: store, Metrics: m, Log: log},
	}
	g.closers = append(g.closers, func() { broker.Close(); store.Close() })
	if err := g.bind(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// Deps are the shared engine dependencies (for tests and the admin API).
func (g *Gateway) Deps() listener.Deps { return g.deps }

func (g *Gateway) bind() error {
	tlsConf, err := servertls.Load(g.cfg)
	if err != nil {
		return err
	}
	hasSSH := false
	for i := range g.cfg.Targets {
		t := &g.cfg.Targets[i]
		var eng listener.Engine
		switch t.Protocol {
		case "postgres":
			e, err := postgres.New(t, g.deps, tlsConf)
			if err != nil {
				return err
			}
			eng = e
		case "mysql":
			e, err := mysql.New(t, g.deps)
			if err != nil {
				return err
			}
			eng = e
		default:
			hasSSH = true
			continue // ssh and command targets share the SSH listener
		}
		if err := g.listen(t.Name, t.Listen, eng); err != nil {
			return err
		}
	}
	if hasSSH {
		if g.cfg.SSH.Listen == "" {
			return fmt.Errorf("%s: ssh.listen: ssh and command targets need the SSH listener", g.cfg.Path())
		}
		e, err := ssh.New(g.cfg, g.deps)
		if err != nil {
			return err
		}
		if err := g.listen("ssh", g.cfg.SSH.Listen, e); err != nil {
			return err
		}
	}
	if g.cfg.Admin.Listen != "" {
		ln, err := net.Listen("tcp", g.cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen %s: %w", g.cfg.Admin.Listen, err)
		}
		g.Addrs["admin"] = ln.Addr().String()
		g.closers = append(g.closers, func() { ln.Close() })
		h := admin.New(admin.Deps{Config: g.cfg, Store: g.deps.Store, Broker: g.deps.Broker, Metrics: g.deps.Metrics, Auth: g.deps.Auth, Log: g.log.With("listener", "admin")})
		g.serves = append(g.serves, func(ctx context.Context) error { return admin.ServeListener(ctx, ln, h) })
	}
	return nil
}

func (g *Gateway) listen(name, addr string, eng listener.Engine) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("target %s: listen %s: %w", name, addr, err)
	}
	g.Addrs[name] = ln.Addr().String()
	g.closers = append(g.closers, func() { ln.Close() })
	g.serves = append(g.serves, func(ctx context.Context) error {
		return listener.Serve(ctx, ln, g.cfg.Limits, eng, g.log.With("listener", name))
	})
	return nil
}

// Run serves until ctx is done, then drains: listeners close, live sessions
// are told the gateway is shutting down and their records are sealed.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(g.serves))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Revoking a gateway token ends the sessions opened with it.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		g.deps.Auth.WatchRevocations(ctx, revocationPoll, g.endRevoked)
	}()
	for _, s := range g.serves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	cancel()
	<-watchDone
	g.Close()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// endRevoked ends the live sessions opened with the gateway tokens whose ids
// were just revoked, with one audit line per token that had any (the id, not
// the token, is logged).
func (g *Gateway) endRevoked(ids []string) {
	for _, id := range ids {
		killed := g.deps.Store.KillCredential(id, revokedReason)
		if len(killed) == 0 {
			g.log.Debug("gateway token revoked; no open sessions", "event", "token_revoked", "token_id", id)
			continue
		}
		sessions := make([]string, len(killed))
		for i, r := range killed {
			sessions[i] = r.ID
		}
		g.log.Info("gateway token revoked: open sessions ended", "event", "token_revoked",
			"token_id", id, "identity", killed[0].Identity, "sessions", sessions)
	}
}

// Close releases listeners, the broker and the store.
func (g *Gateway) Close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
	g.closers = nil
}
