package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/session"
)

func newVerifyCmd() *cobra.Command {
	var (
		rf     recordingFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "verify ID",
		Short: "Check a session recording's hash chain for tampering or truncation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.source(); err != nil {
				return err
			}
			st, err := rf.openStore()
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := st.Verify(cmd.Context(), args[0])
			if errors.Is(err, session.ErrNotFound) {
				return fmt.Errorf("no session %q in %s", args[0], st.Dir())
			}
			if err != nil {
				return fmt.Errorf("verify %s: %w", args[0], err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(out, "PROBLEM:", p)
				}
				for _, w := range rep.Warnings {
					fmt.Fprintln(out, "warning:", w)
				}
				sealed := "sealed"
				if !rep.Sealed {
					sealed = "not sealed"
				}
				if rep.OK() {
					fmt.Fprintf(out, "%s: ok (%d chunks, %s, head %s)\n", rep.ID, rep.Chunks, sealed, rep.Head)
				}
			}
			if !rep.OK() {
				return fmt.Errorf("recording of session %s failed verification (%d problems)", rep.ID, len(rep.Problems))
			}
			return nil
		},
	}
	rf.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
