package mysql

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/testenv"
)

// runCLI runs the real mariadb client through the gateway and returns
// stdout, stderr and the exit code.
func (g *testGateway) runCLI(t *testing.T, user, token string, extra []string, sql string) (string, string, int) {
	t.Helper()
	bin := testenv.RequireBinary(t, "mariadb", "mariadb-client")
	host, port, _ := strings.Cut(g.addr, ":")
	args := append([]string{"--no-defaults", "--protocol=TCP", "-h", host, "-P", port, "-u", user, "--batch"}, extra...)
	args = append(args, "-e", sql, mdb.Database)
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"MYSQL_PWD=" + token, "HOME=" + t.TempDir()}
	out, errOut, code, err := testenv.RunClient(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out, errOut, code
}

func TestMariaDBCLI(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	for _, tls := range [][]string{{"--skip-ssl"}, {"--ssl", "--skip-ssl-verify-server-cert"}} {
		out, errOut, code := g.runCLI(t, "alice", aliceToken, tls, "SELECT name, email FROM users ORDER BY id; SELECT COUNT(*) AS n FROM orders")
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tls, code, errOut)
		}
		if !strings.Contains(out, "Ada\t") || !strings.Contains(out, "n\n3") {
			t.Fatalf("%v: output:\n%s", tls, out)
		}
	}
	// Status over TLS shows the cipher: the client really negotiated TLS.
	out, errOut, code := g.runCLI(t, "alice", aliceToken, []string{"--ssl", "--skip-ssl-verify-server-cert"}, "status")
	if code != 0 || !strings.Contains(out, "Cipher in use") {
		t.Fatalf("status over TLS: exit %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = g.runCLI(t, "alice", "nope", []string{"--skip-ssl"}, "SELECT 1")
	if code == 0 || !strings.Contains(errOut, "1045") {
		t.Fatalf("wrong token: exit %d: %s", code, errOut)
	}
	// A client that insists on mysql_native_password: verified against the
	// configured token; a hash-only identity is switched to caching_sha2
	// full authentication instead.
	native := []string{"--default-auth=mysql_native_password", "--ssl", "--skip-ssl-verify-server-cert"}
	if _, errOut, code := g.runCLI(t, "alice", aliceToken, native, "SELECT 1"); code != 0 {
		t.Fatalf("native password: exit %d: %s", code, errOut)
	}
	if _, errOut, code := g.runCLI(t, "alice", "wrong", native, "SELECT 1"); code == 0 || !strings.Contains(errOut, "1045") {
		t.Fatalf("native password, wrong token: exit %d: %s", code, errOut)
	}
	if _, errOut, code := g.runCLI(t, "bob", bobToken, native, "SELECT 1"); code != 0 {
		t.Fatalf("native password for a hash-only identity: exit %d: %s", code, errOut)
	}
	// mysql_clear_password is honoured inside TLS only; outside, the client
	// is switched to caching_sha2 (and this CLI then cannot log in).
	clear := []string{"--default-auth=mysql_clear_password", "--enable-cleartext-plugin"}
	if _, errOut, code := g.runCLI(t, "bob", bobToken, append(clear, "--ssl", "--skip-ssl-verify-server-cert"), "SELECT 1"); code != 0 {
		t.Fatalf("clear password inside TLS: exit %d: %s", code, errOut)
	}
	// Only the clear token gets a hash-only identity in; inside TLS it may.
	_, errOut, code = g.runCLI(t, "bob", bobToken, []string{"--ssl", "--skip-ssl-verify-server-cert"}, "SELECT 1")
	if code != 0 {
		t.Fatalf("bob over TLS: exit %d: %s", code, errOut)
	}
}

// jsonLines decodes a client script's output.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("client output %q: %v", line, err)
		}
		res = append(res, m)
	}
	return res
}

func (g *testGateway) runNode(t *testing.T, ssl bool, mode string, stmts ...string) []map[string]any {
	t.Helper()
	env := map[string]string{"SLUICE_MYSQL_URL": "mysql://alice:" + aliceToken + "@" + g.addr + "/" + mdb.Database}
	if ssl {
		env["SLUICE_MYSQL_SSL"] = "1"
	}
	script := filepath.Join(testenv.ClientsDir(), "mysql_client.js")
	return jsonLines(t, testenv.RunNode(t, "", script, env, append([]string{mode}, stmts...)...))
}

func (g *testGateway) runPython(t *testing.T, user, token, mode string, stmts ...string) []map[string]any {
	t.Helper()
	host, port, _ := strings.Cut(g.addr, ":")
	env := map[string]string{"SLUICE_MYSQL_HOST": host, "SLUICE_MYSQL_PORT": port, "SLUICE_MYSQL_USER": user,
		"SLUICE_MYSQL_PASSWORD": token, "SLUICE_MYSQL_DB": mdb.Database}
	script := filepath.Join(testenv.ClientsDir(), "mysql_client.py")
	return jsonLines(t, testenv.RunPython(t, script, env, append([]string{mode}, stmts...)...))
}

func TestNodeMySQL2(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	for _, ssl := range []bool{false, true} {
		for _, mode := range []string{"query", "execute"} {
			res := g.runNode(t, ssl, mode, "SELECT id, name, born, balance FROM users ORDER BY id", "SELECT nosuchcol FROM users")
			rows, _ := res[0]["rows"].([]any)
			if len(rows) != 2 {
				t.Fatalf("ssl=%v %s: %v", ssl, mode, res[0])
			}
			first := rows[0].(map[string]any)
			if first["name"] != "Ada" || first["born"] != "1990-01-02" || first["balance"] != "10.25" {
				t.Fatalf("ssl=%v %s: first row %v", ssl, mode, first)
			}
			if res[1]["errno"] != float64(1054) {
				t.Fatalf("ssl=%v %s: error line %v", ssl, mode, res[1])
			}
		}
	}
}

func TestPyMySQL(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	for _, mode := range []string{"query", "ssl"} {
		res := g.runPython(t, "alice", aliceToken, mode, "SELECT id, email FROM users ORDER BY id", "SELECT 1/0, 'x'")
		rows, _ := res[0]["rows"].([]any)
		if len(rows) != 2 || rows[1].([]any)[1] != "bo@example.com" {
			t.Fatalf("%s: %v", mode, res[0])
		}
	}
	// A hash-only identity over TLS: full auth with the clear token.
	res := g.runPython(t, "bob", bobToken, "ssl", "SELECT CURRENT_USER()")
	if rows, _ := res[0]["rows"].([]any); len(rows) != 1 || !strings.HasPrefix(rows[0].([]any)[0].(string), mdb.User+"@") {
		t.Fatalf("bob: %v (%s)", res[0], strconv.Quote(mdb.User))
	}
}
