package testenv

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDOptions tunes StartSSHD. The zero value is a good default.
type SSHDOptions struct {
	// User is the account clients log in as (default "sluicetest", created
	// with a home dir and /bin/bash when missing). Ignored when not root:
	// an unprivileged sshd can only log in its own user.
	User string
	// ExtraConfig lines are appended to sshd_config.
	ExtraConfig []string
}

// SSHD is a running OpenSSH server.
type SSHD struct {
	Addr string // 127.0.0.1:port
	Host string
	Port int
	Dir  string // temp dir: host key, sshd_config, authorized_keys, client key, sshd.log

	User    string // account the client key logs in as
	HomeDir string
	KeyPath string // the user's private key (OpenSSH format, 0600)
	// Signer is the same key for Go clients.
	Signer ssh.Signer
	// AuthorizedKey is the user's public key line.
	AuthorizedKey string

	HostKey        ssh.PublicKey
	HostPublicKey  string // "ssh-ed25519 AAAA..."
	KnownHostsLine string // "[127.0.0.1]:port ssh-ed25519 AAAA..."
	KnownHostsFile string // file holding KnownHostsLine

	LogPath string
	proc    *proc
}

// SSHDForTest starts sshd for tb and stops it on cleanup; it fails (never
// skips) when openssh-server is not installed.
func SSHDForTest(tb testing.TB) *SSHD {
	tb.Helper()
	return forTest(tb, "sshd", time.Minute, func(ctx context.Context) (*SSHD, error) { return StartSSHD(ctx, SSHDOptions{}) })
}

// StartSSHD starts /usr/sbin/sshd with its own config, host key and an
// ed25519 client key authorised for the test user. ctx bounds start-up only.
func StartSSHD(ctx context.Context, opts SSHDOptions) (_ *SSHD, err error) {
	sshd, err := LookBinary("sshd", "openssh-server")
	if err != nil {
		return nil, err
	}
	loginUser, home, err := sshLoginUser(opts.User)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// Privilege separation needs this directory (normally made by systemd).
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("testenv: create /run/sshd: %w", err)
		}
	}
	reapStale()
	dir, err := os.MkdirTemp("", "sluice-sshd-")
	if err != nil {
		return nil, fmt.Errorf("testenv: temp dir: %w", err)
	}
	s := &SSHD{Host: "127.0.0.1", Dir: dir, User: loginUser, HomeDir: home, LogPath: filepath.Join(dir, "sshd.log")}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	// sshd reads authorized_keys as the login user: the dir must be traversable.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("testenv: chmod %s: %w", dir, err)
	}
	if err := s.writeKeys(); err != nil {
		return nil, err
	}
	if err := s.start(ctx, sshd, opts.ExtraConfig); err != nil {
		return nil, err
	}
	return s, nil
}

// sshLoginUser is the account clients log in as.
func sshLoginUser(name string) (login, home string, err error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return "", "", fmt.Errorf("testenv: current user: %w", err)
		}
		return u.Username, u.HomeDir, nil
	}
	if name == "" {
		name = "sluicetest"
	}
	r, err := unprivileged(name)
	if err != nil {
		return "", "", err
	}
	if err := unlockAccount(name); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(r.home, 0o755); err != nil {
		return "", "", fmt.Errorf("testenv: home of %s: %w", name, err)
	}
	if err := os.Chown(r.home, int(r.uid), int(r.gid)); err != nil {
		return "", "", fmt.Errorf("testenv: chown home of %s: %w", name, err)
	}
	return r.name, r.home, nil
}

// unlockAccount replaces a locked password field ("!", as useradd leaves
// it) with "*": still no password login, but sshd without PAM treats "!"
// as a locked account and refuses even key logins.
func unlockAccount(name string) error {
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return fmt.Errorf("testenv: read /etc/shadow: %w", err)
	}
	for _, line := range strings.Split(string(shadow), "\n") {
		fields := strings.SplitN(line, ":", 3)
		if len(fields) < 2 || fields[0] != name {
			continue
		}
		if !strings.HasPrefix(fields[1], "!") {
			return nil
		}
		if out, err := exec.Command("usermod", "-p", "*", name).CombinedOutput(); err != nil {
			return fmt.Errorf("testenv: unlock %s: %w: %s", name, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	return nil
}

// writeKeys creates the host key and the client key pair.
func (s *SSHD) writeKeys() error {
	hostPub, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("testenv: generate host key: %w", err)
	}
	if err := writePrivateKey(filepath.Join(s.Dir, "ssh_host_ed25519_key"), hostPriv, "sluice-testenv-host"); err != nil {
		return err
	}
	if s.HostKey, err = ssh.NewPublicKey(hostPub); err != nil {
		return fmt.Errorf("testenv: host public key: %w", err)
	}
	s.HostPublicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))

	_, userPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("testenv: generate user key: %w", err)
	}
	s.KeyPath = filepath.Join(s.Dir, "id_ed25519")
	if err := writePrivateKey(s.KeyPath, userPriv, s.User+"@sluice-testenv"); err != nil {
		return err
	}
	if s.Signer, err = ssh.NewSignerFromKey(userPriv); err != nil {
		return fmt.Errorf("testenv: user signer: %w", err)
	}
	s.AuthorizedKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.Signer.PublicKey())))
	if err := os.WriteFile(s.KeyPath+".pub", []byte(s.AuthorizedKey+"\n"), 0o644); err != nil {
		return fmt.Errorf("testenv: write public key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), []byte(s.AuthorizedKey+"\n"), 0o644); err != nil {
		return fmt.Errorf("testenv: write authorized_keys: %w", err)
	}
	return nil
}

func writePrivateKey(path string, key ed25519.PrivateKey, comment string) error {
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return fmt.Errorf("testenv: encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("testenv: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

func (s *SSHD) config(port int, extra []string) string {
	lines := []string{
		"# written by sluice testenv",
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(s.Dir, "ssh_host_ed25519_key"),
		"PidFile " + filepath.Join(s.Dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(s.Dir, "authorized_keys"),
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"StrictModes no",
		"PermitRootLogin no",
		"AllowUsers " + s.User,
		"Subsystem sftp internal-sftp",
		"AllowTcpForwarding yes",
		"X11Forwarding no",
		"PrintMotd no",
		"PrintLastLog no",
		"AcceptEnv LANG LC_* SLUICE_*",
		"LogLevel VERBOSE",
		// Load tests open hundreds of sessions at once.
		"MaxStartups 1000:30:2000",
		"MaxSessions 1000",
	}
	lines = append(lines, extra...)
	return strings.Join(lines, "\n") + "\n"
}

func (s *SSHD) start(ctx context.Context, sshd string, extra []string) error {
	var err error
	s.proc, err = startOnFreePort(ctx, "sshd", syscall.SIGKILL, func(port int) (*proc, error) {
		s.Port = port
		s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
		cfgPath := filepath.Join(s.Dir, "sshd_config")
		if err := os.WriteFile(cfgPath, []byte(s.config(port, extra)), 0o644); err != nil {
			return nil, fmt.Errorf("testenv: write sshd_config: %w", err)
		}
		_ = os.Truncate(s.LogPath, 0)
		// -D: stay in the foreground (we own the process); -e: log to stderr (our log file).
		return startProc(nil, baseEnv(s.Dir), s.LogPath, syscall.SIGTERM, sshd, "-D", "-e", "-f", cfgPath)
	}, func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", s.Addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		banner, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(banner, "SSH-2.0-") {
			return fmt.Errorf("unexpected banner %q", banner)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.KnownHostsLine = knownhosts.Line([]string{s.Addr}, s.HostKey)
	s.KnownHostsFile = filepath.Join(s.Dir, "known_hosts")
	if err := os.WriteFile(s.KnownHostsFile, []byte(s.KnownHostsLine+"\n"), 0o644); err != nil {
		return fmt.Errorf("testenv: write known_hosts: %w", err)
	}
	return nil
}

// ClientConfig is an x/crypto/ssh client config that logs in with the test
// key and accepts only this server's host key.
func (s *SSHD) ClientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         10 * time.Second,
	}
}

// SSHArgs are OpenSSH client options (for ssh; scp and sftp take -P for
// the port) that log in with the test key and check the host key strictly.
// Follow them with user@127.0.0.1 and the command.
func (s *SSHD) SSHArgs() []string {
	return append([]string{"-p", strconv.Itoa(s.Port)}, s.CommonArgs()...)
}

// CommonArgs are the options ssh, scp and sftp share: no user config, only
// our key, strict host key checking against KnownHostsFile, never a prompt.
func (s *SSHD) CommonArgs() []string {
	return []string{
		"-F", "/dev/null",
		"-i", s.KeyPath,
		"-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + s.KnownHostsFile,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR",
	}
}

// Stop stops sshd and removes its directory. Sessions already forked keep
// running until their clients leave; tests close their clients first.
func (s *SSHD) Stop() error {
	var err error
	if s.proc != nil {
		err = s.proc.stop(syscall.SIGTERM, 10*time.Second)
	}
	if rmErr := os.RemoveAll(s.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("testenv: remove %s: %w", s.Dir, rmErr)
	}
	return err
}
