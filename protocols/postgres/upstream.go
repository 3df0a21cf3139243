package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/config"
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
	d.tls, err = upstreamTLS(t, host)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// upstreamTLS builds the client TLS config for a mode. require without a CA
// encrypts without verifying (libpq's sslmode=require); require with a CA
// verifies the chain but not the name (verify-ca); verify-full checks both.
func upstreamTLS(t *config.Target, host string) (*tls.Config, error) {
	mode := t.Upstream.TLS.Mode
	if mode == "" || mode == "disable" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t.Upstream.TLS.ServerName != "" {
		cfg.ServerName = t.Upstream.TLS.ServerName
	}
	var pool *x509.CertPool
	if f := t.Upstream.TLS.CAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("target %s: upstream.tls.ca_file: %w", t.Name, err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("target %s: upstream.tls.ca_file %s holds no PEM certificate", t.Name, f)
		}
		cfg.RootCAs = pool
	}
	switch mode {
	case "verify-full":
		return cfg, nil
	case "require":
		cfg.InsecureSkipVerify = true
		if pool != nil {
			cfg.VerifyPeerCertificate = verifyChainOnly(pool)
		}
		return cfg, nil
	}
	return nil, fmt.Errorf("target %s: upstream.tls.mode %q unknown", t.Name, mode)
}

func verifyChainOnly(pool *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("upstream sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
		return err
	}
}

// password returns the static password or a fresh RDS IAM token.
func (d *upstreamDialer) password(ctx context.Context) (string, error) {
	iam := d.target.Upstream.AWSRDSIAM
	if iam == nil {
		return d.target.Upstream.Password.Reveal(), nil
	}
	if d.tls == nil {
		// Config validation forbids this; keep the guard where the token is made.
		return "", errors.New("refusing to send an RDS IAM token without TLS")
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(iam.Region))
	if err != nil {
		return "", fmt.Errorf("loading AWS credentials: %w", err)
	}
	tok, err := auth.BuildAuthToken(ctx, d.target.Upstream.Address, iam.Region, d.target.Upstream.User, awsCfg.Credentials)
	if err != nil {
		return "", fmt.Errorf("building RDS IAM token: %w", err)
	}
	return tok, nil
}

// dial connects and authenticates upstream, then takes the raw connection
// over from pgconn.
func (d *upstreamDialer) dial(ctx context.Context, database string, params map[string]string) (*pgconn.HijackedConn, error) {
	// ParseConfig reads PG* environment defaults; everything that matters is
	// set explicitly below so the environment cannot redirect us.
	cfg, err := pgconn.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, err
	}
	pw, err := d.password(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Host = d.host
	cfg.Port = d.port
	cfg.User = d.target.Upstream.User
	cfg.Password = pw
	cfg.Database = database
	cfg.TLSConfig = d.tls
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = d.target.Upstream.ConnectTimeout.Duration
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
		return nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(context.Background())
		return nil, err
	}
	return hc, nil
}
