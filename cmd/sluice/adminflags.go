package main

import (
	"errors"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/config"
)

// Environment variables that carry admin API credentials, so they stay off
// command lines (and out of shell history and ps).
const (
	envAdminToken = "SLUICE_ADMIN_TOKEN"
	// envIdentity and envIdentityToken log in as a gateway identity instead
	// of with the admin token; decisions are then recorded under that name.
	envIdentity      = "SLUICE_IDENTITY"
	envIdentityToken = "SLUICE_TOKEN"
)

// addAdminFlags adds --config and --admin to a command that talks to a running gateway.
func addAdminFlags(cmd *cobra.Command, cfgPath, adminURL *string) {
	cmd.Flags().StringVar(cfgPath, "config", "", "gateway config file: the admin address and token come from admin.listen and admin.token")
	cmd.Flags().StringVar(adminURL, "admin", "", "admin API URL, e.g. http://127.0.0.1:9080 (token from $"+envAdminToken+", or $"+envIdentity+" + $"+envIdentityToken+")")
}

// adminClientFromFlags builds an admin API client from --config or --admin.
// With --admin the credentials come from the environment: $SLUICE_ADMIN_TOKEN,
// or $SLUICE_IDENTITY with $SLUICE_TOKEN to act as a gateway identity. With
// both flags, --admin gives the address and the config the token.
func adminClientFromFlags(cfgPath, adminURL string) (*admin.Client, error) {
	if cfgPath == "" && adminURL == "" {
		return nil, usagef("give --config FILE or --admin URL (with $%s) to reach the gateway", envAdminToken)
	}
	var token string
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return nil, &usageError{err}
		}
		token = cfg.Admin.Token.Reveal()
		if adminURL == "" {
			if cfg.Admin.Listen == "" {
				return nil, usagef("%s: admin.listen is not set, so there is no admin API to reach (or pass --admin URL)", cfgPath)
			}
			adminURL = dialableAddr(cfg.Admin.Listen)
		}
	}
	if t := os.Getenv(envAdminToken); t != "" {
		token = t
	}
	if token != "" {
		return admin.NewClient(adminURL, token), nil
	}
	if name, t := os.Getenv(envIdentity), os.Getenv(envIdentityToken); name != "" && t != "" {
		return admin.NewIdentityClient(adminURL, name, t), nil
	}
	return nil, usagef("no admin credentials: set $%s (or $%s and $%s), or use --config with admin.token",
		envAdminToken, envIdentity, envIdentityToken)
}

// dialableAddr turns a listen address into one a client can dial: a
// wildcard host (":9080", "0.0.0.0:9080", "[::]:9080") means this machine.
func dialableAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// asCLIError makes an admin API 400 a usage error (exit 2); other failures stay runtime errors.
func asCLIError(err error) error {
	var ae *admin.APIError
	if errors.As(err, &ae) && ae.Status == 400 {
		return &usageError{err}
	}
	return err
}
