package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKillCredential: only the live sessions opened with the credential end,
// each with a *KilledError; one opened with it just after starts killed.
func TestKillCredential(t *testing.T) {
	st := openTestStore(t, time.Hour)
	ctx := context.Background()
	open := func(identity, cred string) *Session {
		return openTestSession(t, st, Info{Protocol: "postgres", Target: "appdb", Identity: identity, CredentialID: cred}, Recording{})
	}
	a := open("ci-deploy", "tok-1")
	b := open("ci-deploy", "tok-1")
	other := open("ci-deploy", "tok-2")
	static := open("alice", "")
	closed := open("ci-deploy", "tok-1")
	closed.Close(StatusOK, nil)

	if got := st.KillCredential("", "x"); got != nil {
		t.Fatalf("empty credential killed %v", got)
	}
	killed := st.KillCredential("tok-1", "gateway token revoked")
	ids := make([]string, len(killed))
	for i, r := range killed {
		ids[i] = r.ID
		if r.Identity != "ci-deploy" || r.Status != StatusActive {
			t.Fatalf("killed record %+v", r)
		}
	}
	want := []string{a.ID(), b.ID()}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("killed %q, want %q", ids, want)
	}
	for _, s := range []*Session{a, b} {
		<-s.Context().Done()
		var ke *KilledError
		if cause := context.Cause(s.Context()); !errors.As(cause, &ke) || ke.Reason != "gateway token revoked" {
			t.Fatalf("cause %v", cause)
		}
	}
	for _, s := range []*Session{other, static} {
		if s.Context().Err() != nil {
			t.Fatalf("session %s of another credential was cancelled: %v", s.ID(), context.Cause(s.Context()))
		}
	}

	// Its login was checked before the revocation, Open comes after it.
	late := open("ci-deploy", "tok-1")
	select {
	case <-late.Context().Done():
	default:
		t.Fatal("a session opened with a just-revoked credential is not killed")
	}

	a.Close(StatusKilled, context.Cause(a.Context()))
	r, err := st.Get(ctx, a.ID())
	if err != nil || r.Status != StatusKilled || !strings.Contains(r.Error, "gateway token revoked") {
		t.Fatalf("killed record: %+v %v", r, err)
	}
	if got := st.KillCredential("tok-1", "again"); len(got) != 2 { // b and late are still live until closed
		t.Fatalf("second kill: %v", got)
	}
	b.Close(StatusKilled, nil)
	late.Close(StatusKilled, nil)
	if got := st.KillCredential("tok-1", "again"); len(got) != 0 {
		t.Fatalf("kill after close: %v", got)
	}
}
