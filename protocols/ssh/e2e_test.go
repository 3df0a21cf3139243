package ssh

import (
	"strings"
	"testing"
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
