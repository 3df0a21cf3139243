package ssh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/identity"
)

func TestExecRelaysOutputAndExitStatus(t *testing.T) {
	g := startGateway(t)
	r := g.ssh(t, "alice+web1", "echo hello; echo oops >&2; exit 3")
	if r.code != 3 || r.stdout != "hello\n" || !strings.Contains(r.stderr, "oops") {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestUnknownTargetIsNamed(t *testing.T) {
	g := startGateway(t)
	r := g.ssh(t, "alice+nope", "true")
	if r.code != 255 || !strings.Contains(r.stderr, `unknown ssh target "nope"`) {
		t.Fatalf("got code=%d stderr=%q", r.code, r.stderr)
	}
}

func TestNoTargetInUserName(t *testing.T) {
	g := startGateway(t)
	r := g.ssh(t, "alice", "true")
	if r.code != 255 || !strings.Contains(r.stderr, "identity+target") {
		t.Fatalf("got code=%d stderr=%q", r.code, r.stderr)
	}
}

func TestTargetNotAllowedForIdentity(t *testing.T) {
	g := startGateway(t)
	r := g.ssh(t, "alice+bobonly", "true")
	if r.code != 255 || !strings.Contains(r.stderr, `not allowed to connect to target "bobonly"`) {
		t.Fatalf("got code=%d stderr=%q", r.code, r.stderr)
	}
}

func TestWrongKeyIsRefused(t *testing.T) {
	g := startGateway(t)
	other := g.dir + "/other_key"
	writeKey(t, other)
	args := append(g.sshArgs(other), "alice+web1@127.0.0.1", "echo", "should-not-run")
	r := run(t, nil, "ssh", args...)
	if r.code != 255 || strings.Contains(r.stdout, "should-not-run") || !strings.Contains(r.stderr, "Permission denied") {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestTokenByKeyboardInteractive(t *testing.T) {
	g := startGateway(t)
	askpass := g.dir + "/askpass"
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho tok-alice\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := append(g.sshArgs(""), "alice+web1@127.0.0.1", "echo", "via-token")
	r := run(t, []string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"}, "ssh", args...)
	if r.code != 0 || r.stdout != "via-token\n" {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestWrongTokenIsRefused(t *testing.T) {
	g := startGateway(t)
	askpass := g.dir + "/askpass"
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho wrong\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := append(g.sshArgs(""), "-o", "NumberOfPasswordPrompts=1", "alice+web1@127.0.0.1", "echo", "no")
	r := run(t, []string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"}, "ssh", args...)
	if r.code != 255 || r.stdout != "" {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestEnvAllowlist(t *testing.T) {
	g := startGateway(t)
	args := append(g.sshArgs(g.aliceKey), "-o", "SetEnv=LC_FOO=kept EVIL=dropped",
		"alice+web1@127.0.0.1", `echo "[$LC_FOO][$EVIL]"`)
	r := run(t, nil, "ssh", args...)
	if r.code != 0 || r.stdout != "[kept][]\n" {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestPtyExec(t *testing.T) {
	g := startGateway(t)
	args := append(g.sshArgs(g.aliceKey), "-tt", "alice+web1@127.0.0.1", "tty >/dev/null && echo has-tty; stty size")
	r := run(t, nil, "ssh", args...)
	if r.code != 0 || !strings.Contains(r.stdout, "has-tty") {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestPortForwardingDenied(t *testing.T) {
	g := startGateway(t)
	args := append(g.sshArgs(g.aliceKey), "-W", g.sshd.Addr, "alice+web1@127.0.0.1")
	r := run(t, nil, "ssh", args...)
	if r.code == 0 || !strings.Contains(r.stderr, "port forwarding is not allowed") {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestUpstreamHostKeyMismatch(t *testing.T) {
	g := startGateway(t)
	r := g.ssh(t, "alice+impostor", "echo", "should-not-run")
	if r.code != 255 || r.stdout != "" || !strings.Contains(r.stderr, "host key") {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestCommandTarget(t *testing.T) {
	g := startGateway(t)
	r := g.ssh(t, "alice+local", "s3", "ls")
	if r.code != 0 || r.stdout != "profile=sluice-readonly\nargs=s3 ls\n" {
		t.Fatalf("got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	if r := g.ssh(t, "alice+asuser"); r.code != 0 || r.stdout != g.sshd.User+"\n" {
		t.Fatalf("run_as: got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	args := append(g.sshArgs(g.aliceKey), "-tt", "alice+local@127.0.0.1")
	r = run(t, nil, "ssh", args...)
	if r.code != 0 || !strings.Contains(r.stdout, "profile=sluice-readonly") {
		t.Fatalf("pty: got code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
}

func TestUserCertificate(t *testing.T) {
	g := startGateway(t)
	for _, c := range []struct {
		principal string
		wantOK    bool
		ca        string
	}{{"alice", true, g.caKey}, {"mallory", false, g.caKey}, {"alice", false, g.dir + "/rogue_ca"}} {
		if _, err := os.Stat(c.ca); err != nil {
			writeKey(t, c.ca)
		}
		key := g.dir + "/cert_key_" + c.principal + filepath.Base(c.ca)
		pub := writeKey(t, key)
		if err := os.WriteFile(key+".pub", []byte(marshalAuthorized(pub)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ssh-keygen", "-q", "-s", c.ca, "-I", "test", "-n", c.principal, "-V", "-5m:+1h", key+".pub").CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		args := append(g.sshArgs(key), "alice+web1@127.0.0.1", "echo", "cert-ok")
		r := run(t, nil, "ssh", args...)
		if c.wantOK != (r.code == 0 && r.stdout == "cert-ok\n") {
			t.Fatalf("principal %s, CA %s: code=%d stdout=%q stderr=%q", c.principal, c.ca, r.code, r.stdout, r.stderr)
		}
	}
}

func TestSessionEndsWhenCredentialExpires(t *testing.T) {
	g := startGateway(t)
	tok, _, err := g.deps.Auth.IssueToken(identity.IssueRequest{Name: "alice", TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	askpass := g.dir + "/askpass-token"
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+tok+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	args := append(g.sshArgs(""), "alice+web1@127.0.0.1", "echo in; sleep 30")
	r := run(t, []string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"}, "ssh", args...)
	if r.stdout != "in\n" || !strings.Contains(r.stderr, "credential expired") || time.Since(start) > 15*time.Second {
		t.Fatalf("code=%d stdout=%q stderr=%q after %v", r.code, r.stdout, r.stderr, time.Since(start))
	}
}
