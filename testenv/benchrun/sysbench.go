package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/sluice-gw/sluice/testenv"
)

// sysbench table shape: small enough to prepare in seconds, big enough
// that the read-only mix is not a single cached page.
const (
	sysbenchTables    = 4
	sysbenchTableSize = 10000
)

// realisticMySQLPolicy is the MySQL counterpart of realisticPolicy: rules
// every statement is judged against (sysbench's reads match none) and a
// mask on the column sysbench reads, so every result row goes through
// the masker.
const realisticMySQLPolicy = `policies:
  bench:
    rules:
      - {name: no-drops, when: {sql: [drop, truncate]}, action: block}
      - {name: bulk-writes, when: {sql: [delete, update], without_where: true}, action: review}
      - {name: no-file-read, when: {functions: [load_file]}, action: block}
      - {name: no-server-files, when: {sql: [copy]}, action: block}
    masks:
      - {columns: [sbtest1.c, sbtest2.c, sbtest3.c, sbtest4.c], method: partial}
      - {columns: ["*.ssn", users.email], method: redact}
approvals:
  reviewers: {identities: [reviewer]}
`

// mysqlPolicyYAML resolves -policy for the MySQL suite: "realistic" is
// realisticMySQLPolicy, a file is used as it is.
func mysqlPolicyYAML(p string) (string, error) {
	if p == "realistic" {
		return realisticMySQLPolicy, nil
	}
	return policyYAML(p)
}

// mysqlLeg is where sysbench connects.
type mysqlLeg struct {
	host           string
	port           int
	user, password string
}

func (m mysqlLeg) args() []string {
	return []string{
		"--db-driver=mysql", "--mysql-host=" + m.host, "--mysql-port=" + strconv.Itoa(m.port),
		"--mysql-user=" + m.user, "--mysql-password=" + m.password, "--mysql-db=shop", "--mysql-ssl=off",
		"--tables=" + strconv.Itoa(sysbenchTables), "--table-size=" + strconv.Itoa(sysbenchTableSize),
	}
}

func runMySQL(ctx context.Context, o options, w io.Writer) error {
	sysbench, err := testenv.LookBinary("sysbench", "sysbench")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "sluice-bench-mysql-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(w, "\nstarting MariaDB and preparing sysbench (%d tables x %d rows)...\n", sysbenchTables, sysbenchTableSize)
	m, err := testenv.StartMariaDB(ctx, testenv.MariaDBOptions{Database: "shop"})
	if err != nil {
		return err
	}
	defer m.Stop()
	direct := mysqlLeg{host: m.Host, port: m.Port, user: m.User, password: m.Password}
	if out, err := sysbenchCmd(ctx, sysbench, "oltp_read_only", append(direct.args(), "prepare")...); err != nil {
		return fmt.Errorf("sysbench prepare: %w\n%s", err, lastLines(out, 15))
	}

	endpoints := map[string]mysqlLeg{}
	var legs []leg
	for _, name := range o.legs {
		switch name {
		case "direct":
			endpoints[name] = direct
			legs = append(legs, leg{name: name})
		case "haproxy":
			l := leg{name: name}
			h, err := testenv.StartHAProxy(ctx, m.Addr)
			if err != nil {
				l.err = err
				fmt.Fprintf(w, "leg haproxy unavailable: %v\n", err)
			} else {
				defer h.Stop()
				endpoints[name] = mysqlLeg{host: h.Host, port: h.Port, user: m.User, password: m.Password}
				l.pid = h.Pid()
			}
			legs = append(legs, l)
		case "gorelay", "goloop":
			l := leg{name: name}
			cmd, addr, err := startGoRelay(ctx, name, m.Addr)
			if err != nil {
				l.err = err
				fmt.Fprintf(w, "leg %s unavailable: %v\n", name, err)
			} else {
				defer stopGoRelay(cmd)
				host, port := splitHostPort(addr)
				endpoints[name] = mysqlLeg{host: host, port: port, user: m.User, password: m.Password}
				l.pid = cmd.Process.Pid
			}
			legs = append(legs, l)
		case "sluice":
			l := leg{name: name}
			g, err := startSluiceMySQL(ctx, o, work, m)
			if err != nil {
				l.err = err
				fmt.Fprintf(w, "leg sluice unavailable: %v\n", err)
			} else {
				defer g.stop()
				host, port := splitHostPort(g.Addr)
				endpoints[name] = mysqlLeg{host: host, port: port, user: g.User, password: g.Token}
				l.pid = g.cmd.Process.Pid
			}
			legs = append(legs, l)
		}
	}
	// A mode is workload/statement-mode, e.g. oltp_point_select/prepared.
	var modes []string
	for _, wl := range o.myWorkloads {
		for _, ps := range o.myModes {
			modes = append(modes, wl+"/"+ps)
		}
	}
	run := func(ctx context.Context, l leg, mode string, d time.Duration) (float64, error) {
		workload, stmtMode, _ := strings.Cut(mode, "/")
		ps := "auto"
		if stmtMode == "text" {
			ps = "disable"
		}
		args := append(endpoints[l.name].args(), "--threads="+strconv.Itoa(o.clients),
			"--time="+strconv.Itoa(int(d/time.Second)), "--db-ps-mode="+ps, "--report-interval=0", "run")
		out, err := sysbenchCmd(ctx, sysbench, workload, args...)
		if err != nil {
			return 0, fmt.Errorf("sysbench run: %w\n%s", err, lastLines(out, 15))
		}
		return parseSysbenchTPS(out)
	}
	res := measure(ctx, o, modes, run, legs, w)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	title := fmt.Sprintf("sysbench --threads=%d --time=%s, median of %d rounds (transactions/s; oltp_point_select: one query per transaction)",
		o.clients, o.duration, o.rounds)
	if o.policy != "" {
		title += ", sluice with policy " + o.policy
	}
	printTable(w, title, modes, legs, res)
	return writeJSON(o, "mysql", legs, res)
}

func startSluiceMySQL(ctx context.Context, o options, work string, m *testenv.MariaDB) (*gateway, error) {
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
	t := gwTarget{Name: "shop", Protocol: "mysql", Listen: listen, Upstream: m.Addr,
		User: m.User, Password: m.Password, Database: m.Database}
	extra, err := mysqlPolicyYAML(o.policy)
	if err != nil {
		return nil, err
	}
	if extra != "" {
		t.Policy = "bench"
	}
	return startGateway(ctx, bin, dir, []gwTarget{t}, extra, func(ctx context.Context, g *gateway) error {
		c, err := client.ConnectWithContext(ctx, g.Addr, g.User, g.Token, g.Database, 2*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func sysbenchCmd(ctx context.Context, bin, test string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{test}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

var sysbenchTPSLine = regexp.MustCompile(`(?m)^\s*transactions:\s+[0-9]+\s+\(([0-9]+(?:\.[0-9]+)?) per sec\.\)`)
var sysbenchErrLine = regexp.MustCompile(`(?m)^\s*ignored errors:\s+([0-9]+)\s`)

// parseSysbenchTPS reads transactions per second from sysbench's summary;
// ignored errors make the run invalid (a leg that fails fast looks fast).
func parseSysbenchTPS(out []byte) (float64, error) {
	if len(out) > 1<<20 {
		out = out[len(out)-1<<20:]
	}
	m := sysbenchTPSLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no transactions line in sysbench output")
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, fmt.Errorf("transactions/s %q: %w", m[1], err)
	}
	if e := sysbenchErrLine.FindSubmatch(out); e != nil && !slices.Equal(e[1], []byte("0")) {
		return 0, fmt.Errorf("sysbench reported %s ignored errors", e[1])
	}
	return tps, nil
}

func splitHostPort(addr string) (string, int) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(portStr)
	return host, port
}
