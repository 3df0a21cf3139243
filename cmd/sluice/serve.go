package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/gateway"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/policy"
)

func newServeCmd() *cobra.Command {
	var cfgPath string
	var check, verbose bool
	var pprofAddr string
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
				// Compile what serve would compile: rule kinds, column patterns
				// and detector names are only checked by the policy package.
				if _, err := policy.NewSet(cfg); err != nil {
					return &usageError{err}
				}
				if _, err := identity.New(cfg); err != nil {
					return &usageError{err}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d targets, %d identities, %d policies)\n",
					cfgPath, len(cfg.Targets), len(cfg.Identities), len(cfg.Policies))
				return nil
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if pprofAddr != "" {
				if err := servePprof(ctx, pprofAddr); err != nil {
					return &usageError{fmt.Errorf("--pprof: %w", err)}
				}
			}
			return serve(ctx, cfg, newLogger(verbose), cmd)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the config and exit")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "serve Go pprof profiles on this address (e.g. 127.0.0.1:6060; never expose it)")
	return cmd
}

// servePprof serves net/http/pprof on its own loopback listener until ctx ends.
func servePprof(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return nil
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
