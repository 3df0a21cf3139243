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
	bin       string
	config    string
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
	s.bin, s.config = bin, cfgPath
	s.restart(t)
	t.Cleanup(s.stop)
	return s
}

// restart starts sshd (again) on the same address and files.
func (s *testSSHD) restart(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "-D", "-e", "-f", s.config)
	logf, err := os.OpenFile(filepath.Join(s.dir, "sshd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(s.dir, "sshd.log"))
			t.Fatalf("sshd did not start: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
