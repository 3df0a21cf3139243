package ssh

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/protocols/rawconn"
)

const (
	keepaliveInterval  = 15 * time.Second
	keepaliveMaxMissed = 3
)

// upstreamDialer holds one ssh target's upstream credentials: the gateway's
// keys (the target's, and its accounts', by file) and the known_hosts the
// upstream host key is checked against. There is no insecure default: key
// and known_hosts are required.
type upstreamDialer struct {
	target   *config.Target
	signers  map[string]gossh.Signer // by key file
	hostKeys gossh.HostKeyCallback
}

// hostKeyError marks a host key that known_hosts does not vouch for.
type hostKeyError struct{ err error }

func (e *hostKeyError) Error() string { return "upstream host key not trusted: " + e.err.Error() }
func (e *hostKeyError) Unwrap() error { return e.err }

func newUpstreamDialer(t *config.Target) (*upstreamDialer, error) {
	u := t.Upstream
	if u.User == "" {
		return nil, errors.New("upstream.user: required for an ssh target")
	}
	if u.KeyFile == "" {
		return nil, errors.New("upstream.key_file: required for an ssh target (the gateway's own key)")
	}
	if u.KnownHosts == "" {
		return nil, errors.New("upstream.known_hosts: required for an ssh target (the upstream host key is always checked)")
	}
	signers := map[string]gossh.Signer{}
	for _, f := range append([]string{u.KeyFile}, accountKeyFiles(u.Accounts)...) {
		if _, ok := signers[f]; ok {
			continue
		}
		kb, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("upstream.key_file: %w", err)
		}
		if signers[f], err = gossh.ParsePrivateKey(kb); err != nil {
			return nil, fmt.Errorf("upstream.key_file %s: %w", f, err)
		}
	}
	hk, err := knownhosts.New(u.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("upstream.known_hosts: %w", err)
	}
	return &upstreamDialer{target: t, signers: signers, hostKeys: hk}, nil
}

func accountKeyFiles(accounts []config.UpstreamAccount) []string {
	var files []string
	for _, a := range accounts {
		if a.KeyFile != "" {
			files = append(files, a.KeyFile)
		}
	}
	return files
}

// hostKeyAlgorithms lists the algorithms of the keys known_hosts holds for
// addr, so the server is asked for a key we can check rather than its
// favourite one (which known_hosts may not list, giving a false mismatch).
func (d *upstreamDialer) hostKeyAlgorithms(addr string) []string {
	probe := ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))
	pk, err := gossh.NewPublicKey(probe)
	if err != nil {
		return nil
	}
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(d.hostKeys(addr, tcp, pk), &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch k.Key.Type() {
		case gossh.KeyAlgoRSA:
			algos = append(algos, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		default:
			algos = append(algos, k.Key.Type())
		}
	}
	return algos
}

// dial connects and authenticates to the upstream as acct with the
// gateway's key for it.
func (d *upstreamDialer) dial(ctx context.Context, acct config.Account) (*gossh.Client, error) {
	signer, ok := d.signers[acct.KeyFile]
	if !ok {
		return nil, fmt.Errorf("no key loaded for upstream account %q", acct.User)
	}
	u := d.target.Upstream
	timeout := u.ConnectTimeout.Duration
	if timeout <= 0 {
		timeout = config.DefaultConnectTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(dctx, "tcp", u.Address)
	if err != nil {
		return nil, fmt.Errorf("dialing upstream %s: %w", u.Address, err)
	}
	conn = rawconn.Wrap(conn) // cheaper relay I/O; see package rawconn
	// The SSH handshake has no context: bound it with a deadline that the
	// dial context also cuts short.
	deadline, _ := dctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { _ = conn.SetDeadline(time.Now()) })
	cc := &gossh.ClientConfig{
		User: acct.User,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: func(host string, remote net.Addr, key gossh.PublicKey) error {
			if err := d.hostKeys(host, remote, key); err != nil {
				return &hostKeyError{err: err}
			}
			return nil
		},
		HostKeyAlgorithms: d.hostKeyAlgorithms(u.Address),
		ClientVersion:     "SSH-2.0-Sluice",
		Config:            gossh.Config{Ciphers: preferredCiphers},
		Timeout:           timeout,
	}
	sc, chans, reqs, err := gossh.NewClientConn(conn, u.Address, cc)
	stopped := stop()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh handshake with upstream %s: %w", u.Address, err)
	}
	if !stopped {
		// The context fired just as the handshake finished.
		sc.Close()
		return nil, fmt.Errorf("ssh handshake with upstream %s: %w", u.Address, dctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return gossh.NewClient(sc, chans, reqs), nil
}

// keepalive probes the upstream every interval and closes it after
// maxMissed unanswered probes, so a dead host ends the session instead of
// hanging it. It exits when ctx is done or the connection is closed.
func keepalive(ctx context.Context, c *gossh.Client, interval time.Duration, maxMissed int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		replied := make(chan error, 1) // buffered: the sender never blocks if we left
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		select {
		case err := <-replied:
			if err != nil {
				c.Close()
				return
			}
		case <-time.After(interval * time.Duration(maxMissed)):
			c.Close()
			return
		case <-ctx.Done():
			return
		}
	}
}
