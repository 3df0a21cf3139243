package ssh

// A real OpenSSH sshd for these tests, started from the machine's binary.
// testenv does not start sshd yet; when it does, this file gives way to it.

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/sluice-gw/sluice/testenv"
)

type testSSHD struct {
	addr      string
	dir       string
	hostKey   gossh.PublicKey
	clientKey string // private key file the gateway uses upstream
	cmd       *exec.Cmd
}

// writeKey generates an ed25519 key pair, writes the private key to path
// (0600) and returns the public key.
func writeKey(t *testing.T, path string) gossh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pk, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(pk), 0o644); err != nil {
		t.Fatal(err)
	}
	return pk
}

func startSSHD(t *testing.T) *testSSHD {
	t.Helper()
	bin := testenv.RequireBinary(t, "sshd", "openssh-server")
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &testSSHD{dir: dir}
	s.hostKey = writeKey(t, filepath.Join(dir, "host_key"))
	s.clientKey = filepath.Join(dir, "gateway_key")
	gwPub := writeKey(t, s.clientKey)
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), gossh.MarshalAuthorizedKey(gwPub), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s.addr = addr
	host, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf(`ListenAddress %s
Port %s
HostKey %s
AuthorizedKeysFile %s
PidFile %s
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AcceptEnv LANG LC_* EVIL
AllowTcpForwarding yes
Subsystem sftp internal-sftp
LogLevel ERROR
`, host, port, filepath.Join(dir, "host_key"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"))
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "-D", "-e", "-f", cfgPath)
	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(); logf.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Fatalf("sshd did not start: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

func (s *testSSHD) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
		s.cmd = nil
	}
}

// knownHostsLine is the known_hosts entry for this sshd.
func (s *testSSHD) knownHostsLine() string {
	host, port, _ := net.SplitHostPort(s.addr)
	return fmt.Sprintf("[%s]:%s %s", host, port, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.hostKey))))
}

func marshalAuthorized(k gossh.PublicKey) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
}
