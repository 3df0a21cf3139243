package identity_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/gateway"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/testenv"
)

// startSSHGateway runs the gateway's SSH listener with one command target
// ("local", a local program in place of a remote host: enough to show who
// got in) open to the developers group.
func startSSHGateway(t *testing.T, issuer string, userCA ...string) (addr, dataDir string, auth *identity.Authenticator) {
	t.Helper()
	listen, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var quoted []string
	for _, ca := range userCA {
		quoted = append(quoted, fmt.Sprintf("%q", ca))
	}
	cas := strings.Join(quoted, ", ")
	yaml := fmt.Sprintf(`
data_dir: %s/data
identities:
  - {name: ci-deploy, kind: service, groups: [developers]}
identity:
  token_key: %s
  oidc:
    - {issuer: %s, audience: sluice, name_claim: preferred_username, groups_claim: groups}
  ssh_user_ca: [%s]
targets:
  - name: local
    protocol: command
    command: [echo, via-sluice]
    allow: {groups: [developers]}
ssh:
  listen: %s
  host_key: %s/data/ssh_host_ed25519_key
`, dir, testTokenKey, issuer, cas, listen, dir)
	cfg, err := parseConfig(yaml)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	g, err := gateway.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway run: %v", err)
		}
	})
	a, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g.Addrs["ssh"], cfg.DataDir, a
}

// sshWithPassword runs the real OpenSSH client, answering the password (or
// keyboard-interactive) prompt with secret through SSH_ASKPASS.
func sshWithPassword(t *testing.T, addr, user, method, secret string) (string, error) {
	t.Helper()
	ssh := testenv.RequireBinary(t, "ssh", "openssh-client")
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	askpass := filepath.Join(dir, "askpass.sh")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\ncat '"+secretFile+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ssh, "-F", "/dev/null", "-p", port,
		"-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
		"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications="+method,
		"-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10", "-o", "LogLevel=INFO",
		user+"@"+host)
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none")
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestE2ESSHWithTokens(t *testing.T) {
	p := startOIDC(t)
	addr, dataDir, auth := startSSHGateway(t, p.Issuer)

	jwt := mustToken(t, p, map[string]any{"sub": "u-2", "preferred_username": "dave", "aud": "sluice",
		"groups": []string{"developers"}, "exp": time.Now().Add(time.Hour)})
	for _, method := range []string{"password", "keyboard-interactive"} {
		out, err := sshWithPassword(t, addr, "dave+local", method, jwt)
		if err != nil || !strings.Contains(out, "via-sluice") {
			t.Fatalf("ssh %s with an OIDC token: %v\n%s", method, err, out)
		}
	}
	// Not in the target's group: refused with the reason shown.
	other := mustToken(t, p, map[string]any{"sub": "u-3", "preferred_username": "erin", "aud": "sluice",
		"groups": []string{"sales"}, "exp": time.Now().Add(time.Hour)})
	if out, err := sshWithPassword(t, addr, "erin+local", "password", other); err == nil || !strings.Contains(out, "not allowed") {
		t.Fatalf("erin on a developers-only target: %v\n%s", err, out)
	}

	tok, claims, err := auth.IssueToken(identity.IssueRequest{Name: "ci-deploy", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sshWithPassword(t, addr, "ci-deploy+local", "password", tok); err != nil || !strings.Contains(out, "via-sluice") {
		t.Fatalf("ssh with a gateway token: %v\n%s", err, out)
	}
	if err := identity.Revoke(dataDir, claims.ID, claims.ExpiresAt(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if out, err := sshWithPassword(t, addr, "ci-deploy+local", "password", tok); err == nil || strings.Contains(out, "via-sluice") {
		t.Fatalf("ssh with a revoked token got in:\n%s", out)
	}
}

// TestE2ESSHCertificate: the real ssh client with OpenSSH user certificates
// made by ssh-keygen. Only the configured CA's certificates get in; one
// signed by any other key must be refused even though its signature is
// internally valid (the engine must check the signer is a configured CA,
// which identity.SSHCertificateContext does).
func TestE2ESSHCertificate(t *testing.T) {
	p := startOIDC(t)
	dir := t.TempDir()
	keygen := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(testenv.RequireBinary(t, "ssh-keygen", "openssh-client"), args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
		}
	}
	for _, k := range []string{"ca", "rogue", "good", "bad", "old"} {
		keygen("-q", "-t", "ed25519", "-N", "", "-C", k, "-f", filepath.Join(dir, k))
	}
	keygen("-q", "-s", filepath.Join(dir, "ca"), "-I", "good", "-n", "ci-deploy", "-V", "-5m:+1h", filepath.Join(dir, "good.pub"))
	keygen("-q", "-s", filepath.Join(dir, "rogue"), "-I", "bad", "-n", "ci-deploy", "-V", "-5m:+1h", filepath.Join(dir, "bad.pub"))
	keygen("-q", "-s", filepath.Join(dir, "ca"), "-I", "old", "-n", "ci-deploy", "-V", "-2h:-1h", filepath.Join(dir, "old.pub"))
	caPub, err := os.ReadFile(filepath.Join(dir, "ca.pub"))
	if err != nil {
		t.Fatal(err)
	}
	addr, _, _ := startSSHGateway(t, p.Issuer, strings.TrimSpace(string(caPub)))

	sshCert := func(key string) (string, error) {
		host, port, _ := net.SplitHostPort(addr)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, testenv.RequireBinary(t, "ssh", "openssh-client"), "-F", "/dev/null", "-p", port,
			"-i", filepath.Join(dir, key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR",
			"ci-deploy+local@"+host)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := sshCert("good"); err != nil || !strings.Contains(out, "via-sluice") {
		t.Fatalf("certificate from the configured CA: %v\n%s", err, out)
	}
	if out, err := sshCert("old"); err == nil || strings.Contains(out, "via-sluice") {
		t.Fatalf("expired certificate got in:\n%s", out)
	}
	if out, err := sshCert("bad"); err == nil || strings.Contains(out, "via-sluice") {
		t.Fatalf("certificate signed by an unknown CA got in (the SSH engine must call identity.SSHCertificateContext):\n%s", out)
	}
}
