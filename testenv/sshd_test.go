package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestSSHD(t *testing.T) {
	sshBin := RequireBinary(t, "ssh", "openssh-client")
	s := SSHDForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := s.User + "@127.0.0.1"

	t.Run("ssh CLI with strict host key checking", func(t *testing.T) {
		args := append(s.SSHArgs(), target, "echo hello; id -un")
		out, err := exec.CommandContext(ctx, sshBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh: %v\n%s\nsshd log:\n%s", err, out, readTail(s.LogPath, 20))
		}
		if got, want := string(out), "hello\n"+s.User+"\n"; got != want {
			t.Fatalf("ssh output %q, want %q", got, want)
		}
	})

	t.Run("wrong host key refused", func(t *testing.T) {
		other := SSHD{Dir: t.TempDir(), User: s.User}
		if err := other.writeKeys(); err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(bad, []byte("[127.0.0.1]:"+itoa(s.Port)+" "+other.HostPublicKey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// ssh keeps the first value given for an option: ours goes before the defaults.
		args := append([]string{"-o", "UserKnownHostsFile=" + bad}, s.SSHArgs()...)
		args = append(args, target, "true")
		out, err := exec.CommandContext(ctx, sshBin, args...).CombinedOutput()
		if err == nil {
			t.Fatal("ssh accepted a host key that is not in known_hosts")
		}
		if !strings.Contains(string(out), "HOST IDENTIFICATION HAS CHANGED") && !strings.Contains(string(out), "Host key verification failed") {
			t.Fatalf("unexpected ssh failure: %s", out)
		}
	})

	t.Run("wrong client key refused", func(t *testing.T) {
		other := SSHD{Dir: t.TempDir(), User: s.User}
		if err := other.writeKeys(); err != nil {
			t.Fatal(err)
		}
		cfg := s.ClientConfig()
		cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(other.Signer)}
		if c, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
			c.Close()
			t.Fatal("unauthorised key accepted")
		}
	})

	t.Run("go client and sftp subsystem", func(t *testing.T) {
		c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := sess.Output("echo $HOME")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(out)) != s.HomeDir {
			t.Fatalf("HOME = %q, want %q", out, s.HomeDir)
		}
		sftpBin := RequireBinary(t, "sftp", "openssh-client")
		local := filepath.Join(t.TempDir(), "payload.txt")
		if err := os.WriteFile(local, []byte("sluice sftp payload\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		back := local + ".back"
		batch := "put " + local + " payload.txt\nget payload.txt " + back + "\nrm payload.txt\n"
		args := append([]string{"-P", itoa(s.Port)}, s.CommonArgs()...)
		args = append(args, "-b", "-", target)
		cmd := exec.CommandContext(ctx, sftpBin, args...)
		cmd.Stdin = strings.NewReader(batch)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sftp: %v\n%s", err, out)
		}
		got, err := os.ReadFile(back)
		if err != nil || string(got) != "sluice sftp payload\n" {
			t.Fatalf("sftp round trip: %q, %v", got, err)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
