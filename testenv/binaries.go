package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago. Another
// process may take it before it is used; servers here retry on bind errors.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as a "127.0.0.1:port" address.
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// MissingBinaryError names a binary that was not found and the Debian
// package that provides it.
type MissingBinaryError struct {
	Name, Package string
}

func (e *MissingBinaryError) Error() string {
	return fmt.Sprintf("testenv: %s not found: install it with `make test` or `apt-get install -y %s`", e.Name, e.Package)
}

// LookBinary finds name on PATH or in the sbin directories (sshd and
// mariadbd live there and root's PATH in containers often lacks them).
func LookBinary(name, debPackage string) (string, error) {
	if filepath.IsAbs(name) {
		if st, err := os.Stat(name); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return name, nil
		}
		return "", &MissingBinaryError{Name: name, Package: debPackage}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &MissingBinaryError{Name: name, Package: debPackage}
}

// RequireBinary returns the path of name or fails the test naming the
// Debian package to install. It never skips: a missing server is a broken
// environment, not a reason to pass.
func RequireBinary(tb testing.TB, name, debPackage string) string {
	tb.Helper()
	p, err := LookBinary(name, debPackage)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// postgresBinDir finds the newest /usr/lib/postgresql/*/bin with initdb,
// falling back to initdb on PATH.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major first: sort by the numeric version directory.
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", &MissingBinaryError{Name: "initdb (Postgres server)", Package: "postgresql"}
}
