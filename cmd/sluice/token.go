package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue and revoke short-lived gateway tokens (for CI jobs and AI agents)",
	}
	cmd.AddCommand(newTokenIssueCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenIssueCmd() *cobra.Command {
	var (
		cfgPath       string
		name          string
		ttl           time.Duration
		groups        []string
		allowUnlisted bool
	)
	cmd := &cobra.Command{
		Use:   "issue --identity NAME --ttl 8h [--group G]... --config F",
		Short: "Print a signed gateway token, usable as the DSN or SSH password",
		Long: `Print a gateway token signed with identity.token_key. Use it as the password
of the identity it names (postgres://NAME:TOKEN@gateway/...). The identity must
be configured under identities (its kind, groups and targets apply when the
token is used); --allow-unlisted issues for any valid name. --group adds groups
on top of the configured ones. The token id (jti) and expiry go to stderr, so
stdout is just the token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usagef("--identity is required")
			}
			if ttl <= 0 {
				return usagef("--ttl must be a positive duration such as 8h")
			}
			auth, _, err := tokenAuthenticator(cfgPath)
			if err != nil {
				return err
			}
			tok, claims, err := auth.IssueToken(identity.IssueRequest{Name: name, TTL: ttl, Groups: groups, AllowUnlisted: allowUnlisted})
			if err != nil {
				return &usageError{fmt.Errorf("%s: %w", cfgPath, err)}
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintf(cmd.ErrOrStderr(), "token id %s for %s (%s), expires %s\n",
				claims.ID, claims.Name, claims.Kind, claims.ExpiresAt().UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "gateway config file (identity.token_key signs the token)")
	cmd.Flags().StringVar(&name, "identity", "", "identity name the token authenticates as")
	cmd.Flags().DurationVar(&ttl, "ttl", 8*time.Hour, "how long the token is valid")
	cmd.Flags().StringArrayVar(&groups, "group", nil, "extra group for this token (repeatable)")
	cmd.Flags().BoolVar(&allowUnlisted, "allow-unlisted", false, "issue for a name that is not configured under identities")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "revoke JTI|TOKEN --config F",
		Short: "Revoke a gateway token by its id or by the token itself",
		Long: `Add the token's id to the revocation list in data_dir. A running gateway
re-reads the list on the next gateway-token login, so the token is refused
("token revoked") from then on, and ends the sessions already open with it
within about 2 seconds. An id that starts with "-" (issued by earlier
releases) goes after "--": sluice token revoke --config F -- -abc...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cfg, err := tokenAuthenticator(cfgPath)
			if err != nil {
				return err
			}
			jti, expiry, err := tokenID(cfg, strings.TrimSpace(args[0]))
			if err != nil {
				return err
			}
			if err := identity.Revoke(cfg.DataDir, jti, expiry, time.Now()); err != nil {
				return fmt.Errorf("revoke %s: %w", jti, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s\n", jti)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "gateway config file (data_dir holds the revocation list)")
	return cmd
}

// tokenID is the jti to revoke: the argument itself, or the id inside a
// whole token (whose signature must verify, so a typo cannot revoke
// something else).
func tokenID(cfg *config.Config, arg string) (string, time.Time, error) {
	if strings.HasPrefix(arg, "slu1.") {
		key := cfg.Identity.TokenKey.Reveal()
		if key == "" {
			return "", time.Time{}, usagef("%s: identity.token_key is not set, cannot read the token", cfg.Path())
		}
		c, err := identity.ParseToken([]byte(key), arg)
		if err != nil {
			return "", time.Time{}, usagef("not a token signed by this gateway's token_key: %v", err)
		}
		return c.ID, c.ExpiresAt(), nil
	}
	if arg == "" || strings.ContainsAny(arg, " \t./") || len(arg) > 128 {
		return "", time.Time{}, usagef("%q is neither a token id nor a gateway token", arg)
	}
	return arg, time.Time{}, nil
}

func tokenAuthenticator(cfgPath string) (*identity.Authenticator, *config.Config, error) {
	if cfgPath == "" {
		return nil, nil, usagef("--config is required (the token key and data_dir come from it)")
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, &usageError{err}
	}
	// The CLI makes no authentication attempts, so no audit log is needed.
	auth, err := identity.NewWithOptions(cfg, identity.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, &usageError{fmt.Errorf("%s: %w", cfgPath, err)}
	}
	return auth, cfg, nil
}
