package mysql

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/charset"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/rawconn"
	"github.com/sluice-gw/sluice/upstream"
)

// mirroredCaps are the capabilities requested upstream exactly as the client
// negotiated them with the gateway, so both legs frame results alike.
var mirroredCaps = []uint32{
	gm.CLIENT_FOUND_ROWS, gm.CLIENT_IGNORE_SPACE, gm.CLIENT_MULTI_STATEMENTS,
	gm.CLIENT_MULTI_RESULTS, gm.CLIENT_PS_MULTI_RESULTS, gm.CLIENT_LOCAL_FILES,
	gm.CLIENT_SESSION_TRACK,
}

// formatCaps change how responses are framed; both legs must agree on them.
var formatCaps = map[uint32]string{
	gm.CLIENT_DEPRECATE_EOF: "CLIENT_DEPRECATE_EOF",
	gm.CLIENT_SESSION_TRACK: "CLIENT_SESSION_TRACK",
}

// upstreamDialer connects to a target's MySQL/MariaDB with the gateway's
// credentials (go-mysql's client does the handshake and auth plugins:
// native, caching_sha2 with TLS or RSA, MariaDB ed25519, and the cleartext
// switch RDS IAM uses), then hands the raw connection to the relay.
type upstreamDialer struct {
	target *config.Target
	tls    *tls.Config // nil = disable
	max    int
	log    *slog.Logger
	// hiddenFuncs is the last count of stored functions whose bodies the
	// upstream account could not read (warned about when it changes).
	hiddenFuncs atomic.Int64
}

// upstreamConn is an authenticated upstream connection.
type upstreamConn struct {
	leg      *leg
	threadID uint32
	version  string
	views    *policy.Views // the database's views, when the policy masks columns
}

func newUpstreamDialer(t *config.Target, maxPacket int) (*upstreamDialer, error) {
	host, _, err := net.SplitHostPort(t.Upstream.Address)
	if err != nil {
		return nil, fmt.Errorf("target %s: upstream.address %q: %w", t.Name, t.Upstream.Address, err)
	}
	cfg, err := upstream.TLSConfig(t, host)
	if err != nil {
		return nil, err
	}
	usesIAM := t.Upstream.AWSRDSIAM != nil
	for _, a := range t.Upstream.Accounts {
		usesIAM = usesIAM || a.AWSRDSIAM != nil
	}
	if usesIAM && cfg == nil {
		return nil, fmt.Errorf("target %s: upstream.aws_rds_iam needs upstream.tls.mode require or verify-full (the token is sent in clear)", t.Name)
	}
	return &upstreamDialer{target: t, tls: cfg, max: maxPacket}, nil
}

// dial connects and authenticates upstream with the client's negotiated
// capabilities and collation, then takes over the raw connection.
// When views is non-nil, the server's view definitions are read first (for
// masking lineage through views) and returned on the connection.
func (d *upstreamDialer) dial(ctx context.Context, acct config.Account, hs *handshakeResponse, db string, views *policy.ViewsCache) (_ *upstreamConn, err error) {
	pw, err := upstream.Password(ctx, d.target.Upstream.Address, acct, d.tls != nil)
	if err != nil {
		return nil, err
	}
	timeout := d.target.Upstream.ConnectTimeout.Duration
	if timeout <= 0 {
		timeout = config.DefaultConnectTimeout
	}
	var raw net.Conn
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{Timeout: timeout}
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// Bounds the whole handshake: go-mysql's client reads without one.
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			c.Close()
			return nil, err
		}
		raw = rawconn.Wrap(c) // cheaper relay I/O; see package rawconn
		return raw, nil
	}
	opts := []client.Option{func(c *client.Conn) error {
		for _, cap := range mirroredCaps {
			if hs.Caps&cap != 0 {
				if err := c.SetCapability(cap); err != nil {
					return err
				}
			} else {
				c.UnsetCapability(cap)
			}
		}
		if hs.Caps&gm.CLIENT_DEPRECATE_EOF == 0 {
			c.UnsetCapability(gm.CLIENT_DEPRECATE_EOF)
		}
		c.UnsetCapability(gm.CLIENT_QUERY_ATTRIBUTES)
		// The client's attributes (program name, driver) help upstream
		// operators read their process list; the gateway adds its own mark.
		c.SetAttributes(hs.Attrs)
		c.SetAttributes(map[string]string{"_sluice_gateway": "1"})
		if coll, err := charset.GetCollationByID(int(hs.Collation)); err == nil {
			if err := c.SetCollation(coll.Name); err != nil {
				return err
			}
		}
		if d.tls != nil {
			c.SetTLSConfig(d.tls.Clone())
		}
		return nil
	}}
	// go-mysql's handshake parser slices the server greeting without bounds
	// checks; a hostile or broken upstream must not take the gateway down.
	defer func() {
		if r := recover(); r != nil {
			if raw != nil {
				raw.Close()
			}
			err = fmt.Errorf("malformed upstream handshake: %v", r)
		}
	}()
	stop := context.AfterFunc(ctx, func() {
		if raw != nil {
			raw.Close()
		}
	})
	defer stop()
	c, err := client.ConnectWithDialer(ctx, "tcp", d.target.Upstream.Address, acct.User, pw, db, dialer, opts...)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", d.target.Upstream.Address, err)
	}
	if err := checkFormatCaps(hs.Caps, c.CapabilityString()); err != nil {
		c.Close()
		return nil, err
	}
	var vs *policy.Views
	if views != nil {
		// One server-wide snapshot per upstream account: USE only changes
		// which schema the session's unqualified names resolve against
		// (Subject.Database), but what an account may see of the catalogs
		// (routine bodies, views of schemas it has no grant on) differs.
		if vs, err = views.Get(acct.User, func() (*policy.Views, error) { return d.loadViews(c) }); err != nil {
			c.Close()
			return nil, err
		}
	}
	netConn := c.Conn.Conn
	if err := netConn.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, err
	}
	return &upstreamConn{leg: newLeg(netConn, d.max), threadID: c.GetConnectionID(), version: c.GetServerVersion(), views: vs}, nil
}

const viewsQuery = "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS" +
	" WHERE TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema')"

// funcsQuery lists the server's stored functions with their bodies, so
// that lineage can tell which of them may read masked columns.
const funcsQuery = "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES" +
	" WHERE ROUTINE_TYPE = 'FUNCTION' AND ROUTINE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema')"

// loadViews reads the server's view definitions and stored functions,
// every schema, over the gateway's own upstream connection, before the
// relay takes it over.
func (d *upstreamDialer) loadViews(c *client.Conn) (*policy.Views, error) {
	views, err := readTriples(c, viewsQuery)
	if err != nil {
		return nil, fmt.Errorf("reading view definitions: %w", err)
	}
	funcs, err := readTriples(c, funcsQuery)
	if err != nil {
		return nil, fmt.Errorf("reading stored functions: %w", err)
	}
	defs := make([]policy.ViewDef, len(views))
	for i, v := range views {
		defs[i] = policy.ViewDef{Schema: v[0], Name: v[1], Definition: v[2]}
	}
	fns := make([]policy.FuncDef, len(funcs))
	hidden := 0
	for i, f := range funcs {
		fns[i] = policy.FuncDef{Schema: f[0], Name: f[1], Body: f[2]} // NULL (not shown) reads as ""
		if f[2] == "" {
			hidden++
		}
	}
	if prev := d.hiddenFuncs.Swap(int64(hidden)); hidden > 0 && prev != int64(hidden) && d.log != nil {
		d.log.Warn("stored functions whose bodies the gateway's upstream account cannot read: calls to them are masked as data of unknown origin",
			"functions", hidden, "hint", "make the account able to read routine definitions: their definer, SELECT on mysql.proc or SHOW CREATE ROUTINE (MariaDB), SHOW_ROUTINE (MySQL)")
	}
	return policy.NewMySQLViews(defs).WithFuncs(fns), nil
}

// readTriples runs a query of three string columns.
func readTriples(c *client.Conn, query string) ([][3]string, error) {
	res, err := c.Execute(query)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out [][3]string
	if res.Resultset != nil {
		for i := range res.Values {
			var row [3]string
			for j := range row {
				row[j], _ = res.GetString(i, j)
			}
			out = append(out, row)
		}
	}
	return out, nil
}

// checkFormatCaps refuses an upstream that did not accept a capability the
// client negotiated and that changes response framing.
func checkFormatCaps(clientCaps uint32, upstreamCaps string) error {
	have := map[string]bool{}
	for _, f := range strings.Split(upstreamCaps, "|") {
		have[strings.TrimSpace(f)] = true
	}
	for bit, name := range formatCaps {
		if (clientCaps&bit != 0) != have[name] {
			return fmt.Errorf("upstream and client disagree on %s; the gateway cannot relay between them", name)
		}
	}
	return nil
}
