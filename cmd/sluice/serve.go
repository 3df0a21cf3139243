package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/gateway"
)

func newServeCmd() *cobra.Command {
	var cfgPath string
	var check, verbose bool
	cmd := &cobra.Command{
		Use:   "serve --config sluice.yaml",
		Short: "Run the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return usagef("serve needs --config FILE")
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return &usageError{err}
			}
			if check {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d targets, %d identities, %d policies)\n",
					cfgPath, len(cfg.Targets), len(cfg.Identities), len(cfg.Policies))
				return nil
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, newLogger(verbose), cmd)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the config and exit")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

func newLogger(verbose bool) *slog.Logger {
	lvl := slog.LevelInfo
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, cmd *cobra.Command) error {
	g, err := gateway.New(cfg, log)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(g.Addrs))
	for n := range g.Addrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		log.Info("listening", "name", n, "addr", g.Addrs[n])
	}
	return g.Run(ctx)
}
