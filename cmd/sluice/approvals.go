package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/policy"
)

// Table layout limits.
const (
	statementColumn = 60
	recentShown     = 10
)

func newApprovalsCmd() *cobra.Command {
	var cfgPath, adminURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List approval requests waiting for a reviewer, and recent decisions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := adminClientFromFlags(cfgPath, adminURL)
			if err != nil {
				return err
			}
			list, err := c.Approvals(cmd.Context())
			if err != nil {
				return asCLIError(err)
			}
			if asJSON {
				return writeJSONOut(cmd.OutOrStdout(), list)
			}
			return printApprovals(cmd.OutOrStdout(), list, time.Now())
		},
	}
	addAdminFlags(cmd, &cfgPath, &adminURL)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

func newApproveCmd() *cobra.Command { return newDecisionCmd(true) }
func newDenyCmd() *cobra.Command    { return newDecisionCmd(false) }

// newDecisionCmd builds `sluice approve ID` and `sluice deny ID`.
func newDecisionCmd(approve bool) *cobra.Command {
	var cfgPath, adminURL, reason, as string
	var asJSON bool
	verb, short := "deny", "Deny a held statement or command"
	if approve {
		verb, short = "approve", "Approve a held statement or command"
	}
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			if id == "" {
				return usagef("%s: the approval ID is empty (see 'sluice approvals')", verb)
			}
			c, err := adminClientFromFlags(cfgPath, adminURL)
			if err != nil {
				return err
			}
			decide := c.Deny
			if approve {
				decide = c.Approve
			}
			out, err := decide(cmd.Context(), id, reason, as)
			if err != nil {
				return asCLIError(fmt.Errorf("%s %s: %w", verb, id, err))
			}
			if asJSON {
				return writeJSONOut(cmd.OutOrStdout(), out)
			}
			word := "denied"
			if out.Approved {
				word = "approved"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (reviewer %s)\n", word, id, out.Reviewer)
			return nil
		},
	}
	addAdminFlags(cmd, &cfgPath, &adminURL)
	cmd.Flags().StringVar(&reason, "reason", "", "why; shown to the client and recorded")
	cmd.Flags().StringVar(&as, "as", "", "reviewer name, required with the admin token")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	return cmd
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printApprovals writes the pending table and the latest decisions.
func printApprovals(w io.Writer, list admin.ApprovalList, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(list.Pending) == 0 {
		fmt.Fprintln(tw, "No approval requests are waiting.")
	} else {
		fmt.Fprintln(tw, "ID\tWAITING\tEXPIRES IN\tIDENTITY\tTARGET\tRULE\tSTATEMENT")
		for _, r := range list.Pending {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, roundAge(now.Sub(r.Created)), roundAge(r.Expires.Sub(now)),
				r.Identity, r.Target, r.Rule, shortStatement(r.Statement))
		}
		fmt.Fprintln(tw, "\nDecide with: sluice approve ID --reason TEXT   or   sluice deny ID --reason TEXT")
	}
	if len(list.Recent) > 0 {
		fmt.Fprintln(tw, "\nRECENT\tOUTCOME\tREVIEWER\tIDENTITY\tTARGET\tREASON\tSTATEMENT")
		for i, d := range list.Recent {
			if i == recentShown {
				break
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Request.ID, policy.OutcomeLabel(d.Outcome), dash(d.Outcome.Reviewer),
				d.Request.Identity, d.Request.Target, dash(shortStatement(d.Outcome.Reason)), shortStatement(d.Request.Statement))
		}
	}
	return tw.Flush()
}

func roundAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}

// shortStatement is one line of at most statementColumn runes; tabs would break the table.
func shortStatement(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > statementColumn {
		return string(r[:statementColumn-1]) + "…"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
