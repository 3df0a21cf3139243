package identity_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/identity"
)

const rateYAML = `
identities:
  - {name: alice, token: alice-secret}
  - {name: bob, token: bob-secret}
`

// TestRateLimitBackoffByCounting shows the backoff by counting attempts on
// an injected clock: 5 free failures, then waits of 1s, 2s, 4s ... up to
// the cap, during which even the right secret is refused unchecked.
func TestRateLimitBackoffByCounting(t *testing.T) {
	clock := newFakeClock()
	a, _, logs := testAuth(t, rateYAML, clock)
	ctx := identity.ContextWithClientAddr(context.Background(), "192.0.2.7:40001")

	for i := range 5 {
		_, err := a.Password(ctx, "alice", "guess-123")
		if !errors.Is(err, identity.ErrBadCredentials) {
			t.Fatalf("failure %d: got %v, want bad credentials", i+1, err)
		}
	}
	// Limited now: the right secret is refused without being checked.
	_, err := a.Password(ctx, "alice", "alice-secret")
	var rl *identity.RateLimitedError
	if !errors.As(err, &rl) || !errors.Is(err, identity.ErrRateLimited) {
		t.Fatalf("6th attempt: got %v, want rate limited", err)
	}
	if rl.Wait != time.Second || !strings.Contains(err.Error(), "wait 1s") {
		t.Fatalf("wait = %v (%q), want 1s", rl.Wait, err)
	}

	// Each further failure doubles the wait: count refused vs considered.
	wantWaits := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	for i, want := range wantWaits {
		clock.Advance(rl.Wait) // exactly the wait: now allowed
		if _, err := a.Password(ctx, "alice", "guess-123"); !errors.Is(err, identity.ErrBadCredentials) {
			t.Fatalf("step %d: after waiting, got %v, want the secret checked", i, err)
		}
		_, err = a.Password(ctx, "alice", "alice-secret")
		if !errors.As(err, &rl) || rl.Wait != want {
			t.Fatalf("step %d: got %v (wait %v), want limited for %v", i, err, rl.Wait, want)
		}
		// Refused attempts do not extend the wait.
		clock.Advance(want - time.Second)
		_, err = a.Password(ctx, "alice", "alice-secret")
		if !errors.As(err, &rl) || rl.Wait != time.Second {
			t.Fatalf("step %d: 1s before the end got %v", i, err)
		}
	}

	// The same address guessing another name is limited too (per address).
	_, err = a.Password(ctx, "bob", "bob-secret")
	if !errors.Is(err, identity.ErrRateLimited) {
		t.Fatalf("other name from the same address: got %v, want rate limited", err)
	}
	// One address failing under alice's name does not lock alice out
	// elsewhere: the name's own threshold is far higher (see
	// TestRateLimitNameAcrossAddresses).
	other := identity.ContextWithClientAddr(context.Background(), "198.51.100.9:5000")
	if _, err := a.Password(other, "alice", "alice-secret"); err != nil {
		t.Fatalf("same name from another address: %v; one address must not lock a name out", err)
	}
	if _, err := a.Password(other, "bob", "bob-secret"); err != nil {
		t.Fatalf("bob from another address: %v", err)
	}

	// After the wait, the right secret works from the limited address too.
	clock.Advance(rl.Wait)
	if _, err := a.Password(ctx, "alice", "alice-secret"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}

	out := logs.String()
	if strings.Contains(out, "alice-secret") || strings.Contains(out, "guess-123") {
		t.Fatalf("audit log contains a secret:\n%s", indent(out))
	}
	if got := strings.Count(out, "event=auth_failure"); got != 5+len(wantWaits) {
		t.Fatalf("audit failures logged = %d, want %d:\n%s", got, 5+len(wantWaits), indent(out))
	}
	if !strings.Contains(out, "event=auth_rate_limited") || !strings.Contains(out, "client=192.0.2.7:40001") {
		t.Fatalf("audit log lacks rate-limit events or client address:\n%s", indent(out))
	}
}

// TestRateLimitNameAcrossAddresses: guessing spread over many addresses
// (each under its own threshold) still limits the name, from every
// address, once the name's threshold is reached; the right secret then
// clears the name's count.
func TestRateLimitNameAcrossAddresses(t *testing.T) {
	clock := newFakeClock()
	a, _, _ := testAuth(t, rateYAML, clock)
	from := func(i int) context.Context {
		return identity.ContextWithClientAddr(context.Background(), fmt.Sprintf("203.0.113.%d:%d", i/4, 1000+i))
	}
	n := identity.DefaultRateLimit.NameThreshold
	for i := range n {
		// Four failures per address: none of the addresses is limited.
		if _, err := a.Password(from(i), "alice", "guess-123"); !errors.Is(err, identity.ErrBadCredentials) {
			t.Fatalf("failure %d: got %v, want bad credentials", i+1, err)
		}
	}
	fresh := identity.ContextWithClientAddr(context.Background(), "192.0.2.99:1")
	var rl *identity.RateLimitedError
	if _, err := a.Password(fresh, "alice", "alice-secret"); !errors.As(err, &rl) || rl.Wait != time.Second {
		t.Fatalf("after %d failures from many addresses: got %v, want alice limited for 1s", n, err)
	}
	if _, err := a.Password(fresh, "bob", "bob-secret"); err != nil {
		t.Fatalf("bob from a fresh address: %v", err)
	}
	clock.Advance(rl.Wait)
	if _, err := a.Password(fresh, "alice", "alice-secret"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	if _, err := a.Password(fresh, "alice", "guess-123"); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("the name's count should be cleared by success: %v", err)
	}
}

func TestRateLimitCapAndWindow(t *testing.T) {
	clock := newFakeClock()
	a, _, _ := testAuth(t, rateYAML, clock)
	ctx := identity.ContextWithClientAddr(context.Background(), "192.0.2.8:1")
	var rl *identity.RateLimitedError
	for range 40 {
		// Fail, then jump past whatever wait applies.
		_, err := a.Password(ctx, "alice", "guess-123")
		if errors.As(err, &rl) {
			t.Fatalf("attempt refused after waiting: %v", err)
		}
		_, err = a.Password(ctx, "alice", "guess-123")
		if errors.As(err, &rl) && rl.Wait > identity.DefaultRateLimit.Max {
			t.Fatalf("wait %v exceeds cap %v", rl.Wait, identity.DefaultRateLimit.Max)
		}
		if rl != nil {
			clock.Advance(rl.Wait)
		}
	}
	if rl == nil || rl.Wait != identity.DefaultRateLimit.Max {
		t.Fatalf("after 40 failures wait = %v, want the cap %v", rl, identity.DefaultRateLimit.Max)
	}
	// A quiet window forgets everything.
	clock.Advance(identity.DefaultRateLimit.Window + time.Second)
	for i := range 5 {
		if _, err := a.Password(ctx, "alice", "guess-123"); errors.Is(err, identity.ErrRateLimited) {
			t.Fatalf("attempt %d after a quiet window was limited", i)
		}
	}
}

// TestThrottleForSelfVerifyingProtocols covers the API for engines that
// verify secrets themselves (SCRAM): Throttle before, Failed after.
func TestThrottleForSelfVerifyingProtocols(t *testing.T) {
	clock := newFakeClock()
	a, _, logs := testAuth(t, rateYAML, clock)
	ctx := identity.ContextWithClientAddr(context.Background(), "[2001:db8::1]:7000")
	for range 5 {
		if err := a.Throttle(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		a.Failed(ctx, "bob", "scram", errors.New("scram proof invalid"))
	}
	if err := a.Throttle(ctx, "bob"); !errors.Is(err, identity.ErrRateLimited) {
		t.Fatalf("Throttle after 5 failures: %v", err)
	}
	if !strings.Contains(logs.String(), "method=scram") {
		t.Fatalf("audit log lacks the method:\n%s", indent(logs.String()))
	}
}
