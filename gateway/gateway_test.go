package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "t.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestListenConflictNamesTargetAndAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := parse(t, fmt.Sprintf(`
data_dir: %s
targets:
  - {name: appdb, protocol: postgres, listen: %q, upstream: {address: "127.0.0.1:5432", user: app}}
`, t.TempDir(), busy.Addr().String()))
	_, err = New(cfg, quiet())
	if err == nil || !strings.Contains(err.Error(), "target appdb") || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("want an error naming the target and address, got %v", err)
	}
}

// TestDrainEndsLiveSessions: cancelling Run tells a connected client the
// gateway is shutting down, seals its record and returns.
func TestDrainEndsLiveSessions(t *testing.T) {
	pg := testenv.PostgresForTest(t)
	admin, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, fmt.Sprintf(`
data_dir: %s
admin: {listen: %q, token: admintok}
identities: [{name: alice, token: tok}]
targets:
  - {name: appdb, protocol: postgres, listen: "127.0.0.1:0", upstream: {address: %q, user: %s, password: %q, tls: {mode: verify-full, ca_file: %q}}}
`, t.TempDir(), admin, pg.Addr, pg.User, pg.Password, pg.CAFile))
	g, err := New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if g.Addrs["admin"] == "" || g.Addrs["appdb"] == "" {
		t.Fatalf("addresses: %v", g.Addrs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	host, port, _ := strings.Cut(g.Addrs["appdb"], ":")
	c, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=%s user=alice password=tok dbname=app sslmode=disable", host, port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	store := g.Deps().Store
	live, err := store.List(context.Background(), session.Filter{Status: session.StatusActive})
	if err != nil || len(live) != 1 {
		t.Fatalf("live sessions: %v %v", live, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	_, err = c.Exec(context.Background(), "SELECT 1")
	var pgErr *pgconn.PgError
	if err == nil || (errors.As(err, &pgErr) && pgErr.Code != "57P01") {
		t.Fatalf("after drain the client should see the shutdown, got %v", err)
	}
	ro, err := session.OpenStore(cfg.DataDir, session.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rec, err := ro.Get(context.Background(), live[0].ID)
	if err != nil || rec.Status != session.StatusKilled || rec.Error != "the gateway is shutting down" {
		t.Fatalf("drained session's record: %+v %v", rec, err)
	}
}
