package identity_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/gateway"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// The real Postgres behind the gateway starts on the first end-to-end test
// only, so the unit tests in this package do not pay for it.
var (
	pgOnce sync.Once
	pgSrv  *testenv.Postgres
	pgErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgSrv != nil {
		pgSrv.Stop()
	}
	os.Exit(code)
}

func sharedPostgres(t *testing.T) *testenv.Postgres {
	t.Helper()
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		pgSrv, pgErr = testenv.StartPostgres(ctx, testenv.PostgresOptions{})
		if pgErr == nil {
			pgErr = testenv.SeedDemo(context.Background(), pgSrv)
		}
	})
	if pgErr != nil {
		t.Fatalf("test Postgres: %v", pgErr)
	}
	return pgSrv
}

type e2eGateway struct {
	*gateway.Gateway
	cfg  *config.Config
	addr string // appdb
}

// startE2EGateway runs the real gateway in front of the test Postgres with
// an OIDC issuer and a token key; "appdb" is open to everyone, "dbadmin"
// only to the dba group.
func startE2EGateway(t *testing.T, issuer string) *e2eGateway {
	t.Helper()
	pg := sharedPostgres(t)
	a1, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	a2, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	upstream := fmt.Sprintf(`
    upstream:
      address: %s
      user: %s
      password: %q
      tls: {mode: verify-full, ca_file: %s}`, pg.Addr, pg.User, pg.Password, pg.CAFile)
	yaml := fmt.Sprintf(`
data_dir: %s
identities:
  - {name: ci-deploy, kind: service, groups: [ci], targets: [appdb]}
identity:
  token_key: %s
  oidc:
    - {issuer: %s, audience: sluice, name_claim: preferred_username, groups_claim: groups}
targets:
  - name: appdb
    protocol: postgres
    listen: %s%s
  - name: dbadmin
    protocol: postgres
    listen: %s
    allow: {groups: [dba]}%s
`, t.TempDir(), testTokenKey, issuer, a1, upstream, a2, upstream)
	cfg, err := parseConfig(yaml)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
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
	return &e2eGateway{Gateway: g, cfg: cfg, addr: g.Addrs["appdb"]}
}

// dsn is a libpq URL-less DSN with sslmode=require: the token travels in
// clear inside TLS, which is what the engine asks for without SCRAM.
func dsnFor(addr, user string) string {
	host, port, _ := strings.Cut(addr, ":")
	return fmt.Sprintf("host=%s port=%s user=%s dbname=app sslmode=require connect_timeout=10", host, port, user)
}

// psqlWith runs the real psql with the token in PGPASSWORD (not argv).
func psqlWith(t *testing.T, dsn, token, sql string) (string, error) {
	t.Helper()
	psql := testenv.RequireBinary(t, "psql", "postgresql-client")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, psql, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+token, "PSQLRC=/dev/null")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestE2EPsqlWithOIDCToken(t *testing.T) {
	p := startOIDC(t)
	g := startE2EGateway(t, p.Issuer)

	claims := map[string]any{"sub": "u-1", "preferred_username": "dave", "aud": "sluice",
		"groups": []string{"developers"}, "exp": time.Now().Add(time.Hour)}
	good := mustToken(t, p, claims)
	out, err := psqlWith(t, dsnFor(g.addr, "dave"), good, "SELECT count(*) FROM orders")
	if err != nil || strings.TrimSpace(out) != "10000" {
		t.Fatalf("psql with an OIDC token: %v\n%s", err, out)
	}

	// The session record names the OIDC identity, its groups and method.
	recs, err := g.Deps().Store.List(context.Background(), session.Filter{Identity: "dave"})
	if err != nil || len(recs) == 0 {
		t.Fatalf("session records for dave: %v %v", recs, err)
	}
	if r := recs[0]; r.AuthMethod != "oidc" || len(r.Groups) != 1 || r.Groups[0] != "developers" {
		t.Fatalf("session record = %+v", r)
	}

	refused := map[string]string{
		"expired":        mustToken(t, p, with(claims, "exp", time.Now().Add(-time.Minute))),
		"wrong audience": mustToken(t, p, with(claims, "aud", "other")),
		"other name":     mustToken(t, p, with(claims, "preferred_username", "erin")),
	}
	for name, tok := range refused {
		out, err := psqlWith(t, dsnFor(g.addr, "dave"), tok, "SELECT 1")
		want := "password authentication failed"
		if name == "expired" {
			want = "token expired" // the public refusal is shown: it says what to do
		}
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("%s: psql got %v\n%s", name, err, out)
		}
	}

	// Groups from the token drive target access: dave is not in dba.
	out, err = psqlWith(t, dsnFor(g.Addrs["dbadmin"], "dave"), good, "SELECT 1")
	if err == nil || !strings.Contains(out, "not allowed") {
		t.Fatalf("group-restricted target: %v\n%s", err, out)
	}
	dba := mustToken(t, p, with(claims, "groups", []string{"dba"}))
	if out, err := psqlWith(t, dsnFor(g.Addrs["dbadmin"], "dave"), dba, "SELECT 1"); err != nil {
		t.Fatalf("dba on dbadmin: %v\n%s", err, out)
	}
}

func TestE2EPgxWithGatewayToken(t *testing.T) {
	p := startOIDC(t)
	g := startE2EGateway(t, p.Issuer)
	ctx := context.Background()
	// What `sluice token issue --identity ci-deploy --ttl 1h` prints.
	auth, err := identity.New(g.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, claims, err := auth.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	connect := func(addr, token string) (*pgx.Conn, error) {
		cc, err := pgx.ParseConfig(dsnFor(addr, "ci-deploy"))
		if err != nil {
			t.Fatal(err)
		}
		cc.Password = token
		return pgx.ConnectConfig(ctx, cc)
	}
	conn, err := connect(g.addr, tok)
	if err != nil {
		t.Fatalf("pgx with a gateway token: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 10000 {
		t.Fatalf("query: %d %v", n, err)
	}
	conn.Close(ctx)

	// The service account is restricted to appdb.
	if _, err := connect(g.Addrs["dbadmin"], tok); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("service account on another target: %v", err)
	}

	// Revoked in the data dir while the gateway runs: the next login is refused.
	if err := identity.Revoke(g.cfg.DataDir, claims.ID, claims.ExpiresAt(), time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = connect(g.addr, tok)
	var pgErr interface{ SQLState() string }
	if err == nil || !errors.As(err, &pgErr) || pgErr.SQLState() != "28P01" {
		t.Fatalf("revoked token: %v", err)
	}
}
