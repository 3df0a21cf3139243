// Package upstream holds what every database engine needs to reach a target
// with the gateway's own credentials: the client TLS config for the
// target's tls mode, and the password (static, or an AWS RDS IAM token made
// from the default AWS credential chain).
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/sluice-gw/sluice/config"
)

// TLSConfig builds the client TLS config for the target's mode: nil for
// disable; require encrypts without verifying, or verifies the chain but not
// the name when a CA file is given (libpq's verify-ca); verify-full checks
// chain and name (host, or upstream.tls.server_name).
func TLSConfig(t *config.Target, host string) (*tls.Config, error) {
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
		pemBytes, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("target %s: upstream.tls.ca_file: %w", t.Name, err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
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

// ErrIAMWithoutTLS refuses to make an RDS IAM token for a connection that
// would carry it in clear.
var ErrIAMWithoutTLS = errors.New("refusing to send an RDS IAM token without TLS")

// Password returns the account's static password, or a fresh RDS IAM token
// (valid 15 minutes) for the database at address when the account uses
// aws_rds_iam. withTLS says whether the connection that will carry it is
// encrypted.
func Password(ctx context.Context, address string, acct config.Account, withTLS bool) (string, error) {
	iam := acct.AWSRDSIAM
	if iam == nil {
		return acct.Password.Reveal(), nil
	}
	if !withTLS {
		// Config validation forbids this; keep the guard where the token is made.
		return "", ErrIAMWithoutTLS
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(iam.Region))
	if err != nil {
		return "", fmt.Errorf("loading AWS credentials: %w", err)
	}
	tok, err := auth.BuildAuthToken(ctx, address, iam.Region, acct.User, awsCfg.Credentials)
	if err != nil {
		return "", fmt.Errorf("building RDS IAM token: %w", err)
	}
	return tok, nil
}
