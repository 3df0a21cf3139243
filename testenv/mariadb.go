package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// MariaDBOptions tunes StartMariaDB. The zero value is a good default.
type MariaDBOptions struct {
	User, Password, Database string // app user (mysql_native_password), default shop / shop
	RootPassword             string
	MaxConnections           int // default 1200
	CA                       *CA // nil generates a fresh CA
	RunAs                    string
}

// MariaDB is a running MariaDB server.
type MariaDB struct {
	Addr   string // 127.0.0.1:port
	Host   string
	Port   int
	Dir    string // temp dir: data/, socket, TLS files, my.cnf, mariadbd.log
	Socket string // unix socket path
	CAFile string
	CAPEM  []byte
	CA     *CA

	RootUser, RootPassword   string
	User, Password, Database string // mysql_native_password user owning Database
	// Ed25519User authenticates with the auth_ed25519 plugin; empty when the
	// plugin could not be loaded on this machine.
	Ed25519User, Ed25519Password string
	Version                      string

	LogPath string
	proc    *proc
}

// MariaDBForTest starts a MariaDB for tb and stops it on cleanup; it fails
// (never skips) when mariadb-server is not installed.
func MariaDBForTest(tb testing.TB) *MariaDB {
	tb.Helper()
	return forTest(tb, "mariadb", 2*time.Minute, func(ctx context.Context) (*MariaDB, error) { return StartMariaDB(ctx, MariaDBOptions{}) })
}

// StartMariaDB installs a fresh datadir and starts mariadbd on a free
// loopback port with TLS from the CA. ctx bounds the start-up only.
func StartMariaDB(ctx context.Context, opts MariaDBOptions) (_ *MariaDB, err error) {
	mariadbd, err := LookBinary("mariadbd", "mariadb-server")
	if err != nil {
		return nil, err
	}
	installDB, err := LookBinary("mariadb-install-db", "mariadb-server")
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
	dir, err := makeDir("sluice-mariadb-", r)
	if err != nil {
		return nil, err
	}
	m := &MariaDB{
		Host: "127.0.0.1", Dir: dir, Socket: filepath.Join(dir, "mariadbd.sock"),
		CAPEM: ca.CAPEM, CA: ca,
		RootUser: "root", RootPassword: opts.RootPassword,
		User: opts.User, Password: opts.Password, Database: opts.Database,
		LogPath: filepath.Join(dir, "mariadbd.log"),
	}
	defer func() {
		if err != nil {
			_ = m.Stop()
		}
	}()
	files, err := ca.writeTLSFiles(dir)
	if err != nil {
		return nil, err
	}
	m.CAFile = files.CA
	cnf := filepath.Join(dir, "my.cnf")
	if err := os.WriteFile(cnf, []byte(m.myCnf(files, opts.MaxConnections)), 0o644); err != nil {
		return nil, fmt.Errorf("testenv: write my.cnf: %w", err)
	}
	if err := chownTree(dir, r); err != nil {
		return nil, fmt.Errorf("testenv: chown %s: %w", dir, err)
	}
	err = runCmd(ctx, r, baseEnv(dir), installDB, "--defaults-file="+cnf,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if err != nil {
		return nil, err
	}
	if err := m.start(ctx, r, mariadbd, cnf); err != nil {
		return nil, err
	}
	if err := m.createUsers(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func (o MariaDBOptions) withDefaults() MariaDBOptions {
	if o.User == "" {
		o.User = "shop"
	}
	if o.Password == "" {
		o.Password = "shop-secret"
	}
	if o.Database == "" {
		o.Database = "shop"
	}
	if o.RootPassword == "" {
		o.RootPassword = "root-secret"
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 1200
	}
	if o.RunAs == "" {
		o.RunAs = "mysql"
	}
	return o
}

// myCnf is tuned for disposable speed: no durability, small buffers. Each
// server has its own tmpdir: servers bootstrapping at once in a shared /tmp
// collide on their temporary tables' names ("Unknown table
// 'mysql.tmp_user_sys'").
func (m *MariaDB) myCnf(files tlsFiles, maxConns int) string {
	return fmt.Sprintf(`# written by sluice testenv
[mariadbd]
datadir = %s
tmpdir = %s
socket = %s
pid-file = %s
log-error = %s
bind-address = 127.0.0.1
skip-name-resolve
ssl-ca = %s
ssl-cert = %s
ssl-key = %s
max_connections = %d
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
innodb_buffer_pool_size = 64M
innodb_log_file_size = 48M
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
sync_binlog = 0
performance_schema = OFF
plugin-load-add = auth_ed25519
`, filepath.Join(m.Dir, "data"), m.Dir, m.Socket, filepath.Join(m.Dir, "mariadbd.pid"), m.LogPath,
		files.CA, files.Cert, files.Key, maxConns)
}

func (m *MariaDB) start(ctx context.Context, r *runAs, mariadbd, cnf string) error {
	var err error
	m.proc, err = startOnFreePort(ctx, "mariadbd", syscall.SIGKILL, func(port int) (*proc, error) {
		m.Port = port
		m.Addr = net.JoinHostPort(m.Host, strconv.Itoa(port))
		_ = os.Truncate(m.LogPath, 0)
		// --defaults-file must come first; --port overrides per attempt.
		return startProc(r, baseEnv(m.Dir), m.LogPath, syscall.SIGKILL,
			mariadbd, "--defaults-file="+cnf, "--port="+strconv.Itoa(port))
	}, func(ctx context.Context) error {
		// Root has no password until createUsers; the socket is private to Dir.
		c, err := client.ConnectWithContext(ctx, m.Socket, m.RootUser, "", "", 2*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	return err
}

func (m *MariaDB) createUsers(ctx context.Context) error {
	c, err := client.ConnectWithContext(ctx, m.Socket, m.RootUser, "", "", 5*time.Second)
	if err != nil {
		return fmt.Errorf("testenv: connect to mariadb as root: %w", err)
	}
	defer c.Close()
	if res, err := c.Execute("SELECT VERSION()"); err == nil {
		m.Version, _ = res.GetString(0, 0)
		res.Close()
	}
	rootPW := quoteMySQLLiteral(m.RootPassword)
	stmts := []string{
		fmt.Sprintf("CREATE DATABASE %s", quoteMySQLIdent(m.Database)),
		fmt.Sprintf("CREATE USER %s@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD(%s)", quoteMySQLLiteral(m.User), quoteMySQLLiteral(m.Password)),
		fmt.Sprintf("GRANT ALL ON %s.* TO %s@'%%'", quoteMySQLIdent(m.Database), quoteMySQLLiteral(m.User)),
		// install-db may or may not create root@127.0.0.1 (version dependent).
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'",
		"GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
	}
	for _, s := range stmts {
		if _, err := c.Execute(s); err != nil {
			return fmt.Errorf("testenv: mariadb setup %q: %w", firstWords(s), err)
		}
	}
	// ed25519 is optional: the plugin ships with mariadb-server but a
	// distribution may build without it.
	edPW := "ed-secret"
	_, err = c.Execute(fmt.Sprintf("CREATE USER 'edshop'@'%%' IDENTIFIED VIA ed25519 USING PASSWORD(%s)", quoteMySQLLiteral(edPW)))
	if err == nil {
		if _, err := c.Execute(fmt.Sprintf("GRANT ALL ON %s.* TO 'edshop'@'%%'", quoteMySQLIdent(m.Database))); err != nil {
			return fmt.Errorf("testenv: grant to ed25519 user: %w", err)
		}
		m.Ed25519User, m.Ed25519Password = "edshop", edPW
	}
	// Last: from here on every root account needs the password, on the
	// socket too. Accounts for the machine's host name are skipped: with
	// skip-name-resolve the server never loads (nor matches) them.
	res, err := c.Execute("SELECT Host FROM mysql.global_priv WHERE User = 'root' AND Host IN ('localhost', '127.0.0.1', '::1')")
	if err != nil {
		return fmt.Errorf("testenv: list root accounts: %w", err)
	}
	defer res.Close()
	for i := 0; i < res.RowNumber(); i++ {
		host, err := res.GetString(i, 0)
		if err != nil {
			return fmt.Errorf("testenv: list root accounts: %w", err)
		}
		alter := fmt.Sprintf("ALTER USER 'root'@%s IDENTIFIED BY %s", quoteMySQLLiteral(host), rootPW)
		if _, err := c.Execute(alter); err != nil {
			return fmt.Errorf("testenv: set root password: %w", err)
		}
	}
	return nil
}

// Stop shuts mariadbd down and removes its directory.
func (m *MariaDB) Stop() error {
	var err error
	if m.proc != nil {
		err = m.proc.stop(syscall.SIGTERM, 30*time.Second)
	}
	if rmErr := os.RemoveAll(m.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("testenv: remove %s: %w", m.Dir, rmErr)
	}
	return err
}

// DSN is a go-sql-driver/mysql DSN for the app user over TCP without TLS
// (register a tls config named from m.CA to add ?tls=NAME). db "" means the
// app database.
func (m *MariaDB) DSN(db string) string {
	if db == "" {
		db = m.Database
	}
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?parseTime=true", m.User, m.Password, m.Addr, db)
}

// URL is a mysql:// URL (node mysql2, the gateway docs) for any user.
func (m *MariaDB) URL(user, password, db string) string {
	if db == "" {
		db = m.Database
	}
	u := url.URL{Scheme: "mysql", User: url.UserPassword(user, password), Host: m.Addr, Path: "/" + db}
	return u.String()
}

// CLIArgs are mariadb client arguments for user over TCP, verifying the
// server certificate against the CA; the password goes in MYSQL_PWD (see CLIEnv).
func (m *MariaDB) CLIArgs(user, db string) []string {
	if db == "" {
		db = m.Database
	}
	return []string{"--no-defaults", "--protocol=TCP", "-h", m.Host, "-P", strconv.Itoa(m.Port), "-u", user,
		"--ssl", "--ssl-ca=" + m.CAFile, "--ssl-verify-server-cert", db}
}

// Exec runs one SQL statement as root in the app database.
func (m *MariaDB) Exec(ctx context.Context, sql string) error {
	return m.ExecIn(ctx, m.Database, sql)
}

// ExecIn runs one SQL statement as root in database db.
func (m *MariaDB) ExecIn(ctx context.Context, db, sql string) error {
	c, err := client.ConnectWithContext(ctx, m.Addr, m.RootUser, m.RootPassword, db, 5*time.Second)
	if err != nil {
		return fmt.Errorf("testenv: connect to mariadb as root: %w", err)
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(deadline)
	}
	res, err := c.Execute(sql)
	if err != nil {
		return fmt.Errorf("testenv: mariadb exec %q: %w", firstWords(sql), err)
	}
	res.Close()
	return nil
}

func quoteMySQLIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// quoteMySQLLiteral escapes for MySQL's default sql_mode, where backslash
// is an escape character inside string literals.
func quoteMySQLLiteral(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// firstWords names a statement in an error without echoing passwords.
func firstWords(sql string) string {
	f := strings.Fields(sql)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}
