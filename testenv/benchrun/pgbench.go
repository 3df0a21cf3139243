package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// pgbenchRun is one pgbench invocation.
type pgbenchRun struct {
	Bin      string
	ConnInfo string // libpq keyword/value string, password excluded
	Password string // passed in PGPASSWORD, never on the command line
	Mode     string // simple | extended | prepared
	Clients  int
	Threads  int
	Duration time.Duration
}

// run executes pgbench -S (select-only) and returns transactions per second.
func (r pgbenchRun) run(ctx context.Context) (float64, error) {
	args := []string{
		"-n", // no vacuum: it would go through the leg under test
		"-S",
		"-M", r.Mode,
		"-c", strconv.Itoa(r.Clients),
		"-j", strconv.Itoa(r.Threads),
		"-T", strconv.Itoa(int(r.Duration.Round(time.Second) / time.Second)),
		r.ConnInfo,
	}
	// pgbench itself stops after -T; the margin covers connection set-up.
	ctx, cancel := context.WithTimeout(ctx, r.Duration+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Bin, args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+r.Password, "PGAPPNAME=sluice-bench")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("pgbench -M %s: %w\n%s", r.Mode, err, lastLines(out.Bytes(), 15))
	}
	tps, err := parseTPS(out.Bytes())
	if err != nil {
		return 0, fmt.Errorf("pgbench -M %s: %w\n%s", r.Mode, err, lastLines(out.Bytes(), 15))
	}
	return tps, nil
}

// tpsLine matches pgbench's summary; versions differ in the parenthesis
// ("excluding connections establishing" before 14, "without initial
// connection time" after), both are accepted, "including" is not.
var tpsLine = regexp.MustCompile(`(?m)^tps = ([0-9]+(?:\.[0-9]+)?) \((without initial connection time|excluding connections establishing)\)`)

// errNoTPS means the output had no summary line (pgbench aborted early).
var errNoTPS = errors.New("no tps line in pgbench output")

// parseTPS reads the tps figure from pgbench output.
func parseTPS(out []byte) (float64, error) {
	if len(out) > 1<<20 {
		out = out[len(out)-1<<20:] // the summary is at the end
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, errNoTPS
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, fmt.Errorf("tps %q: %w", m[1], err)
	}
	if failed := failedTransactions(out); failed > 0 {
		return 0, fmt.Errorf("%d transactions failed", failed)
	}
	return tps, nil
}

var failedLine = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)

func failedTransactions(out []byte) int64 {
	m := failedLine.FindSubmatch(out)
	if m == nil {
		return 0
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	if err != nil {
		return 1 // a count too large to parse is still failures
	}
	return n
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// initialize runs pgbench -i -s scale (quiet) through r's connection.
func (r pgbenchRun) initialize(ctx context.Context, scale int) error {
	cmd := exec.CommandContext(ctx, r.Bin, "-i", "-q", "-s", strconv.Itoa(scale), r.ConnInfo)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+r.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %w\n%s", err, lastLines(out, 15))
	}
	return nil
}
