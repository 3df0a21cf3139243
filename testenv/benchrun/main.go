// Command benchrun is the benchmark harness behind `make bench`: it starts a
// testenv Postgres (pgbench -i), pgbouncer in session mode, haproxy in TCP
// mode, a bare Go relay (gorelay.go) and the Sluice gateway (`sluice
// serve`), then runs pgbench -S against each leg, interleaved over several
// rounds, and prints median tps with ratios against direct Postgres and the
// other proxies, and each proxy's CPU time per transaction. The mysql suite
// does the same with MariaDB and sysbench.
//
// A leg that cannot start (for example while `sluice serve` is unfinished)
// is reported with its error and the others still run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluice-gw/sluice/testenv"
)

type options struct {
	suites      []string
	modes       []string // pgbench -M modes
	myModes     []string // sysbench statement modes: text | prepared
	myWorkloads []string // sysbench workloads: oltp_point_select, oltp_read_only
	legs        []string
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	clients     int
	threads     int
	scale       int
	sluice      string // prebuilt binary; "" builds ./cmd/sluice
	jsonOut     string
	policy      string // -policy: "", "realistic" or a YAML file with policies: (named bench)
	sessions    int    // idle suite: sessions to open
	rows        int    // bigresult suite: rows per result
	reviews     int    // approval suite: held statements to time
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	var o options
	suites := fs.String("suites", "postgres,mysql", "benchmark suites: postgres (pgbench), mysql (sysbench oltp_read_only), "+
		"pg-idle (gateway RSS per idle session), pg-bigresult (large result throughput, masked and not), pg-approval (hold->approve->forwarded latency)")
	fs.StringVar(&o.policy, "policy", "", `policy for the sluice leg of the postgres suite: "realistic" (5 rules, 3 masks on the pgbench tables) or a YAML file with policies: {bench: ...}`)
	fs.IntVar(&o.sessions, "sessions", 1000, "pg-idle: idle sessions to open")
	fs.IntVar(&o.rows, "rows", 2_000_000, "pg-bigresult: rows per result")
	fs.IntVar(&o.reviews, "reviews", 20, "pg-approval: held statements to time")
	modes := fs.String("modes", "simple,extended,prepared", "pgbench query modes (-M), comma separated")
	myModes := fs.String("mysql-modes", "text,prepared", "sysbench statement modes (text = --db-ps-mode=disable)")
	myWorkloads := fs.String("mysql-workloads", "oltp_point_select,oltp_read_only", "sysbench workloads, comma separated")
	legs := fs.String("legs", "direct,pgbouncer,haproxy,gorelay,goloop,sluice", "legs to measure, comma separated (pgbouncer: postgres suite only; haproxy: TCP forwarding, parses nothing; gorelay: a bare Go TCP relay on Sluice's sockets, parses nothing; goloop: a one-thread epoll event-loop relay in Go, parses nothing)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "pgbench -T per run")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "one warm-up run per leg before measuring (0 disables)")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; the table shows the median")
	fs.IntVar(&o.clients, "clients", 8, "pgbench -c")
	fs.IntVar(&o.threads, "jobs", 2, "pgbench -j")
	fs.IntVar(&o.scale, "scale", 10, "pgbench -i -s")
	fs.StringVar(&o.sluice, "sluice-bin", "", "use this sluice binary instead of building ./cmd/sluice")
	fs.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.suites = splitList(*suites)
	o.modes = splitList(*modes)
	o.myModes = splitList(*myModes)
	o.myWorkloads = splitList(*myWorkloads)
	for _, wl := range o.myWorkloads {
		if !slices.Contains([]string{"oltp_point_select", "oltp_read_only"}, wl) {
			return o, fmt.Errorf("-mysql-workloads: %q is not oltp_point_select or oltp_read_only", wl)
		}
	}
	for _, s := range o.suites {
		if !slices.Contains([]string{"postgres", "mysql", "pg-idle", "pg-bigresult", "pg-approval"}, s) {
			return o, fmt.Errorf("-suites: %q is not postgres, mysql, pg-idle, pg-bigresult or pg-approval", s)
		}
	}
	for _, m := range o.myModes {
		if m != "text" && m != "prepared" {
			return o, fmt.Errorf("-mysql-modes: %q is not text or prepared", m)
		}
	}
	o.legs = splitList(*legs)
	for _, m := range o.modes {
		if !slices.Contains([]string{"simple", "extended", "prepared"}, m) {
			return o, fmt.Errorf("-modes: %q is not simple, extended or prepared", m)
		}
	}
	for _, l := range o.legs {
		if !slices.Contains([]string{"direct", "pgbouncer", "haproxy", "gorelay", "goloop", "sluice"}, l) {
			return o, fmt.Errorf("-legs: %q is not direct, pgbouncer, haproxy, gorelay, goloop or sluice", l)
		}
	}
	if len(o.suites) == 0 || len(o.modes) == 0 || len(o.myModes) == 0 || len(o.myWorkloads) == 0 || len(o.legs) == 0 || o.rounds < 1 || o.duration < time.Second {
		return o, fmt.Errorf("need at least one mode and leg, -rounds >= 1 and -duration >= 1s")
	}
	return o, nil
}

func main() {
	if len(os.Args) == 3 && (os.Args[1] == relayFlag || os.Args[1] == loopFlag) {
		run := runGoRelay
		if os.Args[1] == loopFlag {
			run = runGoLoop
		}
		if err := run(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// leg is one path from pgbench to Postgres.
type leg struct {
	name     string
	connInfo string
	password string
	pid      int   // the proxy's process, whose CPU time is measured; 0 for direct
	err      error // why the leg could not start; nil when usable
}

// run runs each suite in turn; a suite that fails does not stop the next.
func run(ctx context.Context, o options, w io.Writer) error {
	var errs []error
	for _, suite := range o.suites {
		var err error
		switch suite {
		case "postgres":
			err = runPostgres(ctx, o, w)
		case "mysql":
			err = runMySQL(ctx, o, w)
		case "pg-idle":
			err = runIdle(ctx, o, w)
		case "pg-bigresult":
			err = runBigResult(ctx, o, w)
		case "pg-approval":
			err = runApproval(ctx, o, w)
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			fmt.Fprintf(w, "suite %s failed: %v\n", suite, err)
			errs = append(errs, fmt.Errorf("suite %s: %w", suite, err))
		}
	}
	return errors.Join(errs...)
}

func runPostgres(ctx context.Context, o options, w io.Writer) error {
	pgbench, err := testenv.LookBinary("pgbench", "postgresql-contrib")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(work)

	fmt.Fprintf(w, "starting Postgres and loading pgbench scale %d...\n", o.scale)
	pg, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	if err != nil {
		return err
	}
	defer pg.Stop()
	direct := leg{name: "direct", password: pg.Password, connInfo: fmt.Sprintf(
		"host=%s port=%d user=%s dbname=%s sslmode=disable", pg.Host, pg.Port, pg.User, pg.Database)}
	if err := pgbenchInit(ctx, pgbench, direct, o.scale); err != nil {
		return err
	}

	var legs []leg
	for _, name := range o.legs {
		switch name {
		case "direct":
			legs = append(legs, direct)
		case "pgbouncer":
			l := leg{name: name, password: pg.Password}
			b, err := testenv.StartPgBouncer(ctx, pg, testenv.PgBouncerOptions{})
			if err != nil {
				l.err = err
			} else {
				defer b.Stop()
				l.connInfo = fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", b.Host, b.Port, b.User, b.Database)
				l.pid = b.Pid()
			}
			legs = append(legs, l)
		case "haproxy":
			l := leg{name: name, password: pg.Password}
			h, err := testenv.StartHAProxy(ctx, pg.Addr)
			if err != nil {
				l.err = err
			} else {
				defer h.Stop()
				l.connInfo = fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", h.Host, h.Port, pg.User, pg.Database)
				l.pid = h.Pid()
			}
			legs = append(legs, l)
		case "gorelay", "goloop":
			l := leg{name: name, password: pg.Password}
			cmd, addr, err := startGoRelay(ctx, name, pg.Addr)
			if err != nil {
				l.err = err
			} else {
				defer stopGoRelay(cmd)
				host, port := splitHostPort(addr)
				l.connInfo = fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", host, port, pg.User, pg.Database)
				l.pid = cmd.Process.Pid
			}
			legs = append(legs, l)
		case "sluice":
			l := leg{name: name}
			g, err := startSluice(ctx, o, work, pg)
			if err != nil {
				l.err = err
			} else {
				defer g.stop()
				l.connInfo, l.password = g.connInfo(), g.Token
				l.pid = g.cmd.Process.Pid
			}
			legs = append(legs, l)
		}
	}
	for _, l := range legs {
		if l.err != nil {
			fmt.Fprintf(w, "leg %s unavailable: %v\n", l.name, l.err)
		}
	}

	res := measure(ctx, o, o.modes, pgbenchRunner(o, pgbench), legs, w)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	title := fmt.Sprintf("pgbench -S -c %d -j %d -T %s, median of %d rounds (tps)", o.clients, o.threads, o.duration, o.rounds)
	if o.policy != "" {
		title += ", sluice with policy " + o.policy
	}
	printTable(w, title, o.modes, legs, res)
	return writeJSON(o, "postgres", legs, res)
}

// sluiceBinary is -sluice-bin or a fresh build of ./cmd/sluice.
func sluiceBinary(ctx context.Context, o options, work string) (string, error) {
	if o.sluice != "" {
		return o.sluice, nil
	}
	return buildSluice(ctx, work)
}

func startSluice(ctx context.Context, o options, work string, pg *testenv.Postgres) (*gateway, error) {
	bin, err := sluiceBinary(ctx, o, work)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "gateway")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway dir: %w", err)
	}
	listen, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	t := gwTarget{Name: "appdb", Protocol: "postgres", Listen: listen, Upstream: pg.Addr,
		User: pg.User, Password: pg.Password, Database: pg.Database}
	extra, err := policyYAML(o.policy)
	if err != nil {
		return nil, err
	}
	if extra != "" {
		t.Policy = "bench"
	}
	return startGateway(ctx, bin, dir, []gwTarget{t}, extra, postgresReady)
}

func pgbenchInit(ctx context.Context, pgbench string, l leg, scale int) error {
	r := pgbenchRun{Bin: pgbench, ConnInfo: l.connInfo, Password: l.password}
	return r.initialize(ctx, scale)
}

// results[mode][leg] holds one tps per round; failures are kept as errors.
type results map[string]map[string]*legResult

type legResult struct {
	TPS []float64 `json:"tps"`
	// CPUPerTx is the proxy's CPU time per transaction (microseconds),
	// one per round; empty for the direct leg.
	CPUPerTx []float64 `json:"proxy_cpu_us_per_tx,omitempty"`
	Errors   []string  `json:"errors,omitempty"`
}

// runFunc runs one timed load against a leg in a mode and returns its
// throughput (pgbench tps, sysbench transactions/s).
type runFunc func(ctx context.Context, l leg, mode string, d time.Duration) (float64, error)

// pgbenchRunner is the runFunc for the Postgres suite.
func pgbenchRunner(o options, pgbench string) runFunc {
	return func(ctx context.Context, l leg, mode string, d time.Duration) (float64, error) {
		r := pgbenchRun{Bin: pgbench, ConnInfo: l.connInfo, Password: l.password, Mode: mode,
			Clients: o.clients, Threads: o.threads, Duration: d}
		return r.run(ctx)
	}
}

// measure runs every (mode, leg) once per round, rotating the leg order
// each round so no leg always runs right after another's load.
func measure(ctx context.Context, o options, modes []string, run runFunc, legs []leg, w io.Writer) results {
	res := results{}
	for _, m := range modes {
		res[m] = map[string]*legResult{}
		for _, l := range legs {
			res[m][l.name] = &legResult{}
		}
	}
	usable := make([]leg, 0, len(legs))
	for _, l := range legs {
		if l.err == nil {
			usable = append(usable, l)
		}
	}
	if o.warmup > 0 {
		for _, l := range usable {
			if _, err := run(ctx, l, modes[0], max(o.warmup, time.Second)); err != nil {
				fmt.Fprintf(w, "warm-up %s: %v\n", l.name, err)
			}
		}
	}
	for round := 0; round < o.rounds; round++ {
		for _, m := range modes {
			for i := range usable {
				if ctx.Err() != nil {
					return res
				}
				l := usable[(i+round)%len(usable)]
				cpu0, cpuErr := proxyCPU(l)
				tps, err := run(ctx, l, m, o.duration)
				cpu1, cpuErr1 := proxyCPU(l)
				lr := res[m][l.name]
				if err != nil {
					lr.Errors = append(lr.Errors, err.Error())
					fmt.Fprintf(w, "round %d %-8s %-9s error: %v\n", round+1, m, l.name, err)
					continue
				}
				lr.TPS = append(lr.TPS, tps)
				cpuNote := ""
				if l.pid != 0 && cpuErr == nil && cpuErr1 == nil && tps > 0 {
					// pgbench's tps excludes connection set-up, which the
					// proxy's CPU includes: a slight overestimate, alike for every proxy.
					us := float64(cpu1-cpu0) / float64(time.Microsecond) / (tps * o.duration.Seconds())
					lr.CPUPerTx = append(lr.CPUPerTx, us)
					cpuNote = fmt.Sprintf("  proxy CPU %6.1f us/tx", us)
				}
				fmt.Fprintf(w, "round %d %-8s %-9s %10.0f tps%s\n", round+1, m, l.name, tps, cpuNote)
			}
		}
	}
	return res
}

// proxyCPU is the leg's proxy CPU time so far; 0 for the direct leg.
func proxyCPU(l leg) (time.Duration, error) {
	if l.pid == 0 {
		return 0, nil
	}
	return testenv.CPUTime(l.pid)
}

// ratioPairs are the comparisons the table shows when both legs ran.
var ratioPairs = [][2]string{{"pgbouncer", "direct"}, {"haproxy", "direct"}, {"gorelay", "direct"}, {"goloop", "direct"}, {"sluice", "direct"},
	{"gorelay", "pgbouncer"}, {"goloop", "pgbouncer"}, {"sluice", "pgbouncer"}, {"sluice", "haproxy"}, {"sluice", "gorelay"}, {"sluice", "goloop"}}

func printTable(w io.Writer, title string, modes []string, legs []leg, res results) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"mode"}
	has := map[string]bool{}
	for _, l := range legs {
		header = append(header, l.name)
		has[l.name] = true
	}
	var pairs [][2]string
	for _, p := range ratioPairs {
		if has[p[0]] && has[p[1]] {
			pairs = append(pairs, p)
			header = append(header, p[0]+"/"+p[1])
		}
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, m := range modes {
		row := []string{m}
		med := map[string]float64{}
		for _, l := range legs {
			v := median(res[m][l.name].TPS)
			med[l.name] = v
			if v == 0 {
				row = append(row, "n/a")
			} else {
				row = append(row, fmt.Sprintf("%.0f", v))
			}
		}
		for _, p := range pairs {
			row = append(row, ratio(med[p[0]], med[p[1]]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	var cpuLines []string
	for _, m := range modes {
		var parts []string
		for _, l := range legs {
			if v := median(res[m][l.name].CPUPerTx); v > 0 {
				parts = append(parts, fmt.Sprintf("%s %.1f", l.name, v))
			}
		}
		if len(parts) > 0 {
			cpuLines = append(cpuLines, fmt.Sprintf("  %-9s %s", m, strings.Join(parts, ", ")))
		}
	}
	if len(cpuLines) > 0 {
		fmt.Fprintf(w, "proxy CPU per transaction (us, median; lower is better):\n%s\n", strings.Join(cpuLines, "\n"))
	}
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// median of the values; 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writeJSON writes the suite's results to -json (suffixed with the suite
// name when more than one suite runs); no-op without -json.
func writeJSON(o options, suite string, legs []leg, res results) error {
	if o.jsonOut == "" {
		return nil
	}
	path := o.jsonOut
	if len(o.suites) > 1 {
		path = strings.TrimSuffix(path, ".json") + "." + suite + ".json"
	}
	type legInfo struct {
		Name  string `json:"name"`
		Error string `json:"error,omitempty"`
	}
	out := struct {
		Suite    string                        `json:"suite"`
		Clients  int                           `json:"clients"`
		Threads  int                           `json:"threads"`
		Duration string                        `json:"duration"`
		Rounds   int                           `json:"rounds"`
		Legs     []legInfo                     `json:"legs"`
		Results  results                       `json:"results"`
		Medians  map[string]map[string]float64 `json:"medians"`
	}{Suite: suite, Clients: o.clients, Threads: o.threads, Duration: o.duration.String(), Rounds: o.rounds,
		Results: res, Medians: map[string]map[string]float64{}}
	for _, l := range legs {
		li := legInfo{Name: l.name}
		if l.err != nil {
			li.Error = l.err.Error()
		}
		out.Legs = append(out.Legs, li)
	}
	for m, byLeg := range res {
		out.Medians[m] = map[string]float64{}
		for name, lr := range byLeg {
			out.Medians[m][name] = median(lr.TPS)
		}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
