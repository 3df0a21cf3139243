package ssh

import (
	"bytes"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func randomFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d sent", path, len(got), len(want))
	}
}

func TestScpBothWays(t *testing.T) {
	g := startGateway(t)
	src := filepath.Join(g.dir, "up.bin")
	data := randomFile(t, src, 3<<20+17)
	remote := filepath.Join(g.remoteDir, "scp-remote.bin")
	_, port, _ := net.SplitHostPort(g.addr)
	args := append(portFlag(g.sshArgs(g.aliceKey), port, "-P"), src, "alice+web1@127.0.0.1:"+remote)
	if r := run(t, nil, "scp", args...); r.code != 0 {
		t.Fatalf("scp upload: %d %s", r.code, r.stderr)
	}
	sameFile(t, remote, data)
	back := filepath.Join(g.dir, "down.bin")
	args = append(portFlag(g.sshArgs(g.aliceKey), port, "-P"), "alice+web1@127.0.0.1:"+remote, back)
	if r := run(t, nil, "scp", args...); r.code != 0 {
		t.Fatalf("scp download: %d %s", r.code, r.stderr)
	}
	sameFile(t, back, data)
}

func TestSftpBatch(t *testing.T) {
	sftpBatchOn(t, startGateway(t))
}

// sftpBatchOn uploads, downloads and removes a file with sftp -b.
func sftpBatchOn(t *testing.T, g *testGateway) {
	src := filepath.Join(g.dir, "sftp-up.bin")
	data := randomFile(t, src, 1<<20+5)
	remote := filepath.Join(g.remoteDir, "sftp-remote.bin")
	back := filepath.Join(g.dir, "sftp-down.bin")
	batch := filepath.Join(g.dir, "batch")
	script := "put " + src + " " + remote + "\nget " + remote + " " + back + "\nrm " + remote + "\n"
	if err := os.WriteFile(batch, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(g.addr)
	args := append(portFlag(g.sshArgs(g.aliceKey), port, "-P"), "-b", batch, "alice+web1@127.0.0.1")
	if r := run(t, nil, "sftp", args...); r.code != 0 {
		t.Fatalf("sftp: %d %s", r.code, r.stderr)
	}
	sameFile(t, back, data)
	if _, err := os.Stat(remote); !os.IsNotExist(err) {
		t.Fatalf("sftp rm did not remove the remote file: %v", err)
	}
}

func TestRsyncOverGateway(t *testing.T) {
	g := startGateway(t)
	testenvBinary(t, "rsync")
	srcDir := filepath.Join(g.dir, "tree")
	if err := os.MkdirAll(filepath.Join(srcDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := randomFile(t, filepath.Join(srcDir, "a.bin"), 200<<10)
	b := randomFile(t, filepath.Join(srcDir, "sub", "b.bin"), 10)
	dst := filepath.Join(g.remoteDir, "rsync-dst")
	rsh := "ssh " + strings.Join(g.sshArgs(g.aliceKey), " ")
	if r := run(t, nil, "rsync", "-a", "-e", rsh, srcDir+"/", "alice+web1@127.0.0.1:"+dst+"/"); r.code != 0 {
		t.Fatalf("rsync: %d %s", r.code, r.stderr)
	}
	sameFile(t, filepath.Join(dst, "a.bin"), a)
	sameFile(t, filepath.Join(dst, "sub", "b.bin"), b)
}

func TestGitCloneOverGateway(t *testing.T) {
	gitCloneOn(t, startGateway(t))
}

// gitCloneOn clones a fresh upstream repository through the gateway.
func gitCloneOn(t *testing.T, g *testGateway) {
	repo := filepath.Join(g.remoteDir, "repo.git")
	work := filepath.Join(g.dir, "work")
	for _, c := range [][]string{
		{"git", "init", "-q", "--bare", repo},
		{"git", "init", "-q", work},
		{"git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "first"},
		{"git", "-C", work, "push", "-q", repo, "HEAD:refs/heads/main"},
		// The upstream user serves the repository: it must own it.
		{"chown", "-R", g.sshd.User, repo},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	clone := filepath.Join(g.dir, "clone")
	gitSSH := "ssh " + strings.Join(g.sshArgs(g.aliceKey), " ")
	r := run(t, []string{"GIT_SSH_COMMAND=" + gitSSH}, "git", "clone", "-q", "-b", "main", "alice+web1@127.0.0.1:"+repo, clone)
	if r.code != 0 {
		t.Fatalf("git clone: %d %s", r.code, r.stderr)
	}
	out, err := exec.Command("git", "-C", clone, "log", "--format=%s").Output()
	if err != nil || strings.TrimSpace(string(out)) != "first" {
		t.Fatalf("cloned log: %q %v", out, err)
	}
}

// portFlag rewrites ssh's "-p PORT" for scp/sftp, which spell it "-P".
func portFlag(args []string, port, flag string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == "-p" && i+1 < len(out) && out[i+1] == port {
			out[i] = flag
		}
	}
	return out
}

func testenvBinary(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is required: apt-get install -y %s", name, name)
	}
}
