package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/session"
)

// recordingFlags say where recordings are read from: the data dir of a
// config file (works while the gateway is down), a data dir given directly,
// or a running gateway's admin API.
type recordingFlags struct {
	config  string
	dataDir string
	admin   string
}

func (f *recordingFlags) register(cmd *cobra.Command, withAdmin bool) {
	cmd.Flags().StringVar(&f.config, "config", "", "gateway config file; recordings are read from its data_dir")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "read recordings from this data dir (instead of --config)")
	if withAdmin {
		cmd.Flags().StringVar(&f.admin, "admin", "", "admin API URL of a running gateway (token from $SLUICE_ADMIN_TOKEN)")
	}
}

// source checks the flags: exactly one of --config, --data-dir, --admin.
func (f *recordingFlags) source() error {
	n := 0
	for _, v := range []string{f.config, f.dataDir, f.admin} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		if f.admin == "" && n == 0 {
			return usagef("give --config FILE or --data-dir DIR (or --admin URL where supported)")
		}
		return usagef("give only one of --config, --data-dir, --admin")
	}
	return nil
}

// resolve returns the data dir and the seal key: recording.seal_key from
// --config, else $SLUICE_SEAL_KEY (with --data-dir).
func (f *recordingFlags) resolve() (dir string, sealKey []byte, err error) {
	if f.dataDir != "" {
		return f.dataDir, []byte(os.Getenv("SLUICE_SEAL_KEY")), nil
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return "", nil, &usageError{err}
	}
	return cfg.DataDir, []byte(cfg.Recording.SealKey.Reveal()), nil
}

// openStore opens the session index read-only.
func (f *recordingFlags) openStore() (*session.Store, error) {
	dir, key, err := f.resolve()
	if err != nil {
		return nil, err
	}
	return session.OpenStore(dir, session.Options{ReadOnly: true, SealKey: key})
}

func (f *recordingFlags) adminClient() (*admin.Client, error) {
	tok := os.Getenv("SLUICE_ADMIN_TOKEN")
	if tok == "" {
		return nil, usagef("--admin needs the admin token in $SLUICE_ADMIN_TOKEN")
	}
	return admin.NewClient(f.admin, tok), nil
}

// getRecord finds one session's index row.
func getRecord(ctx context.Context, st *session.Store, id string) (session.Record, error) {
	rec, err := st.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return rec, fmt.Errorf("no session %q in %s", id, st.Dir())
	}
	return rec, err
}

func newSessionsCmd() *cobra.Command {
	var (
		rf     recordingFlags
		f      session.Filter
		since  string
		status string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "sessions [--target T] [--user U] [--protocol P] [--status S] [--credential TOKEN-ID] [--since 1h|RFC3339] [--limit N] [--json]",
		Short: "List recorded sessions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rf.source(); err != nil {
				return err
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usagef("--since: %v", err)
				}
				f.Since = t
			}
			if f.Limit < 0 {
				return usagef("--limit must be >= 0")
			}
			f.Status = session.Status(status)
			var recs []session.Record
			if rf.admin != "" {
				c, err := rf.adminClient()
				if err != nil {
					return err
				}
				if recs, err = c.Sessions(cmd.Context(), f); err != nil {
					return fmt.Errorf("admin API: %w", err)
				}
			} else {
				st, err := rf.openStore()
				if err != nil {
					return err
				}
				defer st.Close()
				if recs, err = st.List(cmd.Context(), f); err != nil {
					return err
				}
			}
			if asJSON {
				return writeSessionsJSON(cmd.OutOrStdout(), recs)
			}
			return writeSessionsTable(cmd.OutOrStdout(), recs, time.Now())
		},
	}
	rf.register(cmd, true)
	cmd.Flags().StringVar(&f.Target, "target", "", "only sessions to this target")
	cmd.Flags().StringVar(&f.Identity, "user", "", "only sessions of this identity")
	cmd.Flags().StringVar(&f.Protocol, "protocol", "", "only this protocol (postgres, mysql, ssh, command)")
	cmd.Flags().StringVar(&status, "status", "", "only this status (active, closed, failed, killed)")
	cmd.Flags().StringVar(&f.CredentialID, "credential", "", "only sessions opened with this gateway token id (see `sluice token list`)")
	cmd.Flags().StringVar(&since, "since", "", "only sessions started since a duration ago (1h, 2d) or a time (RFC3339)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many sessions (0 = all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// parseSince reads "90m", "2d" (days) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q is not a duration (1h, 2d) or an RFC 3339 time", s)
		}
		return now.AddDate(0, 0, -n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is not a duration (1h, 2d) or an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

func writeSessionsJSON(w io.Writer, recs []session.Record) error {
	if recs == nil {
		recs = []session.Record{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(recs)
}

func writeSessionsTable(w io.Writer, recs []session.Record, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTART\tDURATION\tSTATUS\tPROTOCOL\tTARGET\tIDENTITY\tCLIENT\tQUERIES")
	for _, r := range recs {
		end := r.End
		if end.IsZero() {
			end = now
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.ID, r.Start.Local().Format("2006-01-02 15:04:05"),
			end.Sub(r.Start).Round(time.Second), r.Status, r.Protocol, r.Target, r.Identity, r.ClientAddr, r.Queries)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if len(recs) == 0 {
		fmt.Fprintln(w, "(no sessions)")
	}
	return nil
}
