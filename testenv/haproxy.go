package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// HAProxy is a running haproxy forwarding TCP to one upstream: a proxy
// that parses nothing, the floor any protocol-aware gateway on the same
// machine is measured against.
type HAProxy struct {
	Addr string
	Host string
	Port int
	Dir  string
	proc *proc
}

// StartHAProxy starts haproxy in TCP mode in front of upstream (host:port),
// with one thread (as pgbouncer has), in the foreground, logging nothing.
func StartHAProxy(ctx context.Context, upstream string) (_ *HAProxy, err error) {
	bin, err := LookBinary("haproxy", "haproxy")
	if err != nil {
		return nil, err
	}
	dir, err := makeDir("sluice-haproxy-", nil)
	if err != nil {
		return nil, err
	}
	h := &HAProxy{Host: "127.0.0.1", Dir: dir}
	defer func() {
		if err != nil {
			_ = h.Stop()
		}
	}()
	h.proc, err = startOnFreePort(ctx, "haproxy", syscall.SIGKILL, func(port int) (*proc, error) {
		h.Port = port
		h.Addr = net.JoinHostPort(h.Host, strconv.Itoa(port))
		cfg := fmt.Sprintf(`# written by sluice testenv
global
    nbthread 1
    maxconn 4000

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

listen db
    bind %s
    server upstream %s
`, h.Addr, upstream)
		cfgPath := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, fmt.Errorf("testenv: write haproxy.cfg: %w", err)
		}
		logPath := filepath.Join(dir, "haproxy.log")
		_ = os.Truncate(logPath, 0)
		return startProc(nil, baseEnv(dir), logPath, syscall.SIGTERM, bin, "-db", "-f", cfgPath)
	}, func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", h.Addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Pid is haproxy's process id (benchmarks read its CPU time).
func (h *HAProxy) Pid() int { return h.proc.Pid() }

// Stop stops haproxy and removes its directory.
func (h *HAProxy) Stop() error {
	var err error
	if h.proc != nil {
		err = h.proc.stop(syscall.SIGTERM, 10*time.Second)
	}
	if rmErr := os.RemoveAll(h.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("testenv: remove %s: %w", h.Dir, rmErr)
	}
	return err
}
