package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runAs is the unprivileged account a server runs under when the test runs
// as root (initdb and postgres refuse root; pgbouncer too).
type runAs struct {
	uid, gid uint32
	name     string
	home     string
}

// credential returns the SysProcAttr credential, or nil when no switch is
// needed (the test is not root).
func (r *runAs) credential() *syscall.Credential {
	if r == nil {
		return nil
	}
	return &syscall.Credential{Uid: r.uid, Gid: r.gid, Groups: []uint32{}}
}

// unprivileged returns the account to run servers as: nil when we are not
// root (servers then run as ourselves), else the named system user,
// created when missing.
func unprivileged(name string) (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("testenv: look up user %s: %w", name, err)
		}
		out, cerr := exec.Command("useradd", "--system", "--create-home", "--shell", "/bin/bash", name).CombinedOutput()
		// A parallel test binary may have created it first: look again either way.
		if u, err = user.Lookup(name); err != nil {
			if cerr != nil {
				return nil, fmt.Errorf("testenv: useradd %s: %w: %s", name, cerr, bytes.TrimSpace(out))
			}
			return nil, fmt.Errorf("testenv: look up created user %s: %w", name, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("testenv: uid of %s: %w", name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("testenv: gid of %s: %w", name, err)
	}
	return &runAs{uid: uint32(uid), gid: uint32(gid), name: name, home: u.HomeDir}, nil
}

// chownTree gives every file under dir to r (no-op when r is nil).
func chownTree(dir string, r *runAs) error {
	if r == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(r.uid), int(r.gid))
	})
}

// makeDir creates a private temp dir directly under the system temp dir
// (not t.TempDir: its 0700 parents would lock the unprivileged server out).
func makeDir(prefix string, r *runAs) (string, error) {
	reapStale()
	parent := os.TempDir()
	if st, err := os.Stat(parent); r != nil && (err != nil || st.Mode().Perm()&0o001 == 0) {
		parent = "/tmp" // a private TMPDIR would lock the server user out
	}
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return "", fmt.Errorf("testenv: temp dir: %w", err)
	}
	if err := chownTree(dir, r); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("testenv: chown %s: %w", dir, err)
	}
	return dir, nil
}

// runCmd runs a short setup command (initdb, install-db) to completion and
// returns its combined output in the error when it fails.
func runCmd(ctx context.Context, r *runAs, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.credential()}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testenv: %s failed: %w\n%s", filepath.Base(name), err, tail(out, 40))
	}
	return nil
}

// proc is a long-running server process. Its log goes to a file; a waiter
// goroutine (owned by proc, exits when the process does) records the exit.
type proc struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
}

// startProc starts name with output to logPath. The process lives until
// stop is called, not until ctx ends: ctx only bounds the start-up phase of
// the callers. deathSig is delivered if the test binary dies without
// calling Stop, so no server outlives a crashed test run.
func startProc(r *runAs, env []string, logPath string, deathSig syscall.Signal, name string, args ...string) (*proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testenv: open log: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: r.credential(),
		Setpgid:    true,
		Pdeathsig:  deathSig,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", filepath.Base(name), err)
	}
	p := &proc{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has already exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace, then kills the whole process group.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("testenv: signal %s: %w", filepath.Base(p.cmd.Path), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("testenv: %s did not stop within %s; killed", filepath.Base(p.cmd.Path), grace)
}

// logTail returns the last lines of the server log, for start-up errors.
func (p *proc) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(data, 30)
}

// waitReady polls ready until it succeeds, the process exits, or ctx ends.
func (p *proc) waitReady(ctx context.Context, what string, ready func(context.Context) error) error {
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(attempt)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("testenv: %s exited during start-up (%v); log tail:\n%s", what, p.waitErr, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("testenv: %s not ready: %w (last error: %v); log tail:\n%s", what, ctx.Err(), last, p.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// readTail is tail for a file that may not exist.
func readTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return tail(data, n)
}

// baseEnv is the environment every server gets: nothing inherited, so a
// developer's PGHOST or MYSQL_PWD cannot leak into the fixture.
func baseEnv(home string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
	}
}

// CPUTime is the user+system CPU time a process and its reaped children
// have used so far, read from /proc (Linux). Benchmarks divide it by the
// work done to report CPU per transaction, a figure that holds on a noisy
// machine better than throughput does.
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("testenv: cpu time of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: fields count from after ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("testenv: cpu time of %d: malformed stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// After ')': state(3) ... utime(14) stime(15) cutime(16) cstime(17).
	if len(f) < 15 {
		return 0, fmt.Errorf("testenv: cpu time of %d: short stat", pid)
	}
	var ticks uint64
	for _, s := range f[11:15] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("testenv: cpu time of %d: %w", pid, err)
		}
		ticks += v
	}
	const clockTicks = 100 // USER_HZ on every Linux we run on
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// Pid is the process id, 0 when not running.
func (p *proc) Pid() int {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// startOnFreePort starts a server on a port FreePort picked and waits until
// ready succeeds. FreePort's port can be taken by another process before
// the server binds it, so a start-up that failed that way is retried on a
// new port (three tries in all). launch starts the process for a port (and
// records the port where its caller keeps it); a failed attempt's process
// is stopped with stopSig.
func startOnFreePort(ctx context.Context, what string, stopSig syscall.Signal,
	launch func(port int) (*proc, error), ready func(context.Context) error) (*proc, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		p, err := launch(port)
		if err != nil {
			return nil, err
		}
		if lastErr = p.waitReady(ctx, what, ready); lastErr == nil {
			return p, nil
		}
		_ = p.stop(stopSig, 5*time.Second)
		if !portTaken(lastErr) {
			return nil, lastErr
		}
	}
	return nil, lastErr
}

// portTaken reports whether a start-up failure (whose text carries the
// server's log tail) says the port was already bound.
func portTaken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "in use") || strings.Contains(s, "Cannot bind")
}
