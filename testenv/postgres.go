package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresOptions tunes StartPostgres. The zero value is a good default.
type PostgresOptions struct {
	User, Password, Database string // app role and its database (default app / app)
	SuperPassword            string // password of the "postgres" superuser
	MaxConnections           int    // default 1200: enough for 1,000-session tests
	// Settings are extra postgresql.conf lines (name -> value, quoted as needed).
	Settings map[string]string
	// CA signs the server certificate; nil generates a fresh one. Share one
	// CA across servers so a client needs a single CA file.
	CA *CA
	// RunAs is the system user the server runs as when we are root
	// (default "postgres"; created if missing).
	RunAs string
}

// Postgres is a running Postgres server.
type Postgres struct {
	Addr   string // 127.0.0.1:port
	Host   string // 127.0.0.1
	Port   int
	Dir    string // temp dir holding data/, the socket, TLS files and postgres.log
	Socket string // unix socket directory (host=Socket for libpq)
	CAFile string // CA that signed the server certificate
	CAPEM  []byte
	CA     *CA

	SuperUser, SuperPassword string // bootstrap superuser
	User, Password, Database string // app role (SCRAM) owning Database
	MD5User, MD5Password     string // role whose password is stored as md5 (pg_hba md5)
	BinDir                   string // where initdb/postgres/psql/pgbench were found

	LogPath string
	proc    *proc
}

// PostgresForTest starts a Postgres for tb and stops it on cleanup. It
// fails the test (never skips) when the server binaries are missing.
func PostgresForTest(tb testing.TB) *Postgres {
	tb.Helper()
	return forTest(tb, "postgres", 2*time.Minute, func(ctx context.Context) (*Postgres, error) { return StartPostgres(ctx, PostgresOptions{}) })
}

// StartPostgres runs initdb in a fresh temp dir and starts postgres on a
// free loopback port with TLS, SCRAM and settings for fast tests. ctx bounds
// the start-up only; the server runs until Stop.
func StartPostgres(ctx context.Context, opts PostgresOptions) (_ *Postgres, err error) {
	binDir, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	r, err := unprivileged(opts.RunAs)
	if err != nil {
		return nil, err
	}
	ca := opts.CA
	if ca == nil {
		if ca, err = NewCA(); err != nil {
			return nil, err
		}
	}
	dir, err := makeDir("sluice-pg-", r)
	if err != nil {
		return nil, err
	}
	p := &Postgres{
		Host: "127.0.0.1", Dir: dir, Socket: dir, CAPEM: ca.CAPEM, CA: ca, BinDir: binDir,
		SuperUser: "postgres", SuperPassword: opts.SuperPassword,
		User: opts.User, Password: opts.Password, Database: opts.Database,
		MD5User: "md5user", MD5Password: "md5-secret",
		LogPath: filepath.Join(dir, "postgres.log"),
	}
	defer func() {
		if err != nil {
			_ = p.Stop()
		}
	}()
	if err := p.initdb(ctx, r, ca, opts); err != nil {
		return nil, err
	}
	if err := p.start(ctx, r); err != nil {
		return nil, err
	}
	if err := p.createRoles(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (o PostgresOptions) withDefaults() PostgresOptions {
	if o.User == "" {
		o.User = "app"
	}
	if o.Password == "" {
		o.Password = "app-secret"
	}
	if o.Database == "" {
		o.Database = "app"
	}
	if o.SuperPassword == "" {
		o.SuperPassword = "super-secret"
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 1200
	}
	if o.RunAs == "" {
		o.RunAs = "postgres"
	}
	return o
}

// initdb creates the cluster and writes postgresql.conf, pg_hba.conf and TLS files.
func (p *Postgres) initdb(ctx context.Context, r *runAs, ca *CA, opts PostgresOptions) error {
	pwFile := filepath.Join(p.Dir, "superuser.pw")
	if err := os.WriteFile(pwFile, []byte(p.SuperPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("testenv: write pwfile: %w", err)
	}
	files, err := ca.writeTLSFiles(p.Dir)
	if err != nil {
		return err
	}
	p.CAFile = files.CA
	if err := chownTree(p.Dir, r); err != nil {
		return fmt.Errorf("testenv: chown %s: %w", p.Dir, err)
	}
	data := filepath.Join(p.Dir, "data")
	err = runCmd(ctx, r, baseEnv(p.Dir), filepath.Join(p.BinDir, "initdb"),
		"-D", data, "-U", p.SuperUser, "--pwfile="+pwFile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if err != nil {
		return err
	}
	_ = os.Remove(pwFile)

	settings := map[string]string{
		"listen_addresses":           "'127.0.0.1'",
		"unix_socket_directories":    quoteConf(p.Dir),
		"ssl":                        "on",
		"ssl_cert_file":              quoteConf(files.Cert),
		"ssl_key_file":               quoteConf(files.Key),
		"ssl_ca_file":                quoteConf(files.CA),
		"password_encryption":        "'scram-sha-256'",
		"fsync":                      "off",
		"synchronous_commit":         "off",
		"full_page_writes":           "off",
		"shared_buffers":             "64MB",
		"max_connections":            strconv.Itoa(opts.MaxConnections),
		"dynamic_shared_memory_type": "mmap", // container /dev/shm is often tiny
		"max_wal_size":               "1GB",
		"logging_collector":          "off",
		"log_line_prefix":            "'%m [%p] %q%u@%d '",
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var conf strings.Builder
	conf.WriteString("\n# written by sluice testenv\n")
	for _, k := range keys {
		fmt.Fprintf(&conf, "%s = %s\n", k, settings[k])
	}
	if err := appendFile(filepath.Join(data, "postgresql.conf"), conf.String()); err != nil {
		return err
	}
	// First match wins: the md5 role gets md5, everyone else SCRAM; the
	// socket (private to Dir) trusts, for seeding and pgbench -i.
	hba := fmt.Sprintf(`# written by sluice testenv
local   all all                     trust
host    all %[1]s 127.0.0.1/32      md5
host    all %[1]s ::1/128           md5
hostssl all all   127.0.0.1/32      scram-sha-256
host    all all   127.0.0.1/32      scram-sha-256
host    all all   ::1/128           scram-sha-256
`, p.MD5User)
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("testenv: write pg_hba.conf: %w", err)
	}
	return chownTree(p.Dir, r)
}

// start launches postgres, retrying on another free port if the one picked
// was taken in the meantime.
func (p *Postgres) start(ctx context.Context, r *runAs) error {
	var err error
	p.proc, err = startOnFreePort(ctx, "postgres", syscall.SIGQUIT, func(port int) (*proc, error) {
		p.Port = port
		p.Addr = net.JoinHostPort(p.Host, strconv.Itoa(port))
		_ = os.Truncate(p.LogPath, 0)
		// SIGQUIT on parent death is Postgres' immediate shutdown.
		return startProc(r, baseEnv(p.Dir), p.LogPath, syscall.SIGQUIT,
			filepath.Join(p.BinDir, "postgres"), "-D", filepath.Join(p.Dir, "data"), "-p", strconv.Itoa(port))
	}, func(ctx context.Context) error {
		conn, err := pgconn.Connect(ctx, p.superConnString("postgres", "disable"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	return err
}

func (p *Postgres) createRoles(ctx context.Context) error {
	// One statement per Exec: CREATE DATABASE cannot run in the implicit
	// transaction of a multi-statement query.
	stmts := []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s", quoteIdent(p.User), quoteLiteral(p.Password)),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", quoteIdent(p.Database), quoteIdent(p.User)),
		fmt.Sprintf("SET password_encryption = 'md5'; CREATE ROLE %s LOGIN PASSWORD %s",
			quoteIdent(p.MD5User), quoteLiteral(p.MD5Password)),
		fmt.Sprintf("GRANT ALL ON DATABASE %s TO %s", quoteIdent(p.Database), quoteIdent(p.MD5User)),
	}
	for _, sql := range stmts {
		if err := p.ExecIn(ctx, "postgres", sql); err != nil {
			return fmt.Errorf("testenv: create roles: %w", err)
		}
	}
	// Postgres 15 no longer lets every role create in public; the md5 role
	// is a second ordinary user in tests, so give it what the app role has.
	return p.ExecIn(ctx, p.Database, fmt.Sprintf("GRANT ALL ON SCHEMA public TO %s", quoteIdent(p.MD5User)))
}

// Stop shuts the server down (fast shutdown) and removes its directory.
func (p *Postgres) Stop() error {
	var err error
	if p.proc != nil {
		err = p.proc.stop(syscall.SIGINT, 30*time.Second)
	}
	if rmErr := os.RemoveAll(p.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("testenv: remove %s: %w", p.Dir, rmErr)
	}
	return err
}

// DSN is a URL for pgx, psql and libpq clients connecting directly as the
// app role, verifying the server certificate against CAFile. db "" means
// the app database.
func (p *Postgres) DSN(db string) string {
	return p.URL(p.User, p.Password, db, "verify-full")
}

// SuperDSN is DSN for the superuser.
func (p *Postgres) SuperDSN(db string) string {
	return p.URL(p.SuperUser, p.SuperPassword, db, "verify-full")
}

// URL builds a postgres:// URL for any role and sslmode (disable, require,
// verify-full, ...). With verify-* modes the CA file is included.
func (p *Postgres) URL(user, password, db, sslmode string) string {
	if db == "" {
		db = p.Database
	}
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(user, password),
		Host:   p.Addr,
		Path:   "/" + db,
	}
	q := url.Values{"sslmode": {sslmode}}
	if strings.HasPrefix(sslmode, "verify") {
		q.Set("sslrootcert", p.CAFile)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs sql (one or more statements) as superuser in the app database.
func (p *Postgres) Exec(ctx context.Context, sql string) error {
	return p.ExecIn(ctx, p.Database, sql)
}

// ExecIn runs sql as superuser in database db.
func (p *Postgres) ExecIn(ctx context.Context, db, sql string) error {
	conn, err := pgconn.Connect(ctx, p.superConnString(db, "disable"))
	if err != nil {
		return fmt.Errorf("testenv: connect as superuser to %s: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	results, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return fmt.Errorf("testenv: exec in %s: %w", db, err)
	}
	for _, r := range results {
		if r.Err != nil {
			return fmt.Errorf("testenv: exec in %s: %w", db, r.Err)
		}
	}
	return nil
}

// Env is the libpq environment (PGHOST etc.) for running psql or pgbench
// as the superuser over the private unix socket.
func (p *Postgres) Env(db string) []string {
	if db == "" {
		db = p.Database
	}
	return []string{"PGHOST=" + p.Socket, "PGPORT=" + strconv.Itoa(p.Port), "PGUSER=" + p.SuperUser, "PGDATABASE=" + db}
}

func (p *Postgres) superConnString(db, sslmode string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=%s connect_timeout=5",
		p.Host, p.Port, quoteConnValue(p.SuperUser), quoteConnValue(p.SuperPassword), quoteConnValue(db), sslmode)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("testenv: open %s: %w", path, err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("testenv: write %s: %w", path, err)
	}
	return f.Close()
}

func quoteConf(s string) string    { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteConnValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
