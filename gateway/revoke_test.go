package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	gossh "golang.org/x/crypto/ssh"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// TestRevokeEndsOpenSessions: revoking a gateway token in the data dir ends
// the Postgres and SSH sessions already open with it within a few seconds,
// with the reason shown to the client and a "killed" record, while sessions
// opened with another token of the same identity go on.
func TestRevokeEndsOpenSessions(t *testing.T) {
	pg := testenv.PostgresForTest(t)
	sshListen, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := parse(t, fmt.Sprintf(`
data_dir: %s/data
identities: [{name: ci-deploy, kind: service}]
identity: {token_key: revoke-test-token-key}
targets:
  - {name: appdb, protocol: postgres, listen: "127.0.0.1:0", upstream: {address: %q, user: %s, password: %q, tls: {mode: verify-full, ca_file: %q}}}
  - {name: box, protocol: command, command: [sleep]}
ssh: {listen: %q, host_key: %s/data/ssh_host_ed25519_key}
`, dir, pg.Addr, pg.User, pg.Password, pg.CAFile, sshListen, dir))
	g, logs, issue := startRevokeGateway(t, cfg)
	revokedTok, revoked := issue()
	keptTok, _ := issue()

	ctx := context.Background()
	host, port, _ := strings.Cut(g.Addrs["appdb"], ":")
	pgConnect := func(token, app string) *pgx.Conn {
		cc, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=ci-deploy dbname=app sslmode=require application_name=%s", host, port, app))
		if err != nil {
			t.Fatal(err)
		}
		cc.Password = token
		c, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			t.Fatalf("connect with a gateway token: %v", err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	pgRevoked, pgKept := pgConnect(revokedTok, "revoked"), pgConnect(keptTok, "kept")

	sshStart := func(token string) (*gossh.Session, *testenv.SyncBuffer, chan error) {
		client, err := gossh.Dial("tcp", sshListen, &gossh.ClientConfig{
			User: "ci-deploy+box", Auth: []gossh.AuthMethod{gossh.Password(token)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
		})
		if err != nil {
			t.Fatalf("ssh with a gateway token: %v", err)
		}
		t.Cleanup(func() { client.Close() })
		s, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		stderr := &testenv.SyncBuffer{}
		s.Stderr = stderr
		if err := s.Start("60"); err != nil { // the target runs sleep 60
			t.Fatal(err)
		}
		ended := make(chan error, 1)
		go func() { ended <- s.Wait() }()
		return s, stderr, ended
	}
	_, sshRevokedErr, sshRevokedEnded := sshStart(revokedTok)
	_, _, sshKeptEnded := sshStart(keptTok)

	// A query runs on the revoked token's connection while it is revoked.
	queryDone := make(chan error, 1)
	go func() {
		_, err := pgRevoked.Exec(ctx, "SELECT pg_sleep(60)")
		queryDone <- err
	}()
	testenv.WaitFor(t, "4 live sessions", 15*time.Second, func() bool {
		live, err := g.Deps().Store.List(ctx, session.Filter{Status: session.StatusActive})
		return err == nil && len(live) == 4
	})

	start := revokeNow(t, cfg, revoked)
	select {
	case err := <-queryDone:
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57P01" || !strings.Contains(pgErr.Message, "gateway token revoked") {
			t.Fatalf("postgres client of the revoked token got %v, want a FATAL 57P01 naming the revocation", err)
		}
	case <-time.After(revokeWithin):
		t.Fatal("postgres session of the revoked token still running")
	}
	select {
	case <-sshRevokedEnded:
		if !strings.Contains(sshRevokedErr.String(), "gateway token revoked") {
			t.Fatalf("ssh client of the revoked token was told %q", sshRevokedErr.String())
		}
	case <-time.After(revokeWithin - time.Since(start)):
		t.Fatal("ssh session of the revoked token still running")
	}
	t.Logf("revoked sessions ended %v after the revocation", time.Since(start).Round(time.Millisecond))

	// The other token's sessions go on.
	var one int
	if err := pgKept.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("postgres session of the other token: %d %v", one, err)
	}
	select {
	case err := <-sshKeptEnded:
		t.Fatalf("ssh session of the other token ended: %v", err)
	default:
	}

	// Records: the revoked token's two sessions are killed, the others live.
	testenv.WaitFor(t, "the revoked sessions' records closed", 15*time.Second, func() bool {
		killed, err := g.Deps().Store.List(ctx, session.Filter{Status: session.StatusKilled})
		return err == nil && len(killed) == 2
	})
	recs, err := g.Deps().Store.List(ctx, session.Filter{Identity: "ci-deploy"})
	if err != nil {
		t.Fatal(err)
	}
	byStatus := map[session.Status][]string{}
	for _, r := range recs {
		byStatus[r.Status] = append(byStatus[r.Status], r.Protocol+"/"+r.Tags["application_name"])
		if r.Status == session.StatusKilled && !strings.Contains(r.Error, "gateway token revoked") {
			t.Fatalf("killed record without the reason: %+v", r)
		}
	}
	for _, l := range byStatus {
		slices.Sort(l)
	}
	if k, a := byStatus[session.StatusKilled], byStatus[session.StatusActive]; !slices.Equal(k, []string{"command/", "postgres/revoked"}) ||
		!slices.Equal(a, []string{"command/", "postgres/kept"}) {
		t.Fatalf("records by status: %v", byStatus)
	}

	checkRevokeAudit(t, logs, revoked.ID, revokedTok)
}

// startRevokeGateway runs a gateway for cfg until the test ends and returns
// its log and what `sluice token issue --identity ci-deploy --ttl 1h`
// prints.
func startRevokeGateway(t *testing.T, cfg *config.Config) (*Gateway, *testenv.SyncBuffer, func() (string, *identity.TokenClaims)) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	g, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	auth, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	issue := func() (string, *identity.TokenClaims) {
		tok, c, err := auth.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok, c
	}
	return g, logs, issue
}

// revokeWithin bounds how long a revoked token's sessions may run on (the
// watcher looks every 2 s).
const revokeWithin = 10 * time.Second

// revokeNow revokes the token c describes, as `sluice token revoke` does,
// and returns when.
func revokeNow(t *testing.T, cfg *config.Config, c *identity.TokenClaims) time.Time {
	t.Helper()
	now := time.Now()
	if err := identity.Revoke(cfg.DataDir, c.ID, c.ExpiresAt(), now); err != nil {
		t.Fatal(err)
	}
	return now
}

// checkRevokeAudit: the audit line names the token id and identity, never
// the token.
func checkRevokeAudit(t *testing.T, logs *testenv.SyncBuffer, id, token string) {
	t.Helper()
	out := logs.String()
	if !strings.Contains(out, "event=token_revoked") || !strings.Contains(out, "token_id="+id) || !strings.Contains(out, "identity=ci-deploy") {
		t.Fatalf("no audit line for the revocation:\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Fatal("the gateway logged the token itself")
	}
}
