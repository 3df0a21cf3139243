package testenv

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	p := PostgresForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := SeedDemo(ctx, p); err != nil {
		t.Fatal(err)
	}

	t.Run("psql verify-full over TLS", func(t *testing.T) {
		psql := filepath.Join(p.BinDir, "psql")
		out, err := exec.CommandContext(ctx, psql, p.DSN(""), "-XAtc",
			"SELECT ssl, count(*) FROM pg_stat_ssl, users WHERE pid = pg_backend_pid() GROUP BY ssl").CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		if got, want := strings.TrimSpace(string(out)), "t|5000"; got != want {
			t.Fatalf("psql output %q, want %q", got, want)
		}
	})

	t.Run("verify-full rejects another CA", func(t *testing.T) {
		other, err := NewCA()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pgx.ParseConfig(p.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLSConfig = other.ClientTLS("127.0.0.1")
		cfg.Fallbacks = nil
		if conn, err := pgx.ConnectConfig(ctx, cfg); err == nil {
			conn.Close(ctx)
			t.Fatal("connected although the server cert is not from the trusted CA")
		}
	})

	t.Run("pgx scram", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, p.URL(p.User, p.Password, "", "disable"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var email string
		if err := conn.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", 42).Scan(&email); err != nil {
			t.Fatal(err)
		}
		if email != "user42@example.com" {
			t.Fatalf("email = %q", email)
		}
		var method string
		err = conn.QueryRow(ctx, "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = current_user").Scan(&method)
		if err == nil {
			t.Fatalf("app role can read pg_authid (%q): it must not be a superuser", method)
		}
	})

	t.Run("wrong password refused", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, p.URL(p.User, "wrong", "", "disable"))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("wrong password accepted")
		}
		if !strings.Contains(err.Error(), "password authentication failed") {
			t.Fatalf("unexpected error: %v", err)
		}
	})

	t.Run("md5 role", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, p.URL(p.MD5User, p.MD5Password, "", "require"))
		if err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		var stored string
		if err := pgxQueryOne(ctx, p.SuperDSN(""), "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = $1", &stored, p.MD5User); err != nil {
			t.Fatal(err)
		}
		if stored != "md5" {
			t.Fatalf("md5 role password stored as %q...", stored)
		}
		if err := pgxQueryOne(ctx, p.SuperDSN(""), "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = $1", &stored, p.User); err != nil {
			t.Fatal(err)
		}
		if stored != "SCRAM-SHA-256" {
			t.Fatalf("app role password stored as %q...", stored)
		}
	})

	t.Run("node and python clients", func(t *testing.T) {
		env := map[string]string{"PG_URL": p.DSN("")}
		script, err := filepath.Abs("testdata/pg_client.js")
		if err != nil {
			t.Fatal(err)
		}
		if got := RunNode(t, "", script, env, "7"); got != "user7@example.com\n" {
			t.Fatalf("node pg printed %q", got)
		}
		if got := RunPython(t, "testdata/pg_client.py", env, "8"); got != "user8@example.com\n" {
			t.Fatalf("python psycopg2 printed %q", got)
		}
		// The runner reports failures with the client's own error text.
		_, stderr, code, err := RunClient(PythonCommand(t, "testdata/pg_client.py",
			map[string]string{"PG_URL": p.URL(p.User, "wrong", "", "verify-full")}, "1"))
		if err != nil || code == 0 || !strings.Contains(stderr, "password authentication failed") {
			t.Fatalf("wrong password: exit %d, err %v, stderr %q", code, err, stderr)
		}
	})

	t.Run("pgbouncer in front", func(t *testing.T) {
		b, err := StartPgBouncer(ctx, p, PgBouncerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := b.Stop(); err != nil {
				t.Error(err)
			}
		}()
		var port int
		if err := pgxQueryOne(ctx, b.ConnString(), "SELECT inet_server_port()", &port); err != nil {
			t.Fatal(err)
		}
		if port != p.Port {
			t.Fatalf("pgbouncer reached port %d, want the Postgres port %d", port, p.Port)
		}
		bad := strings.Replace(b.ConnString(), "password='"+p.Password+"'", "password='wrong'", 1)
		if conn, err := pgx.Connect(ctx, bad); err == nil {
			conn.Close(ctx)
			t.Fatal("pgbouncer accepted a wrong password")
		}
	})

	t.Run("max_connections", func(t *testing.T) {
		var n string
		if err := pgxQueryOne(ctx, p.DSN(""), "SHOW max_connections", &n); err != nil {
			t.Fatal(err)
		}
		if n != "1200" {
			t.Fatalf("max_connections = %s", n)
		}
	})
}

func TestPostgresStopRemovesDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartPostgres(ctx, PostgresOptions{CA: ca, User: "o'neil", Password: "pa ss'word", Database: "odd db"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, p.DSN(""))
	if err != nil {
		p.Stop()
		t.Fatalf("connect with quoted names: %v", err)
	}
	conn.Close(ctx)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Command("test", "-e", p.Dir).CombinedOutput(); err == nil {
		t.Fatalf("%s still exists after Stop", p.Dir)
	}
	if conn, err := pgx.Connect(ctx, p.URL(p.User, p.Password, "", "disable")); err == nil {
		conn.Close(ctx)
		t.Fatal("server still accepts connections after Stop")
	}
}

func pgxQueryOne(ctx context.Context, dsn, sql string, dst any, args ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql, args...).Scan(dst)
}
