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
func startSSHGateway(t *testing.T, issuer string) (addr, dataDir string, auth *identity.Authenticator) {
	t.Helper()
	listen, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml := fmt.Sprintf(`
data_dir: %s/data
identities:
  - {name: ci-deploy, kind: service, groups: [developers]}
identity:
  token_key: %s
  oidc:
    - {issuer: %s, audience: sluice, name_claim: preferred_username, groups_claim: groups}
targets:
  - name: local
    protocol: command
    command: [echo, via-sluice]
    allow: {groups: [developers]}
ssh:
  listen: %s
  host_key: %s/data/ssh_host_ed25519_key
`, dir, testTokenKey, issuer, listen, dir)
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
