package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PgBouncer is a running pgbouncer in front of a testenv Postgres, the
// baseline the gateway's performance is measured against.
type PgBouncer struct {
	Addr    string
	Host    string
	Port    int
	Dir     string
	LogPath string
	// User and Password log in to pgbouncer (the Postgres app role's).
	User, Password, Database string
	proc                     *proc
}

// PgBouncerOptions tunes StartPgBouncer.
type PgBouncerOptions struct {
	PoolMode        string // session (default) | transaction
	DefaultPoolSize int    // default 50
	MaxClientConn   int    // default 2000
}

// StartPgBouncer starts pgbouncer for pg's app role and database. Clients
// authenticate with SCRAM against a plain-text auth_file (pgbouncer can
// then also do SCRAM to Postgres); TLS is off on both legs, as in the
// benchmark's other legs. pgbouncer refuses to run as root, so it runs as
// the Postgres server's user.
func StartPgBouncer(ctx context.Context, pg *Postgres, opts PgBouncerOptions) (_ *PgBouncer, err error) {
	bin, err := LookBinary("pgbouncer", "pgbouncer")
	if err != nil {
		return nil, err
	}
	if opts.PoolMode == "" {
		opts.PoolMode = "session"
	}
	if opts.DefaultPoolSize == 0 {
		opts.DefaultPoolSize = 50
	}
	if opts.MaxClientConn == 0 {
		opts.MaxClientConn = 2000
	}
	r, err := unprivileged("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := makeDir("sluice-pgbouncer-", r)
	if err != nil {
		return nil, err
	}
	b := &PgBouncer{
		Host: "127.0.0.1", Dir: dir, LogPath: filepath.Join(dir, "pgbouncer.log"),
		User: pg.User, Password: pg.Password, Database: pg.Database,
	}
	defer func() {
		if err != nil {
			_ = b.Stop()
		}
	}()
	authFile := filepath.Join(dir, "userlist.txt")
	auth := fmt.Sprintf("%s %s\n", quotePgBouncer(pg.User), quotePgBouncer(pg.Password))
	if err := os.WriteFile(authFile, []byte(auth), 0o600); err != nil {
		return nil, fmt.Errorf("testenv: write pgbouncer auth_file: %w", err)
	}
	b.proc, err = startOnFreePort(ctx, "pgbouncer", syscall.SIGKILL, func(port int) (*proc, error) {
		b.Port = port
		b.Addr = net.JoinHostPort(b.Host, strconv.Itoa(port))
		ini := fmt.Sprintf(`; written by sluice testenv
[databases]
%[1]s = host=%[2]s port=%[3]d dbname=%[1]s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %[4]d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %[5]s
pool_mode = %[6]s
default_pool_size = %[7]d
max_client_conn = %[8]d
max_db_connections = 0
pidfile = %[9]s
logfile = %[10]s
ignore_startup_parameters = extra_float_digits,options
server_tls_sslmode = disable
client_tls_sslmode = disable
log_connections = 0
log_disconnections = 0
`, pg.Database, pg.Host, pg.Port, port, authFile, opts.PoolMode, opts.DefaultPoolSize,
			opts.MaxClientConn, filepath.Join(dir, "pgbouncer.pid"), b.LogPath)
		iniPath := filepath.Join(dir, "pgbouncer.ini")
		if err := os.WriteFile(iniPath, []byte(ini), 0o600); err != nil {
			return nil, fmt.Errorf("testenv: write pgbouncer.ini: %w", err)
		}
		if err := chownTree(dir, r); err != nil {
			return nil, fmt.Errorf("testenv: chown %s: %w", dir, err)
		}
		p, err := startProc(r, baseEnv(dir), filepath.Join(dir, "stderr.log"), syscall.SIGTERM, bin, iniPath)
		if err != nil {
			return nil, err
		}
		p.logPath = b.LogPath
		return p, nil
	}, func(ctx context.Context) error {
		conn, err := pgconn.Connect(ctx, b.ConnString())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// ConnString is a libpq keyword/value string for the app role through pgbouncer.
func (b *PgBouncer) ConnString() string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		b.Host, b.Port, quoteConnValue(b.User), quoteConnValue(b.Password), quoteConnValue(b.Database))
}

// Stop stops pgbouncer and removes its directory.
func (b *PgBouncer) Stop() error {
	var err error
	if b.proc != nil {
		// SIGTERM: immediate shutdown (SIGINT would wait for clients).
		err = b.proc.stop(syscall.SIGTERM, 10*time.Second)
	}
	if rmErr := os.RemoveAll(b.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("testenv: remove %s: %w", b.Dir, rmErr)
	}
	return err
}

// quotePgBouncer quotes an auth_file field: double quotes, doubled inside.
func quotePgBouncer(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Pid is pgbouncer's process id (benchmarks read its CPU time).
func (b *PgBouncer) Pid() int { return b.proc.Pid() }
