package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/metrics"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/listener"
	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// testGateway is the engine served in-process on a loopback port, in front
// of a real sshd, with real deps.
type testGateway struct {
	addr       string
	dir        string
	knownHosts string // the client's known_hosts, pinning the gateway key
	aliceKey   string // alice's private key file
	caKey      string // the user CA's private key file
	sshd       *testenv.SSHD
	remoteDir  string // a fresh directory on the upstream, owned by its login user
	deps       listener.Deps
	engine     *Engine
}

const gatewayYAML = `
data_dir: {{DIR}}/data
identity:
  ssh_user_ca: ["{{CA_PUB}}"]
  token_key: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  max_session_after_expiry: 1s
identities:
  - name: alice
    token: tok-alice
    groups: [developers]
    ssh_keys: ["{{ALICE_PUB}}"]
  - name: bob
    token: tok-bob
  - name: carol
    token: tok-carol
targets:
  - name: accounts
    protocol: ssh
    upstream:
      address: "{{SSHD}}"
      user: "{{USER}}"
      key_file: "{{KEY}}"
      known_hosts: "{{KH}}"
      accounts:
        - {identities: [bob], user: "{{USER}}", key_file: "{{DIR}}/unauthorized_key"}
        - {identities: [carol], user: sluice-no-such-user}
  - name: web1
    protocol: ssh
    policy: guarded
    upstream: {address: "{{SSHD}}", user: "{{USER}}", key_file: "{{KEY}}", known_hosts: "{{KH}}"}
  - name: plain
    protocol: ssh
    upstream: {address: "{{SSHD}}", user: "{{USER}}", key_file: "{{KEY}}", known_hosts: "{{KH}}"}
  - name: bobonly
    protocol: ssh
    allow: {identities: [bob]}
    upstream: {address: "{{SSHD}}", user: "{{USER}}", key_file: "{{KEY}}", known_hosts: "{{KH}}"}
  - name: impostor
    protocol: ssh
    upstream: {address: "{{SSHD}}", user: "{{USER}}", key_file: "{{KEY}}", known_hosts: "{{DIR}}/wrong_known_hosts"}
  - name: local
    protocol: command
    command: [sh, -c, 'echo "profile=$AWS_PROFILE"; echo "args=$*"', sh]
    env: {AWS_PROFILE: sluice-readonly}
  - name: tools
    protocol: command
    policy: guarded
    command: [echo]
  - name: printer
    protocol: command
    policy: guarded
    command: [printf]
  - name: bashbox
    protocol: command
    policy: guarded
    command: [bash, --norc, --noprofile, -i]
    run_as: "{{USER}}"
  - name: toucher
    protocol: command
    policy: guarded
    command: [touch]
  - name: asuser
    protocol: command
    command: [id, -un]
    run_as: "{{USER}}"
ssh:
  host_key: {{DIR}}/data/ssh_host_ed25519_key
policies:
  guarded:
    rules:
      - {name: no-rm-rf, when: {command: "rm -rf *"}, action: block}
      - {name: touch-review, when: {command: "touch *"}, action: review}
      - {name: local-forwards, when: {forward: ["localhost:*"]}, action: allow}
    masks:
      - {detect: [aws_access_key], method: redact}
`

func startGateway(t testing.TB) *testGateway {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// AcceptEnv lists EVIL so that only the gateway's allowlist can drop it.
	sshd, err := testenv.StartSSHD(ctx, testenv.SSHDOptions{ExtraConfig: []string{"AcceptEnv LANG LC_* EVIL"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sshd.Stop() })
	dir := t.TempDir()
	// known_hosts naming another key for the same address: a host key mismatch.
	wrong := writeKey(t, filepath.Join(dir, "wrong_host_key"))
	host, port, _ := net.SplitHostPort(sshd.Addr)
	if err := os.WriteFile(filepath.Join(dir, "wrong_known_hosts"), []byte(fmt.Sprintf("[%s]:%s %s\n", host, port, marshalAuthorized(wrong))), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &testGateway{dir: dir, sshd: sshd, aliceKey: filepath.Join(dir, "alice_key"), remoteDir: remoteDir(t, sshd)}
	alicePub := writeKey(t, g.aliceKey)
	g.caKey = filepath.Join(dir, "user_ca")
	caPub := writeKey(t, g.caKey)
	writeKey(t, filepath.Join(dir, "unauthorized_key")) // an upstream account's key sshd does not know
	yaml := strings.NewReplacer("{{DIR}}", dir, "{{SSHD}}", sshd.Addr, "{{USER}}", sshd.User,
		"{{KEY}}", sshd.KeyPath, "{{KH}}", sshd.KnownHostsFile,
		"{{ALICE_PUB}}", marshalAuthorized(alicePub), "{{CA_PUB}}", marshalAuthorized(caPub)).Replace(gatewayYAML)
	cfg, err := config.Parse([]byte(yaml), "test.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	g.deps = testDeps(t, cfg)
	g.engine, err = New(cfg, g.deps)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- listener.Serve(ctx, ln, cfg.Limits, g.engine, g.deps.Log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	host, port, _ = net.SplitHostPort(g.addr)
	g.knownHosts = filepath.Join(dir, "client_known_hosts")
	line := fmt.Sprintf("[%s]:%s %s", host, port, marshalAuthorized(g.engine.HostKey()))
	if err := os.WriteFile(g.knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return g
}

func testDeps(t testing.TB, cfg *config.Config) listener.Deps {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	auth, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pols, err := policy.NewSet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.OpenStore(cfg.DataDir, session.Options{FlushInterval: cfg.Recording.FlushInterval.Duration, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	broker := policy.NewBroker(cfg.Approvals, policy.BrokerOptions{Log: log})
	t.Cleanup(broker.Close)
	return listener.Deps{Config: cfg, Auth: auth, Policies: pols, Broker: broker, Store: store, Metrics: metrics.New(), Log: log}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// sshArgs are the OpenSSH client options for talking to the gateway.
func (g *testGateway) sshArgs(key string) []string {
	_, port, _ := net.SplitHostPort(g.addr)
	args := []string{"-F", "/dev/null", "-p", port,
		"-o", "UserKnownHostsFile=" + g.knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=INFO"}
	if key != "" {
		args = append(args, "-i", key, "-o", "BatchMode=yes")
	} else {
		args = append(args, "-o", "PubkeyAuthentication=no")
	}
	return args
}

type runResult struct {
	stdout, stderr string
	code           int
}

// run runs a client program with a deadline and returns its output and exit code.
func run(t *testing.T, env []string, name string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = nil
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return runResult{out.String(), errb.String(), code}
}

// ssh runs the real ssh client through the gateway as user with alice's key.
func (g *testGateway) ssh(t *testing.T, user string, remote ...string) runResult {
	t.Helper()
	args := append(g.sshArgs(g.aliceKey), append([]string{user + "@127.0.0.1", "--"}, remote...)...)
	return run(t, nil, "ssh", args...)
}

// remoteDir makes a fresh directory in the upstream login user's home.
func remoteDir(t testing.TB, s *testenv.SSHD) string {
	t.Helper()
	d, err := os.MkdirTemp(s.HomeDir, "sluice-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	u, err := user.Lookup(s.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(d, uid, gid); err != nil {
		t.Fatal(err)
	}
	return d
}

// writeKey generates an ed25519 key pair, writes the private key to path
// (0600) and returns the public key.
func writeKey(t testing.TB, path string) gossh.PublicKey {
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
	return pk
}

func marshalAuthorized(k gossh.PublicKey) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
}
