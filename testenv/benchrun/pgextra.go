package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/testenv"
)

// realisticPolicy is what a production target might carry: five rules (the
// pgbench -S statement matches none, so it is judged and allowed) and three
// masks, one of them on the column pgbench -S reads, so every result row
// goes through the masker.
const realisticPolicy = `policies:
  bench:
    rules:
      - {name: no-drops, when: {sql: [drop, truncate]}, action: block}
      - {name: bulk-writes, when: {sql: [delete, update], without_where: true}, action: review}
      - {name: no-copy-program, when: {copy_program: true}, action: block}
      - {name: no-file-read, when: {functions: [pg_read_file, pg_read_binary_file, lo_import]}, action: block}
      - {name: history-append-only, when: {tables: [pgbench_history], sql: [delete, update]}, action: block}
    masks:
      - {columns: [pgbench_accounts.abalance], method: redact}
      - {columns: [pgbench_accounts.filler, pgbench_branches.filler, bigusers.email], method: partial}
      - {columns: ["*.ssn"], method: redact}
approvals:
  reviewers: {identities: [reviewer]}
`

// policyYAML resolves -policy to YAML appended to the gateway config.
func policyYAML(p string) (string, error) {
	switch p {
	case "":
		return "", nil
	case "realistic":
		return realisticPolicy, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("-policy: %w", err)
	}
	return string(data), nil
}

// extraGateway starts Postgres and a sluice gateway with the given targets
// (upstream filled in) and extra YAML; stop ends both.
func extraGateway(ctx context.Context, o options, w io.Writer, extra string, targets ...gwTarget) (*testenv.Postgres, *gateway, func(), error) {
	work, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("temp dir: %w", err)
	}
	fmt.Fprintln(w, "starting Postgres and the gateway...")
	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	if err != nil {
		os.RemoveAll(work)
		return nil, nil, nil, err
	}
	bin, err := sluiceBinary(ctx, o, work)
	if err == nil {
		for i := range targets {
			t := &targets[i]
			t.Protocol, t.Upstream, t.User, t.Password, t.Database = "postgres", pg.Addr, pg.User, pg.Password, pg.Database
			if t.Listen, err = testenv.FreeAddr(); err != nil {
				break
			}
		}
	}
	var g *gateway
	if err == nil {
		dir := filepath.Join(work, "gateway")
		if err = os.MkdirAll(dir, 0o700); err == nil {
			g, err = startGateway(ctx, bin, dir, targets, extra, postgresReady)
		}
	}
	if err != nil {
		pg.Stop()
		os.RemoveAll(work)
		return nil, nil, nil, err
	}
	stop := func() { g.stop(); pg.Stop(); os.RemoveAll(work) }
	return pg, g, stop, nil
}

// rssKiB reads VmRSS of a process.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// runIdle opens o.sessions sessions through the gateway and reports the
// gateway's RSS growth per session: right after login, and after each
// session ran one query (its buffers then exist).
func runIdle(ctx context.Context, o options, w io.Writer) error {
	_, g, stop, err := extraGateway(ctx, o, w, "", gwTarget{Name: "appdb"})
	if err != nil {
		return err
	}
	defer stop()
	pid := g.cmd.Process.Pid
	time.Sleep(time.Second)
	before, err := rssKiB(pid)
	if err != nil {
		return err
	}
	dsn := g.connInfo() + " password=" + g.Token
	conns := make([]*pgconn.PgConn, o.sessions)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	// 8 dialers at a time: logins are SCRAM plus an upstream login each.
	var wg sync.WaitGroup
	errs := make(chan error, o.sessions)
	sem := make(chan struct{}, 8)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := pgconn.Connect(cctx, dsn)
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	fmt.Fprintf(w, "opened %d sessions\n", len(conns))
	if err := <-errs; err != nil {
		return fmt.Errorf("opening idle sessions: %w", err)
	}
	time.Sleep(2 * time.Second)
	afterLogin, err := rssKiB(pid)
	if err != nil {
		return err
	}
	for i, c := range conns {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := c.Exec(qctx, "SELECT 1").ReadAll()
		cancel()
		if err != nil {
			return fmt.Errorf("query on idle session %d: %w", i, err)
		}
	}
	time.Sleep(2 * time.Second)
	afterQuery, err := rssKiB(pid)
	if err != nil {
		return err
	}
	n := int64(o.sessions)
	fmt.Fprintf(w, "\nidle sessions through the gateway (sluice serve RSS from /proc/PID/status)\n")
	fmt.Fprintf(w, "sessions  rss_before_kib  rss_after_login_kib  kib_per_session  rss_after_one_query_kib  kib_per_session\n")
	fmt.Fprintf(w, "%8d  %14d  %19d  %15.1f  %23d  %15.1f\n", n, before, afterLogin,
		float64(afterLogin-before)/float64(n), afterQuery, float64(afterQuery-before)/float64(n))
	return nil
}

// bigResultQuery reads every row of bigusers (id, name, email, ssn).
const bigResultQuery = "SELECT id, name, email, ssn FROM bigusers"

// runBigResult streams an o.rows-row result direct, through the gateway
// without policy, and through the gateway with email and ssn masked.
func runBigResult(ctx context.Context, o options, w io.Writer) error {
	targets := []gwTarget{{Name: "plain"}, {Name: "masked", Policy: "bench"}}
	pg, g, stop, err := extraGateway(ctx, o, w, realisticPolicy, targets...)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(w, "loading bigusers with %d rows...\n", o.rows)
	if err := pg.Exec(ctx, fmt.Sprintf(`CREATE TABLE bigusers AS SELECT g AS id, 'User ' || g AS name,
  'user' || g || '@example.com' AS email, lpad((g %% 1000)::text, 3, '0') || '-12-' || lpad((g %% 10000)::text, 4, '0') AS ssn
FROM generate_series(1, %d) g; ALTER TABLE bigusers OWNER TO %s; ANALYZE bigusers`, o.rows, pg.User)); err != nil {
		return err
	}
	host := func(addr string) string {
		h, p, _ := strings.Cut(addr, ":")
		return fmt.Sprintf("host=%s port=%s", h, p)
	}
	legs := []struct{ name, dsn string }{
		{"direct", fmt.Sprintf("%s user=%s password=%s dbname=%s sslmode=disable", host(pg.Addr), pg.User, pg.Password, pg.Database)},
		{"sluice", fmt.Sprintf("%s user=%s password=%s dbname=%s sslmode=disable", host(g.Addr), g.User, g.Token, pg.Database)},
		{"sluice-masked", fmt.Sprintf("%s user=%s password=%s dbname=%s sslmode=disable", host(targets[1].Listen), g.User, g.Token, pg.Database)},
	}
	secs := map[string][]float64{}
	var masked string
	for round := 0; round < o.rounds; round++ {
		for i := range legs {
			l := legs[(i+round)%len(legs)]
			c, err := pgconn.Connect(ctx, l.dsn)
			if err != nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
			start := time.Now()
			rr := c.ExecParams(ctx, bigResultQuery, nil, nil, nil, nil)
			var n int64
			for rr.NextRow() {
				if n == 0 && l.name == "sluice-masked" {
					masked = fmt.Sprintf("%s", rr.Values())
				}
				n++
			}
			_, err = rr.Close()
			el := time.Since(start)
			c.Close(ctx)
			if err != nil || n != int64(o.rows) {
				return fmt.Errorf("%s: %d rows: %v", l.name, n, err)
			}
			secs[l.name] = append(secs[l.name], el.Seconds())
			fmt.Fprintf(w, "round %d %-13s %7.2fs %10.0f rows/s\n", round+1, l.name, el.Seconds(), float64(n)/el.Seconds())
		}
	}
	fmt.Fprintf(w, "\n%d-row result (%s), extended protocol, median of %d rounds; first masked row: %s\n", o.rows, bigResultQuery, o.rounds, masked)
	fmt.Fprintf(w, "leg            seconds      rows/s  vs direct\n")
	d := median(secs["direct"])
	for _, l := range legs {
		m := median(secs[l.name])
		fmt.Fprintf(w, "%-13s %8.2f %11.0f %9.2fx\n", l.name, m, float64(o.rows)/m, d/m)
	}
	return nil
}

// runApproval times held statements: from the reviewer's approve call to
// the client getting the result (the forwarding latency), and the full
// hold->approve->result round trip with an approver polling the admin API.
func runApproval(ctx context.Context, o options, w io.Writer) error {
	_, g, stop, err := extraGateway(ctx, o, w, realisticPolicy, gwTarget{Name: "appdb", Policy: "bench"})
	if err != nil {
		return err
	}
	defer stop()
	c, err := pgconn.Connect(ctx, g.connInfo()+" password="+g.Token)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TEMP TABLE held(x int)").ReadAll(); err != nil {
		return err
	}
	var forward, total []float64
	for i := 0; i < o.reviews; i++ {
		approved := make(chan time.Time, 1)
		approveErr := make(chan error, 1)
		go func() { // ends when it approved one request or failed
			t, err := approveNext(ctx, g)
			approved <- t
			approveErr <- err
		}()
		start := time.Now()
		_, err := c.Exec(ctx, "DELETE FROM held").ReadAll()
		done := time.Now()
		at := <-approved
		if aerr := <-approveErr; aerr != nil {
			return aerr
		}
		if err != nil {
			return fmt.Errorf("held statement: %w", err)
		}
		forward = append(forward, done.Sub(at).Seconds()*1000)
		total = append(total, done.Sub(start).Seconds()*1000)
	}
	slices.Sort(forward)
	slices.Sort(total)
	pct := func(v []float64, p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
	fmt.Fprintf(w, "\nreview hold -> approve (admin API) -> forwarded, %d statements (ms)\n", o.reviews)
	fmt.Fprintf(w, "measure                          p50      p90      max\n")
	fmt.Fprintf(w, "approve returned -> result     %6.2f   %6.2f   %6.2f\n", pct(forward, .5), pct(forward, .9), forward[len(forward)-1])
	fmt.Fprintf(w, "sent -> result (incl. polling) %6.2f   %6.2f   %6.2f\n", pct(total, .5), pct(total, .9), total[len(total)-1])
	return nil
}

// approveNext polls the admin API for a pending approval and approves it as
// "reviewer", returning when the approve call returned.
func approveNext(ctx context.Context, g *gateway) (time.Time, error) {
	c := admin.NewClient("http://"+g.Admin, "bench-admin-token")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, err := c.Approvals(ctx)
		if err != nil {
			return time.Time{}, err
		}
		if len(list.Pending) > 0 {
			if _, err := c.Approve(ctx, list.Pending[0].ID, "benchmark", "reviewer"); err != nil {
				return time.Time{}, err
			}
			return time.Now(), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no approval request within 30s")
}
