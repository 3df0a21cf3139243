package ssh

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/session"
)

// upstream.accounts picks the upstream user and key per identity: alice
// (no account) logs in with the target's; bob's account has a key the
// upstream does not accept and carol's a user it does not have, so the
// upstream itself refuses them, and each record names the account.
func TestUpstreamAccountPerIdentity(t *testing.T) {
	g := startGateway(t)
	if r := g.ssh(t, "alice+accounts", "whoami"); r.code != 0 || strings.TrimSpace(r.stdout) != g.sshd.User {
		t.Fatalf("alice: code=%d stdout=%q stderr=%q", r.code, r.stdout, r.stderr)
	}
	for _, who := range []string{"bob", "carol"} {
		askpass := g.dir + "/askpass-" + who
		if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho tok-"+who+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		args := append(g.sshArgs(""), who+"+accounts@127.0.0.1", "whoami")
		r := run(t, []string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"}, "ssh", args...)
		if r.code == 0 || strings.Contains(r.stdout, g.sshd.User) || !strings.Contains(r.stderr, `target "accounts"`) {
			t.Fatalf("%s logged in upstream: code=%d stdout=%q stderr=%q", who, r.code, r.stdout, r.stderr)
		}
	}
	want := map[string]string{"alice": g.sshd.User, "bob": g.sshd.User, "carol": "sluice-no-such-user"}
	recs, err := g.deps.Store.List(context.Background(), session.Filter{Target: "accounts"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if u, ok := want[r.Identity]; ok && r.Tags["upstream_user"] == u {
			delete(want, r.Identity)
		}
	}
	if len(want) != 0 {
		t.Fatalf("records without their account: %v (records %+v)", want, recs)
	}
}
