package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// SystemPython is Debian's interpreter, which has python3-psycopg2 and
// python3-pymysql; a pyenv python3 earlier on PATH has neither.
const SystemPython = "/usr/bin/python3"

// clientRunTimeout bounds one client script so a hung client fails the
// test with its output instead of eating the whole test timeout.
const clientRunTimeout = 5 * time.Minute

// ClientsDir is testenv/clients in the source tree: package.json,
// package-lock.json and (after `npm ci`) node_modules for the Node clients.
func ClientsDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("testenv", "clients")
	}
	return filepath.Join(filepath.Dir(file), "clients")
}

// NodeCommand prepares `node script args...` run in dir (ClientsDir when
// dir is ""), with testenv/clients/node_modules on NODE_PATH so CommonJS
// scripts anywhere can require('pg') and require('mysql2'). It fails the
// test when node or the node_modules are missing.
func NodeCommand(tb testing.TB, dir, script string, env map[string]string, args ...string) *exec.Cmd {
	tb.Helper()
	node := RequireBinary(tb, "node", "nodejs")
	modules := filepath.Join(ClientsDir(), "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "pg")); err != nil {
		tb.Fatalf("testenv: %s has no node clients: run `make test` (it runs `npm ci` in %s)", modules, ClientsDir())
	}
	if dir == "" {
		dir = ClientsDir()
	}
	cmd := exec.Command(node, append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = clientEnv(env, "NODE_PATH="+modules)
	return cmd
}

// RunNode runs a Node script (see NodeCommand) and returns its stdout. A
// non-zero exit fails the test with stdout and stderr.
func RunNode(tb testing.TB, dir, script string, env map[string]string, args ...string) string {
	tb.Helper()
	return runClient(tb, NodeCommand(tb, dir, script, env, args...))
}

// PythonCommand prepares `/usr/bin/python3 script args...` in the current
// directory with env added to a cleaned environment.
func PythonCommand(tb testing.TB, script string, env map[string]string, args ...string) *exec.Cmd {
	tb.Helper()
	py := RequireBinary(tb, SystemPython, "python3")
	cmd := exec.Command(py, append([]string{script}, args...)...)
	cmd.Env = clientEnv(env)
	return cmd
}

// RunPython runs a Python script with Debian's python3 (which has psycopg2
// and pymysql) and returns its stdout; a non-zero exit fails the test.
func RunPython(tb testing.TB, script string, env map[string]string, args ...string) string {
	tb.Helper()
	return runClient(tb, PythonCommand(tb, script, env, args...))
}

// RunClient runs a prepared client command with the standard timeout and
// returns stdout, stderr and the exit code (-1 when it did not exit
// normally), for tests that expect a client to fail.
func RunClient(cmd *exec.Cmd) (stdout, stderr string, exitCode int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), clientRunTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// A grandchild holding our pipes must not hang the test.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", "", -1, fmt.Errorf("testenv: start %s: %w", filepath.Base(cmd.Path), err)
	}
	waited := make(chan error, 1) // buffered: the waiter never blocks if we leave
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		err = fmt.Errorf("testenv: %s timed out after %s: %w", filepath.Base(cmd.Path), clientRunTimeout, <-waited)
	}
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if code >= 0 {
		err = nil // a non-zero exit is a result, not a run error
	}
	return out.String(), errOut.String(), code, err
}

func runClient(tb testing.TB, cmd *exec.Cmd) string {
	tb.Helper()
	stdout, stderr, code, err := RunClient(cmd)
	if err != nil || code != 0 {
		tb.Fatalf("%s failed (exit %d, %v)\nstdout:\n%s\nstderr:\n%s",
			strings.Join(cmd.Args, " "), code, err, stdout, stderr)
	}
	return stdout
}

// clientEnv is our environment minus variables that would redirect the
// clients (pyenv's PYTHONPATH, a developer's PGHOST or MYSQL_PWD), plus
// env (sorted, for reproducible command lines in failures).
func clientEnv(env map[string]string, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PG") || strings.HasPrefix(name, "MYSQL") ||
			strings.HasPrefix(name, "PYTHON") || name == "NODE_PATH" || name == "NODE_OPTIONS" {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, extra...)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}
