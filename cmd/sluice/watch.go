package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/replay"
	"github.com/sluice-gw/sluice/session"
)

func newWatchCmd() *cobra.Command {
	var (
		rf   recordingFlags
		poll time.Duration
	)
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a live session's terminal or query transcript until it ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.source(); err != nil {
				return err
			}
			if poll <= 0 {
				return usagef("--poll must be positive")
			}
			st, err := rf.openStore()
			if err != nil {
				return err
			}
			defer st.Close()
			id := args[0]
			if _, err := getRecord(cmd.Context(), st, id); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			get := func(ctx context.Context) (session.Record, error) { return st.Get(ctx, id) }
			err = replay.Follow(ctx, st.Dir(), id, get, cmd.OutOrStdout(), poll)
			if ctx.Err() != nil && cmd.Context().Err() == nil {
				return nil // Ctrl-C ends watching, not an error
			}
			return err
		},
	}
	rf.register(cmd, false)
	cmd.Flags().DurationVar(&poll, "poll", 250*time.Millisecond, "how often to look for new recording data")
	return cmd
}
