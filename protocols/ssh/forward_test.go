package ssh

import (
	"bufio"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPortForwardingAllowedByPolicy: `ssh -W localhost:PORT` through the
// gateway reaches a server on the upstream host when a `forward` rule
// allows the destination, and the connection is recorded (not its bytes).
func TestPortForwardingAllowedByPolicy(t *testing.T) {
	g := startGateway(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	args := append(g.sshArgs(g.aliceKey), "-W", "localhost:"+port, "alice+web1@127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", args...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "ping through sluice\n")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ping through sluice\n" {
		t.Fatalf("echo through the forward: %q %v (stderr %q)", line, err, stderr.String())
	}
	stdin.Close()
	cmd.Wait()

	// The decision and the connection are in the session's events.
	rec := g.closedSession(t, "web1")
	_, events := g.recordFiles(t, rec)
	if !hasEvent(events, "direct-tcpip", "decision", "allow") || !hasEvent(events, "direct-tcpip-closed", "bytes_in", float64(20)) {
		t.Fatalf("events lack the allowed forward and its byte count: %+v", events)
	}
}
