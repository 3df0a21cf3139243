package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/sluice-gw/sluice/config"
)

func newSSHKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPublicKey(t *testing.T) {
	known, other := newSSHKey(t), newSSHKey(t)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(known))) + " alice@laptop"
	a, err := New(&config.Config{Identities: []config.Identity{
		{Name: "alice", Kind: "person", Groups: []string{"dev"}, SSHKeys: []string{"not a key", line}},
		{Name: "bob", Kind: "person"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.PublicKey("alice", known)
	if err != nil || id.Name != "alice" || id.Method != "ssh-key" || !id.InGroup("dev") {
		t.Fatalf("known key: %+v %v", id, err)
	}
	for _, c := range []struct {
		user string
		key  ssh.PublicKey
	}{{"alice", other}, {"bob", known}, {"nobody", known}, {"alice", nil}} {
		if _, err := a.PublicKey(c.user, c.key); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: got %v, want ErrBadCredentials", c.user, err)
		}
	}
}
