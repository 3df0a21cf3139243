package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/gateway"
	"github.com/sluice-gw/sluice/testenv"
)

// pg is the real Postgres every test in this package talks to through the gateway.
var pg *testenv.Postgres

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	p, err := testenv.StartPostgres(ctx, testenv.PostgresOptions{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting test Postgres:", err)
		os.Exit(1)
	}
	pg = p
	if err := testenv.SeedDemo(context.Background(), p); err != nil {
		fmt.Fprintln(os.Stderr, "seeding:", err)
		p.Stop()
		os.Exit(1)
	}
	code := m.Run()
	p.Stop()
	os.Exit(code)
}

const (
	aliceToken = "alice-token-123"
	bobToken   = "bob-token-456"
)

// gw is a gateway running in-process for one test.
type gw struct {
	*gateway.Gateway
	cfg  *config.Config
	addr string
}

// dsn is a DSN through the gateway for identity user with token.
func (g *gw) dsn(user, token, extra string) string {
	host, port, _ := strings.Cut(g.addr, ":")
	s := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=app sslmode=disable", host, port, user, token)
	if extra != "" {
		s += " " + extra
	}
	return s
}

// startGateway runs a gateway in front of pg with the YAML fragments given
// (policies etc.); targets[0] is "appdb" on a free port.
func startGateway(t testing.TB, extraYAML string, mutate ...func(*config.Config)) *gw {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	policyLine := ""
	if strings.Contains(extraYAML, "policies:") {
		policyLine = "    policy: guarded\n"
	}
	yaml := fmt.Sprintf(`
data_dir: %s
identities:
  - {name: alice, token: %s, groups: [developers]}
  - {name: bob, token_sha256: %x, groups: [reviewers]}
targets:
  - name: appdb
    protocol: postgres
    listen: %s
%s    upstream:
      address: %s
      user: %s
      password: %q
      tls: {mode: verify-full, ca_file: %s}
%s`, t.TempDir(), aliceToken, sha256sum(bobToken), addr, policyLine, pg.Addr, pg.User, pg.Password, pg.CAFile, extraYAML)
	cfg, err := config.Parse([]byte(yaml), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	for _, f := range mutate {
		f(cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	g, err := gateway.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway run: %v", err)
		}
	})
	return &gw{Gateway: g, cfg: cfg, addr: g.Addrs["appdb"]}
}
