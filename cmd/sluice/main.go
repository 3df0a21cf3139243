// Command sluice is the Sluice access gateway: one binary for the gateway
// (serve, demo) and for operators (sessions, replay, approvals, ...).
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes (contract): 0 ok, 1 runtime error, 2 usage or config error.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError marks an error as the caller's (bad flag, bad config): exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: the access gateway for databases and shells",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	// One constructor per subcommand, each in its own file.
	root.AddCommand(
		newServeCmd(),
		newDemoCmd(),
		newVersionCmd(),
		newApprovalsCmd(), newApproveCmd(), newDenyCmd(),
		newSessionsCmd(), newReplayCmd(), newVerifyCmd(), newWatchCmd(),
		newTokenCmd(),
		newCheckCmd(),
	)
	return root
}

func main() {
	root := newRoot()
	err := root.Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	fmt.Fprintln(os.Stderr, "sluice:", err)
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		os.Exit(exitUsage)
	}
	os.Exit(exitRuntime)
}

// isCobraUsage recognises cobra's own argument errors (unknown command, wrong arg count).
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
