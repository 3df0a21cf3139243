package postgres

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/rawconn"
	"github.com/sluice-gw/sluice/upstream"
)

// startupParamsForwarded are the client startup parameters passed upstream.
// user, database and anything that could change who we are upstream
// (replication, options with -c role) are not.
var startupParamsForwarded = map[string]bool{
	"application_name":              true,
	"client_encoding":               true,
	"datestyle":                     true,
	"DateStyle":                     true,
	"timezone":                      true,
	"TimeZone":                      true,
	"search_path":                   true,
	"extra_float_digits":            true,
	"intervalstyle":                 true,
	"IntervalStyle":                 true,
	"statement_timeout":             true,
	"lock_timeout":                  true,
	"default_transaction_read_only": true,
}

// upstreamDialer connects to a target's Postgres with the gateway's credentials.
type upstreamDialer struct {
	target *config.Target
	host   string
	port   uint16
	tls    *tls.Config // nil = disable

}

func newUpstreamDialer(t *config.Target) (*upstreamDialer, error) {
	host, portStr, err := net.SplitHostPort(t.Upstream.Address)
	if err != nil {
		return nil, fmt.Errorf("target %s: upstream.address %q: %w", t.Name, t.Upstream.Address, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("target %s: upstream.address port %q: %w", t.Name, portStr, err)
	}
	d := &upstreamDialer{target: t, host: host, port: uint16(port)}
	d.tls, err = upstream.TLSConfig(t, host)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// dial connects and authenticates upstream, then takes the raw connection
// over from pgconn.
// When views is non-nil, the database's view definitions are read first
// (for masking lineage through views) and returned.
func (d *upstreamDialer) dial(ctx context.Context, acct config.Account, database string, params map[string]string, views *policy.ViewsCache) (*pgconn.HijackedConn, *policy.Views, error) {
	// ParseConfig reads PG* environment defaults; everything that matters is
	// set explicitly below so the environment cannot redirect us.
	cfg, err := pgconn.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, nil, err
	}
	pw, err := upstream.Password(ctx, d.target.Upstream.Address, acct, d.tls != nil)
	if err != nil {
		return nil, nil, err
	}
	cfg.Host = d.host
	cfg.Port = d.port
	cfg.User = acct.User
	cfg.Password = pw
	cfg.Database = database
	cfg.TLSConfig = d.tls
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = d.target.Upstream.ConnectTimeout.Duration
	cfg.DialFunc = dialRaw
	cfg.RuntimeParams = map[string]string{}
	for k, v := range params {
		if startupParamsForwarded[k] {
			cfg.RuntimeParams[k] = v
		}
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	pc, err := pgconn.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	var vs *policy.Views
	if views != nil {
		// What an account may see of the catalogs differs: one snapshot
		// per account and database.
		if vs, err = views.Get(acct.User+"\x00"+database, func() (*policy.Views, error) { return loadViews(cctx, pc) }); err != nil {
			pc.Close(context.Background())
			return nil, nil, err
		}
	}
	// pgconn may have a background reader running (it starts one when a
	// write is slow, to avoid deadlocks); if it is left blocked in Read, it
	// swallows the first response after the hijack and the session stalls.
	// SyncConn stops it and drains its buffer.
	if err := pc.SyncConn(cctx); err != nil {
		pc.Close(context.Background())
		return nil, nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(context.Background())
		return nil, nil, err
	}
	return hc, vs, nil
}

// dialRaw dials TCP (bounded by ctx) for pgconn and wraps the connection
// for cheaper relay I/O after the hijack (see package rawconn); a TLS
// session upstream then runs over the wrapped connection too.
func dialRaw(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return rawconn.Wrap(c), nil
}
