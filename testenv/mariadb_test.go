package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

func TestMariaDB(t *testing.T) {
	cli := RequireBinary(t, "mariadb", "mariadb-client")
	m := MariaDBForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := SeedDemoMariaDB(ctx, m); err != nil {
		t.Fatal(err)
	}

	t.Run("mariadb CLI verifies server cert", func(t *testing.T) {
		args := append(m.CLIArgs(m.User, ""), "-N", "-B", "-e",
			"SELECT COUNT(*), (SELECT VARIABLE_VALUE <> '' FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher') FROM users")
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+m.Password)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mariadb: %v\n%s", err, out)
		}
		if got, want := strings.TrimSpace(string(out)), "5000\t1"; got != want {
			t.Fatalf("mariadb output %q, want %q", got, want)
		}
	})

	t.Run("node and python clients", func(t *testing.T) {
		env := map[string]string{
			"MYSQL_URL":  m.URL(m.User, m.Password, ""),
			"MYSQL_HOST": m.Host, "MYSQL_PORT": strconv.Itoa(m.Port), "MYSQL_USER": m.User,
			"MYSQL_PASSWORD": m.Password, "MYSQL_DATABASE": m.Database, "MYSQL_CA": m.CAFile,
		}
		script, err := filepath.Abs("testdata/mysql_client.js")
		if err != nil {
			t.Fatal(err)
		}
		if got := RunNode(t, "", script, env, "9"); got != "user9@example.com\n" {
			t.Fatalf("node mysql2 printed %q", got)
		}
		if got := RunPython(t, "testdata/mysql_client.py", env, "10"); got != "user10@example.com\n" {
			t.Fatalf("python pymysql printed %q", got)
		}
	})

	t.Run("native password user", func(t *testing.T) {
		c, err := client.ConnectWithContext(ctx, m.Addr, m.User, m.Password, m.Database, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res, err := c.Execute("SELECT email, card FROM users WHERE id = 42")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		email, _ := res.GetString(0, 0)
		card, _ := res.GetString(0, 1)
		if email != "user42@example.com" || card != demoCards[42%len(demoCards)] {
			t.Fatalf("row 42 = %q %q", email, card)
		}
		plugin, err := c.Execute("SELECT plugin FROM mysql.user WHERE user = 'shop'")
		if err == nil {
			plugin.Close()
			t.Fatal("app user can read mysql.user: it must not have global privileges")
		}
	})

	t.Run("ed25519 user", func(t *testing.T) {
		if m.Ed25519User == "" {
			t.Fatalf("auth_ed25519 did not load; mariadbd log:\n%s", readTail(m.LogPath, 20))
		}
		c, err := client.ConnectWithContext(ctx, m.Addr, m.Ed25519User, m.Ed25519Password, m.Database, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		root, err := client.ConnectWithContext(ctx, m.Addr, m.RootUser, m.RootPassword, "mysql", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		res, err := root.Execute("SELECT JSON_VALUE(Priv, '$.plugin') FROM global_priv WHERE User = ?", m.Ed25519User)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		if plugin, _ := res.GetString(0, 0); plugin != "ed25519" {
			t.Fatalf("%s uses plugin %q", m.Ed25519User, plugin)
		}
	})

	t.Run("wrong password refused", func(t *testing.T) {
		c, err := client.ConnectWithContext(ctx, m.Addr, m.User, "wrong", m.Database, 5*time.Second)
		if err == nil {
			c.Close()
			t.Fatal("wrong password accepted")
		}
		if !strings.Contains(err.Error(), "Access denied") {
			t.Fatalf("unexpected error: %v", err)
		}
	})

	t.Run("root needs its password on the socket", func(t *testing.T) {
		c, err := client.ConnectWithContext(ctx, m.Socket, "root", "", "", 5*time.Second)
		if err == nil {
			c.Close()
			t.Fatal("root without password accepted")
		}
	})
}
