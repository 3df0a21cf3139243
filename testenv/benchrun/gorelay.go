package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/sluice-gw/sluice/protocols/rawconn"
)

// The gorelay leg is a bare Go TCP relay: one goroutine per direction
// copying bytes, with the same rawconn sockets Sluice uses, parsing
// nothing. It is the floor for any Go proxy on this machine, so the
// table separates what Go's runtime costs (gorelay vs haproxy/pgbouncer)
// from what Sluice's own protocol work costs (sluice vs gorelay).
//
// It runs as a child process (benchrun re-executed with relayFlag) so its
// CPU time is measured alone, like every other proxy's.
const relayFlag = "-internal-gorelay"

// startGoRelay starts the relay child (leg "gorelay", or "goloop" for the
// event-loop relay in goloop.go) forwarding a free loopback port to
// upstream, and returns it with its address once it accepts connections.
func startGoRelay(ctx context.Context, leg, upstream string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", leg, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("%s: listen: %w", leg, err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return nil, "", fmt.Errorf("%s: listener fd: %w", leg, err)
	}
	defer f.Close()
	addr := ln.Addr().String()
	flag := relayFlag
	if leg == "goloop" {
		flag = loopFlag
	}
	cmd := exec.Command(self, flag, upstream)
	cmd.ExtraFiles = []*os.File{f} // fd 3 in the child
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("%s: start: %w", leg, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return cmd, addr, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, "", fmt.Errorf("%s: not accepting on %s: %w", leg, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopGoRelay kills the relay child and reaps it.
func stopGoRelay(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// runGoRelay is the child: it accepts on the inherited listener (fd 3) and
// relays each connection to upstream until killed.
func runGoRelay(upstream string) error {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fmt.Errorf("gorelay: inherited listener: %w", err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("gorelay: accept: %w", err)
		}
		go relayPair(c, upstream)
	}
}

func relayPair(c net.Conn, upstream string) {
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		c.Close()
		return
	}
	c, u = rawconn.Wrap(c), rawconn.Wrap(u)
	done := make(chan struct{})
	go func() {
		copyConn(u, c)
		close(done)
	}()
	copyConn(c, u)
	<-done
}

// copyConn copies src to dst until either side fails, then closes both
// (which also ends the opposite direction).
func copyConn(dst, src net.Conn) {
	buf := make([]byte, 16<<10)
	// The wrappers hide TCPConn.ReadFrom (splice), which would bypass
	// rawconn and measure a different I/O path than Sluice's.
	_, _ = io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf) // EOF or reset ends the pair either way
	dst.Close()
	src.Close()
}
