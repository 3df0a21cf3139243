package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/testenv"
)

// gateway is a `sluice serve` process fronting the benchmark Postgres.
type gateway struct {
	Addr     string
	User     string // the Sluice identity
	Token    string // its token: the DSN password
	Database string
	Admin    string // admin API address (token bench-admin-token)
	dir      string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process exited
}

// buildSluice compiles ./cmd/sluice into dir (the benchmark runs from the
// repository root, as `make bench` does).
func buildSluice(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "sluice")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sluice")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build sluice: %w\n%s", err, out)
	}
	return bin, nil
}

// gwTarget is one database target of the benchmark gateway.
type gwTarget struct {
	Name, Protocol, Listen             string
	Upstream, User, Password, Database string
	Policy                             string // policy name from the extra YAML; "" = none
}

// gatewayConfig is the YAML `sluice serve` gets: the targets, one identity,
// and extra (top-level YAML such as policies: and approvals:, "" for none).
// Without extra there are no policy rules: the benchmark then measures the
// relay, parsing and recording that every session pays.
func gatewayConfig(dataDir, adminListen, token string, targets []gwTarget, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# written by sluice benchrun
data_dir: %s
admin:
  listen: %s
  token: bench-admin-token
identities:
  - name: bench
    token: %s
    groups: [developers]
targets:
`, yamlQuote(dataDir), adminListen, yamlQuote(token))
	for _, t := range targets {
		fmt.Fprintf(&b, `  - name: %s
    protocol: %s
    listen: %s
    upstream:
      address: %s
      user: %s
      password: %s
      database: %s
      tls: {mode: disable}
`, t.Name, t.Protocol, t.Listen, t.Upstream, yamlQuote(t.User), yamlQuote(t.Password), yamlQuote(t.Database))
		if t.Policy != "" {
			fmt.Fprintf(&b, "    policy: %s\n", t.Policy)
		}
	}
	b.WriteString(extra)
	return b.String()
}

// startGateway writes the config and runs `sluice serve`, waiting until
// ready (a login through the gateway) succeeds.
func startGateway(ctx context.Context, bin, dir string, targets []gwTarget, extra string, ready func(context.Context, *gateway) error) (*gateway, error) {
	admin, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	g := &gateway{Addr: targets[0].Listen, User: "bench", Token: "bench-token-0123456789", Database: targets[0].Database,
		dir: dir, logPath: filepath.Join(dir, "sluice.log"), done: make(chan struct{})}
	cfgPath := filepath.Join(dir, "sluice.yaml")
	g.Admin = admin
	cfg := gatewayConfig(filepath.Join(dir, "data"), admin, g.Token, targets, extra)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write gateway config: %w", err)
	}
	logFile, err := os.Create(g.logPath)
	if err != nil {
		return nil, fmt.Errorf("gateway log: %w", err)
	}
	defer logFile.Close()
	g.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sluice serve: %w", err)
	}
	go func() { // owned by g; exits with the process
		_ = g.cmd.Wait()
		close(g.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(attempt, g)
		cancel()
		if err == nil {
			return g, nil
		}
		select {
		case <-g.done:
			return nil, fmt.Errorf("sluice serve exited during start-up (%v); log:\n%s", g.cmd.ProcessState, tailFile(g.logPath))
		case <-ctx.Done():
			g.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, fmt.Errorf("sluice serve not accepting logins after 30s (last: %v); log:\n%s", err, tailFile(g.logPath))
		}
	}
}

// postgresReady logs in through the gateway's Postgres target.
func postgresReady(ctx context.Context, g *gateway) error {
	conn, err := pgconn.Connect(ctx, g.connInfo()+" password="+g.Token)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// connInfo is the libpq string for pgbench, without the password.
func (g *gateway) connInfo() string {
	host, port, _ := strings.Cut(g.Addr, ":")
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable", host, port, g.User, g.Database)
}

// stop sends SIGTERM (the gateway drains) and kills after 15 s.
func (g *gateway) stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

func tailFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return lastLines(data, 20)
}

// yamlQuote writes s as a double-quoted YAML scalar.
func yamlQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
