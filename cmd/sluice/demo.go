package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/gateway"
	"github.com/sluice-gw/sluice/testenv"
)

func newDemoCmd() *cobra.Command {
	var dataDir string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the gateway on throwaway local Postgres, MariaDB and sshd servers",
		Long: "demo starts real servers from this machine's binaries on free loopback ports, writes a demo\n" +
			"config into the data dir, runs the gateway on them and prints what to connect with.\n" +
			"Ctrl-C stops everything; recordings stay in the data dir.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), dataDir, verbose)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "./sluice-demo", "where the demo config and recordings go")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// demoEnv is the servers the demo started; stop tears them down.
type demoEnv struct {
	pg    *testenv.Postgres
	maria *testenv.MariaDB
	sshd  *testenv.SSHD
	notes []string
}

func (d *demoEnv) stop() {
	if d.sshd != nil {
		d.sshd.Stop()
	}
	if d.maria != nil {
		d.maria.Stop()
	}
	if d.pg != nil {
		d.pg.Stop()
	}
}

func startDemoServers(ctx context.Context) (*demoEnv, error) {
	d := &demoEnv{}
	ca, err := testenv.NewCA()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	d.pg, err = testenv.StartPostgres(sctx, testenv.PostgresOptions{CA: ca})
	if err != nil {
		return nil, fmt.Errorf("starting Postgres (install it with: apt-get install -y postgresql): %w", err)
	}
	if err := testenv.SeedDemo(sctx, d.pg); err != nil {
		d.stop()
		return nil, err
	}
	if _, err := testenv.LookBinary("mariadbd", "mariadb-server"); err != nil {
		d.notes = append(d.notes, "MySQL target skipped: run `apt-get install -y mariadb-server` for it")
	} else if d.maria, err = testenv.StartMariaDB(sctx, testenv.MariaDBOptions{CA: ca}); err != nil {
		d.notes = append(d.notes, fmt.Sprintf("MySQL target skipped: MariaDB did not start: %v", err))
	} else if err := testenv.SeedDemoMariaDB(sctx, d.maria); err != nil {
		d.notes = append(d.notes, fmt.Sprintf("MySQL demo data not seeded: %v", err))
	}
	if _, err := testenv.LookBinary("sshd", "openssh-server"); err != nil {
		d.notes = append(d.notes, "SSH target skipped: run `apt-get install -y openssh-server` for it")
	} else if d.sshd, err = testenv.StartSSHD(sctx, testenv.SSHDOptions{}); err != nil {
		d.notes = append(d.notes, fmt.Sprintf("SSH target skipped: sshd did not start: %v", err))
	}
	return d, nil
}

func randomToken() string {
	b := make([]byte, 18)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func runDemo(ctx context.Context, out io.Writer, dataDir string, verbose bool) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dataDir, err)
	}
	fmt.Fprintln(out, "Starting demo servers (Postgres, MariaDB, sshd) ...")
	env, err := startDemoServers(ctx)
	if err != nil {
		return err
	}
	defer env.stop()

	ports := map[string]string{}
	for _, n := range []string{"pg", "mysql", "ssh", "admin"} {
		if ports[n], err = testenv.FreeAddr(); err != nil {
			return err
		}
	}
	alice, bob, adminTok := randomToken(), randomToken(), randomToken()
	keyPath := filepath.Join(dataDir, "alice_ed25519")
	alicePub, err := writeDemoKey(keyPath)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dataDir, "sluice.yaml")
	if err := os.WriteFile(cfgPath, []byte(demoConfig(env, dataDir, ports, alice, bob, adminTok, alicePub)), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	g, err := gateway.New(cfg, newLogger(verbose))
	if err != nil {
		return err
	}
	printDemo(out, env, cfg, g, cfgPath, keyPath, alice, bob, adminTok)
	err = g.Run(ctx)
	fmt.Fprintln(out, "\nStopping: gateway drained, recordings sealed in", dataDir)
	return err
}

// selfCommand is how the user runs this binary again: its path, or
// `go run ./cmd/sluice` when it was started with go run (a temp build).
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil || strings.Contains(exe, "go-build") {
		return "go run ./cmd/sluice"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + rel
		}
	}
	return exe
}

func writeDemoKey(path string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "alice@sluice-demo")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " alice@sluice-demo", nil
}

func demoConfig(env *demoEnv, dataDir string, ports map[string]string, alice, bob, adminTok, alicePub string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by 'sluice demo'. Tokens are throwaway.
data_dir: %q
admin:
  listen: %s
  token: %q
identities:
  - {name: alice, token: %q, groups: [developers], ssh_keys: [%q]}
  - {name: bob, token: %q, groups: [reviewers]}
approvals:
  timeout: 5m
  reviewers: {groups: [reviewers]}
policies:
  guarded:
    rules:
      - {name: no-drops, when: {sql: [drop, truncate]}, action: block}
      - {name: bulk-writes, when: {sql: [delete, update], without_where: true}, action: review}
      - {name: no-file-access, when: {functions: [pg_read_file, pg_ls_dir, lo_export, load_file]}, action: block}
      - {name: no-rm-rf, when: {command: "rm -rf *"}, action: block}
      - {name: reboots-reviewed, when: {command: [reboot, "shutdown *"]}, action: review}
    masks:
      - {columns: [users.email], method: email}
      - {columns: ["*.ssn"], method: redact}
      - {columns: [users.card], method: partial, keep: 4}
      - {detect: [credit_card, aws_secret_key, private_key, jwt], method: redact}
targets:
  - name: appdb
    protocol: postgres
    listen: %s
    policy: guarded
    upstream: {address: %s, user: %s, password: %q, database: %s, tls: {mode: verify-full, ca_file: %q}}
`, dataDir, ports["admin"], adminTok, alice, alicePub, bob, ports["pg"], env.pg.Addr, env.pg.User, env.pg.Password, env.pg.Database, env.pg.CAFile)
	if m := env.maria; m != nil {
		fmt.Fprintf(&b, `  - name: shop
    protocol: mysql
    listen: %s
    policy: guarded
    upstream: {address: %s, user: %s, password: %q, database: %s, tls: {mode: verify-full, ca_file: %q}}
`, ports["mysql"], m.Addr, m.User, m.Password, m.Database, m.CAFile)
	}
	if s := env.sshd; s != nil {
		fmt.Fprintf(&b, `  - name: web1
    protocol: ssh
    policy: guarded
    upstream: {address: %s, user: %s, key_file: %q, known_hosts: %q}
ssh:
  listen: %s
  host_key: %q
`, s.Addr, s.User, s.KeyPath, s.KnownHostsFile, ports["ssh"], filepath.Join(dataDir, "ssh_host_ed25519_key"))
	}
	return b.String()
}

func printDemo(out io.Writer, env *demoEnv, cfg *config.Config, g *gateway.Gateway, cfgPath, keyPath, alice, bob, adminTok string) {
	host, port, _ := strings.Cut(g.Addrs["appdb"], ":")
	fmt.Fprintf(out, `
Sluice demo is running. Config: %s

Postgres (target appdb; DROP is blocked, DELETE without WHERE waits for approval, emails are masked):
  psql "host=%s port=%s user=alice password=%s dbname=app sslmode=require"
  DSN: postgres://alice:%s@%s/app?sslmode=require
`, cfgPath, host, port, alice, alice, g.Addrs["appdb"])
	if a, ok := g.Addrs["shop"]; ok {
		h, p, _ := strings.Cut(a, ":")
		fmt.Fprintf(out, `
MySQL (target shop):
  mariadb -h %s -P %s -u alice -p%s --ssl shop
  DSN: mysql://alice:%s@%s/shop
`, h, p, alice, alice, a)
	}
	if a, ok := g.Addrs["ssh"]; ok {
		h, p, _ := strings.Cut(a, ":")
		fmt.Fprintf(out, `
SSH (target web1; rm -rf is blocked):
  ssh -i %s -p %s -o StrictHostKeyChecking=accept-new alice+web1@%s
`, keyPath, p, h)
	}
	sl := selfCommand()
	fmt.Fprintf(out, `
Reviewer (bob) and operator commands, in another terminal:
  export SLUICE_ADMIN_TOKEN=%s
  %s approvals --config %s
  %s approve ID --as bob --config %s
  %s sessions --config %s
  %s replay ID --config %s
Admin API: http://%s  (bob's token for reviewing as bob: %s)

`, adminTok, sl, cfgPath, sl, cfgPath, sl, cfgPath, sl, cfgPath, g.Addrs["admin"], bob)
	for _, n := range env.notes {
		fmt.Fprintln(out, "note:", n)
	}
	fmt.Fprintln(out, "Ctrl-C stops the gateway and the demo servers.")
}
