package postgres

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// cancelKey is what a client must present to cancel: the gateway's own
// BackendKeyData, never the upstream's.
type cancelKey struct {
	pid    uint32
	secret [4]byte
}

type upstreamKey struct {
	pid    uint32
	secret []byte
}

// cancelRegistry maps gateway-issued keys to upstream keys for live sessions.
type cancelRegistry struct {
	mu   sync.Mutex
	keys map[uint32]cancelEntry
}

type cancelEntry struct {
	secret [4]byte
	up     upstreamKey
}

// register issues a fresh gateway key for an upstream key.
func (r *cancelRegistry) register(up upstreamKey) (cancelKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[uint32]cancelEntry{}
	}
	for {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return cancelKey{}, err
		}
		k := cancelKey{pid: binary.BigEndian.Uint32(b[:4]) & 0x7fffffff}
		copy(k.secret[:], b[4:])
		if _, taken := r.keys[k.pid]; taken || k.pid == 0 {
			continue
		}
		r.keys[k.pid] = cancelEntry{secret: k.secret, up: up}
		return k, nil
	}
}

func (r *cancelRegistry) unregister(k cancelKey) {
	r.mu.Lock()
	delete(r.keys, k.pid)
	r.mu.Unlock()
}

// lookup returns the upstream key when pid and secret match a live session.
func (r *cancelRegistry) lookup(pid uint32, secret []byte) (upstreamKey, bool) {
	r.mu.Lock()
	e, ok := r.keys[pid]
	r.mu.Unlock()
	if !ok || len(secret) != 4 || subtle.ConstantTimeCompare(secret, e.secret[:]) != 1 {
		return upstreamKey{}, false
	}
	return e.up, true
}

// forwardCancel sends a CancelRequest with the upstream key to the target.
// Like Postgres, nothing is answered to the client either way.
func (e *Engine) forwardCancel(ctx context.Context, cr *pgproto3.CancelRequest) error {
	up, ok := e.cancels.lookup(cr.ProcessID, cr.SecretKey)
	if !ok {
		return fmt.Errorf("cancel request for unknown key (pid %d)", cr.ProcessID)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.target.Upstream.Address)
	if err != nil {
		return fmt.Errorf("dialing upstream for cancel: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var c net.Conn = conn
	if e.dialer.tls != nil {
		var req [8]byte
		binary.BigEndian.PutUint32(req[:4], 8)
		binary.BigEndian.PutUint32(req[4:], sslRequestCode)
		if _, err := conn.Write(req[:]); err != nil {
			return err
		}
		var resp [1]byte
		if _, err := conn.Read(resp[:]); err != nil {
			return err
		}
		if resp[0] != 'S' {
			return fmt.Errorf("upstream refused TLS for cancel")
		}
		tc := tls.Client(conn, e.dialer.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		c = tc
	}
	msg, err := (&pgproto3.CancelRequest{ProcessID: up.pid, SecretKey: up.secret}).Encode(nil)
	if err != nil {
		return err
	}
	if _, err := c.Write(msg); err != nil {
		return err
	}
	// The server closes the connection once it has processed the request.
	var sink [1]byte
	c.Read(sink[:])
	return nil
}
