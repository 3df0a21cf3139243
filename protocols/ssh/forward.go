package ssh

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// forwardTCP serves a direct-tcpip channel (ssh -L, ssh -W). The policy
// must allow the destination (policy rules with `forward:`); the upstream
// host then opens the connection, as it would without the gateway, and the
// gateway relays the bytes, recording the connection (destination, bytes
// each way, duration) rather than its content.
func (c *clientConn) forwardTCP(ctx context.Context, nc gossh.NewChannel) {
	dest := directTCPIPDest(nc.ExtraData())
	if c.upstream == nil || dest == "(malformed)" {
		c.logEvent("direct-tcpip", map[string]any{"destination": dest, "decision": "block", "rule": "no-forwarding"})
		_ = nc.Reject(gossh.Prohibited, msgForwardingDenied)
		return
	}
	if v := c.judgeForward(ctx, dest); !v.allowed {
		_ = nc.Reject(gossh.Prohibited, strings.TrimSpace(v.message))
		return
	}
	up, err := c.upstream.Dial("tcp", dest)
	if err != nil {
		c.logEvent("direct-tcpip-failed", map[string]any{"destination": dest, "error": err.Error()})
		_ = nc.Reject(gossh.ConnectionFailed, "sluice: the target could not connect to "+dest)
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		up.Close()
		return
	}
	go gossh.DiscardRequests(reqs)
	stop := context.AfterFunc(ctx, func() { ch.Close(); up.Close() })
	defer stop()

	start := time.Now()
	var toUp, toClient int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		toUp, _ = io.Copy(up, ch)
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			up.Close()
		}
	}()
	go func() {
		defer wg.Done()
		toClient, _ = io.Copy(ch, up)
		ch.CloseWrite()
	}()
	wg.Wait()
	ch.Close()
	up.Close()
	c.countBytes("in", int(toUp))
	c.countBytes("out", int(toClient))
	c.logEvent("direct-tcpip-closed", map[string]any{"destination": dest, "bytes_in": toUp, "bytes_out": toClient,
		"duration_ms": time.Since(start).Milliseconds()})
}
