package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/policy"
)

// checkResult is what `sluice check` reports of one decision.
type checkResult struct {
	Target     string                 `json:"target"`
	Identity   string                 `json:"identity"`
	Action     string                 `json:"action"`
	Rule       string                 `json:"rule,omitempty"`
	Message    string                 `json:"message,omitempty"`
	Statements []policy.StatementInfo `json:"statements,omitempty"`
	// ResultsMasked: result columns are masked where they derive from
	// masked columns; Columns is the plan per output column (a * is
	// masked by name once the result's columns are known).
	ResultsMasked bool                `json:"results_masked"`
	Columns       []policy.ColumnPlan `json:"columns,omitempty"`
	// ErrorsMasked: error and notice texts hide values read from masked
	// columns.
	ErrorsMasked bool `json:"errors_masked"`
}

func newCheckCmd() *cobra.Command {
	var (
		cfgPath, target, as, database string
		groups                        []string
		asJSON                        bool
	)
	cmd := &cobra.Command{
		Use:   "check --target NAME --as IDENTITY STATEMENT",
		Short: "Show what a target's policy decides for a SQL statement or shell command, without running it",
		Long: `check judges a statement (database targets) or a command line (ssh and command
targets) the way the gateway would for the identity, and prints the decision: allow,
block or review, the rule, the message the client would get, and whether results and
error texts would be masked. It reads the config only: the database's own views,
functions and partitions, which the gateway reads when a session starts, are not
consulted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return &usageError{err}
			}
			t, ok := cfg.Target(target)
			if !ok {
				return usagef("no target %q in %s", target, cfgPath)
			}
			if as == "" {
				return usagef("--as IDENTITY is required")
			}
			for _, id := range cfg.Identities {
				if id.Name == as {
					groups = append(groups, id.Groups...)
				}
			}
			set, err := policy.NewSet(cfg)
			if err != nil {
				return &usageError{err}
			}
			p := set.For(t.Name)
			sub := policy.Subject{Target: t.Name, Protocol: t.Protocol, Identity: as, Groups: groups, Database: database}
			var d policy.Decision
			switch t.Protocol {
			case "postgres":
				d = p.CheckSQL(policy.Postgres, sub, args[0])
			case "mysql":
				d = p.CheckSQL(policy.MySQL, sub, args[0])
			default:
				d = p.CheckCommand(sub, args[0])
			}
			res := checkResult{Target: t.Name, Identity: as, Action: d.Action.String(), Rule: d.Rule,
				Message: d.Message, Statements: d.Statements, ResultsMasked: d.Mask != nil, ErrorsMasked: d.Errors != nil,
				Columns: d.Mask.Plan()}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(out, "action:  %s\n", res.Action)
			if res.Rule != "" {
				fmt.Fprintf(out, "rule:    %s\n", res.Rule)
			}
			if res.Message != "" {
				fmt.Fprintf(out, "message: %s\n", res.Message)
			}
			for i, s := range res.Statements {
				line := s.Kind
				if len(s.Tables) > 0 {
					line += " (tables: " + strings.Join(s.Tables, ", ") + ")"
				}
				fmt.Fprintf(out, "statement %d: %s\n", i+1, line)
			}
			if t.Protocol == "postgres" || t.Protocol == "mysql" {
				fmt.Fprintf(out, "results: %s\n", yesNo(res.ResultsMasked, "masked where they derive from masked columns", "not masked"))
				for _, c := range res.Columns {
					printColumnPlan(out, c)
				}
				fmt.Fprintf(out, "errors:  %s\n", yesNo(res.ErrorsMasked, "values from masked columns hidden", "as the server writes them"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "sluice.yaml", "gateway config file")
	cmd.Flags().StringVar(&target, "target", "", "target whose policy judges (required)")
	cmd.Flags().StringVar(&as, "as", "", "identity to judge for; its configured groups apply (required)")
	cmd.Flags().StringSliceVar(&groups, "group", nil, "extra group of the identity (as an OIDC token would carry)")
	cmd.Flags().StringVar(&database, "database", "", "MySQL current database (what USE set)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the decision as JSON")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func printColumnPlan(out io.Writer, c policy.ColumnPlan) {
	name := c.Name
	switch {
	case c.Star:
		name = "*"
	case name == "":
		name = "?column?"
	}
	switch {
	case c.Method == "":
		fmt.Fprintf(out, "  %s: clean\n", name)
	case c.Star:
		fmt.Fprintf(out, "  %s: masked by column name (%s)\n", name, c.Source)
	default:
		fmt.Fprintf(out, "  %s: %s (%s)\n", name, c.Method, c.Source)
	}
}
