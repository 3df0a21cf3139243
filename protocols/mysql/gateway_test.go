package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gosql "github.com/go-sql-driver/mysql"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/listener"
	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// One real MariaDB serves the whole package (starting one costs seconds
// of a shared 2-core machine).
var mdb *testenv.MariaDB

func TestMain(m *testing.M) {
	flag.Parse()
	for _, name := range []string{"test.fuzz", "test.list"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			// Fuzzing (and listing tests) needs no server.
			os.Exit(m.Run())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var err error
	mdb, err = testenv.StartMariaDB(ctx, testenv.MariaDBOptions{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start mariadb:", err)
		os.Exit(1)
	}
	if err := seed(); err != nil {
		fmt.Fprintln(os.Stderr, "seed mariadb:", err)
		mdb.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if err := mdb.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop mariadb:", err)
	}
	os.Exit(code)
}

func seed() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range []string{
		`CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(100), ssn CHAR(11), born DATE, score DOUBLE, balance DECIMAL(10,2))`,
		`INSERT INTO users VALUES (1,'Ada','ada@example.com','123-45-6789','1990-01-02',1.5,10.25),(2,'Bo','bo@example.com','987-65-4321',NULL,NULL,NULL)`,
		`CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, user_id INT, total INT)`,
		`INSERT INTO orders (user_id,total) VALUES (1,10),(1,20),(2,30)`,
	} {
		if err := mdb.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

const (
	aliceToken = "alice-token-0123"
	bobToken   = "bob-token-4567" // configured as token_sha256 only
)

// gatewayOptions vary the test gateway.
type gatewayOptions struct {
	policy      string // YAML under policies.guarded (indented 4)
	upstreamTLS string // disable | require | verify-full
	user, pass  string // upstream credentials; default the app user
	quiet       bool   // log warnings only (benchmarks)
	unpinned    bool   // no upstream.database: clients choose (and USE) any
	upstream    string // more YAML under the target's upstream (indented 6)
}

// testGateway is a Sluice MySQL engine on a loopback listener with real deps.
type testGateway struct {
	addr   string
	store  *session.Store
	broker *policy.Broker
	cfg    *config.Config
	engine *Engine
	// drain ends the listener's context, as a gateway shutdown does, and
	// waits for its sessions to end.
	drain func()
}

func startGateway(t testing.TB, o gatewayOptions) *testGateway {
	t.Helper()
	if o.upstreamTLS == "" {
		o.upstreamTLS = "disable"
	}
	if o.user == "" {
		o.user, o.pass = mdb.User, mdb.Password
	}
	if o.policy == "" {
		o.policy = "    rules: []\n"
	}
	database := mdb.Database
	if o.unpinned {
		database = `""`
	}
	bobHash := sha256.Sum256([]byte(bobToken))
	yaml := fmt.Sprintf(`data_dir: %s
identities:
  - {name: alice, token: %s, groups: [developers, reviewers]}
  - {name: bob, token_sha256: %s, groups: [developers]}
  - {name: mallory, token: mallory-token, groups: [outsiders]}
approvals:
  timeout: 20s
targets:
  - name: shop
    protocol: mysql
    listen: 127.0.0.1:0
    policy: guarded
    allow: {groups: [developers]}
    upstream:
      address: %s
      user: %s
      password: %s
      database: %s
      tls: {mode: %s, ca_file: %s}
%spolicies:
  guarded:
%s`, t.TempDir(), aliceToken, hex.EncodeToString(bobHash[:]), mdb.Addr, o.user, o.pass, database,
		o.upstreamTLS, mdb.CAFile, o.upstream, o.policy)
	cfg, err := config.Parse([]byte(yaml), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	level := slog.LevelDebug
	if o.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	store, err := session.OpenStore(cfg.DataDir, session.Options{FlushInterval: 50 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	broker := policy.NewBroker(cfg.Approvals, policy.BrokerOptions{Log: log})
	deps := listener.Deps{Config: cfg, Auth: auth, Policies: set, Broker: broker, Store: store, Metrics: metrics.New(), Log: log}
	eng, err := New(&cfg.Targets[0], deps)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = listener.Serve(ctx, ln, cfg.Limits, eng, log)
	}()
	drain := func() {
		cancel()
		wg.Wait()
	}
	t.Cleanup(func() {
		drain()
		broker.Close()
		store.Close()
	})
	return &testGateway{addr: ln.Addr().String(), store: store, broker: broker, cfg: cfg, engine: eng, drain: drain}
}

// testWriter sends the gateway's log to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dsn is a go-sql-driver DSN through the gateway.
func (g *testGateway) dsn(user, token, params string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?%s", user, token, g.addr, mdb.Database, params)
}

func (g *testGateway) open(t *testing.T, user, token, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", g.dsn(user, token, params))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mysqlErr extracts the server error a go-sql-driver call returned.
func mysqlErr(t *testing.T, err error) *gosql.MySQLError {
	t.Helper()
	me, ok := err.(*gosql.MySQLError)
	if !ok {
		t.Fatalf("want a MySQL error, got %T %v", err, err)
	}
	return me
}

// upstreamConnections is MariaDB's count of connection attempts so far
// (the query's own connection included).
func upstreamConnections(t *testing.T) int {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/", mdb.RootUser, mdb.RootPassword, mdb.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	var n int
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Connections'").Scan(&name, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
