package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/sluice-gw/sluice/identity"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type certSpec struct {
	principals    []string
	after, before time.Time
	typ           uint32
	critical      map[string]string
}

func signCert(t *testing.T, ca ssh.Signer, s certSpec) *ssh.Certificate {
	t.Helper()
	user := newSigner(t)
	if s.typ == 0 {
		s.typ = ssh.UserCert
	}
	c := &ssh.Certificate{
		Key: user.PublicKey(), KeyId: "test-cert", CertType: s.typ, ValidPrincipals: s.principals,
		ValidAfter: uint64(s.after.Unix()), ValidBefore: uint64(s.before.Unix()),
		Permissions: ssh.Permissions{CriticalOptions: s.critical, Extensions: map[string]string{"permit-pty": ""}},
	}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	// Round-trip through the wire form, as the SSH server would hand it over.
	pk, err := ssh.ParsePublicKey(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return pk.(*ssh.Certificate)
}

func TestSSHCertificate(t *testing.T) {
	ca, rogue := newSigner(t), newSigner(t)
	clock := newFakeClock()
	yaml := `
identities:
  - {name: alice, groups: [developers]}
identity:
  ssh_user_ca: ["` + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.PublicKey()))) + ` sluice-user-ca"]
`
	a, _, logs := testAuth(t, yaml, clock, noRateLimit)
	now := clock.Now()
	valid := certSpec{principals: []string{"alice", "alice-admin"}, after: now.Add(-time.Minute), before: now.Add(time.Hour)}
	ctx := identity.ContextWithClientAddr(context.Background(), "10.1.2.3:5555")

	id, err := a.SSHCertificateContext(ctx, "alice", signCert(t, ca, valid))
	if err != nil {
		t.Fatalf("valid cert: %v", err)
	}
	if id.Name != "alice" || id.Method != "ssh-cert" || !id.InGroup("developers") || !id.Expiry.Equal(valid.before) {
		t.Fatalf("identity = %+v", id)
	}
	// A name the config does not list is still vouched for by the CA.
	if id, err := a.SSHCertificate("alice-admin", signCert(t, ca, valid)); err != nil || len(id.Groups) != 0 {
		t.Fatalf("unlisted principal: %+v %v", id, err)
	}

	mod := func(f func(*certSpec)) certSpec { s := valid; f(&s); return s }
	cases := []struct {
		name string
		ca   ssh.Signer
		spec certSpec
		user string
		want error
	}{
		{"expired", ca, mod(func(s *certSpec) { s.before = now.Add(-time.Second) }), "alice", identity.ErrCertificateExpired},
		{"not yet valid", ca, mod(func(s *certSpec) { s.after = now.Add(time.Hour) }), "alice", identity.ErrCertificateExpired},
		{"wrong principal", ca, valid, "bob", identity.ErrBadCredentials},
		{"no principals", ca, mod(func(s *certSpec) { s.principals = nil }), "alice", identity.ErrBadCredentials},
		{"unknown CA", rogue, valid, "alice", identity.ErrBadCredentials},
		{"host certificate", ca, mod(func(s *certSpec) { s.typ = ssh.HostCert }), "alice", identity.ErrBadCredentials},
		{"force-command", ca, mod(func(s *certSpec) { s.critical = map[string]string{"force-command": "true"} }), "alice", identity.ErrBadCredentials},
		{"unknown critical option", ca, mod(func(s *certSpec) { s.critical = map[string]string{"made-up@example.com": ""} }), "alice", identity.ErrBadCredentials},
		{"source-address elsewhere", ca, mod(func(s *certSpec) { s.critical = map[string]string{"source-address": "192.0.2.0/24"} }), "alice", identity.ErrBadCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if id, err := a.SSHCertificateContext(ctx, tc.user, signCert(t, tc.ca, tc.spec)); !errors.Is(err, tc.want) {
				t.Fatalf("got %+v, %v; want %v", id, err, tc.want)
			}
		})
	}

	src := mod(func(s *certSpec) { s.critical = map[string]string{"source-address": "192.0.2.1, 10.1.0.0/16"} })
	if _, err := a.SSHCertificateContext(ctx, "alice", signCert(t, ca, src)); err != nil {
		t.Fatalf("source-address matching the client: %v", err)
	}
	if _, err := a.SSHCertificate("alice", signCert(t, ca, src)); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("source-address with no client address known: %v", err)
	}
	if _, err := a.SSHCertificate("alice", nil); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("nil cert: %v", err)
	}
	if !strings.Contains(logs.String(), "unknown CA") {
		t.Fatalf("audit log does not name the reason:\n%s", indent(logs.String()))
	}

	noCA, _, _ := testAuth(t, "", clock)
	if _, err := noCA.SSHCertificate("alice", signCert(t, ca, valid)); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("no CA configured: %v", err)
	}
	if _, err := parseAndNew(t, "identity:\n  ssh_user_ca: [\"not a key\"]\n"); err == nil {
		t.Fatal("bad ssh_user_ca accepted")
	}
}
