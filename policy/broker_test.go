package policy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
)

func testBroker(t testing.TB, cfg config.Approvals, opts BrokerOptions) *Broker {
	t.Helper()
	b := NewBroker(cfg, opts)
	t.Cleanup(b.Close)
	return b
}

func submit(t testing.TB, b *Broker, identity string) ApprovalRequest {
	t.Helper()
	req, err := b.Submit(ApprovalRequest{Session: "s1", Protocol: "postgres", Target: "appdb",
		Identity: identity, Statement: "DELETE FROM users", Rule: "bulk-writes"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return req
}

func TestBrokerSubmitAssignsIDAndTimes(t *testing.T) {
	b := testBroker(t, config.Approvals{Timeout: config.Duration{Duration: time.Minute}}, BrokerOptions{})
	seen := map[string]bool{}
	for range 200 {
		req := submit(t, b, "alice")
		if len(req.ID) != 8 {
			t.Fatalf("id %q: want 8 chars", req.ID)
		}
		if seen[req.ID] {
			t.Fatalf("duplicate id %q", req.ID)
		}
		seen[req.ID] = true
		if got := req.Expires.Sub(req.Created); got != time.Minute {
			t.Fatalf("expires-created = %v, want 1m", got)
		}
	}
	if n := len(b.Pending()); n != 200 {
		t.Fatalf("pending = %d, want 200", n)
	}
}

func TestBrokerApproveWakesWaiter(t *testing.T) {
	var outcomes atomic.Int32
	b := testBroker(t, config.Approvals{}, BrokerOptions{OnOutcome: func(ApprovalRequest, Outcome) { outcomes.Add(1) }})
	req := submit(t, b, "alice")
	got := make(chan Outcome, 1)
	go func() { got <- b.Wait(context.Background(), req.ID) }()

	out, err := b.Decide(req.ID, true, Reviewer{Name: "bob"}, "looks fine")
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	w := <-got
	if !w.Approved || w.Reviewer != "bob" || w.Reason != "looks fine" || w != out {
		t.Fatalf("Wait = %+v, Decide = %+v", w, out)
	}
	if len(b.Pending()) != 0 {
		t.Fatal("request still pending after decision")
	}
	recent := b.Recent()
	if len(recent) != 1 || recent[0].Request.ID != req.ID || !recent[0].Outcome.Approved {
		t.Fatalf("Recent = %+v", recent)
	}
	if _, err := b.Decide(req.ID, false, Reviewer{Name: "bob"}, ""); !errors.Is(err, ErrAlreadyDecided) {
		t.Fatalf("second Decide: %v, want ErrAlreadyDecided", err)
	}
	// A late waiter sees the kept outcome.
	if w2 := b.Wait(context.Background(), req.ID); !w2.Approved {
		t.Fatalf("late Wait = %+v", w2)
	}
	if outcomes.Load() != 1 {
		t.Fatalf("OnOutcome called %d times, want 1", outcomes.Load())
	}
}

func TestBrokerDeny(t *testing.T) {
	b := testBroker(t, config.Approvals{}, BrokerOptions{})
	req := submit(t, b, "alice")
	if _, err := b.Decide(req.ID, false, Reviewer{Name: "bob"}, "not on a Friday"); err != nil {
		t.Fatal(err)
	}
	out := b.Wait(context.Background(), req.ID)
	if out.Approved || out.Reason != "not on a Friday" || OutcomeLabel(out) != "denied" {
		t.Fatalf("Wait = %+v", out)
	}
}

func TestBrokerTimeoutDenies(t *testing.T) {
	b := testBroker(t, config.Approvals{Timeout: config.Duration{Duration: 30 * time.Millisecond}}, BrokerOptions{})
	req := submit(t, b, "alice")
	start := time.Now()
	out := b.Wait(context.Background(), req.ID)
	if out.Approved || !out.TimedOut || OutcomeLabel(out) != "timeout" {
		t.Fatalf("Wait = %+v, want timed out", out)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("timeout took %v", el)
	}
	if _, err := b.Decide(req.ID, true, Reviewer{Name: "bob"}, ""); !errors.Is(err, ErrAlreadyDecided) {
		t.Fatalf("Decide after timeout: %v", err)
	}
}

func TestBrokerTimeoutWithoutWaiter(t *testing.T) {
	b := testBroker(t, config.Approvals{Timeout: config.Duration{Duration: 10 * time.Millisecond}}, BrokerOptions{})
	req := submit(t, b, "alice")
	deadline := time.Now().Add(2 * time.Second)
	for len(b.Pending()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := b.Recent(); len(r) != 1 || r[0].Request.ID != req.ID || !r[0].Outcome.TimedOut {
		t.Fatalf("Recent = %+v", r)
	}
}

func TestBrokerCancelWithdraws(t *testing.T) {
	b := testBroker(t, config.Approvals{}, BrokerOptions{})
	req := submit(t, b, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Outcome, 1)
	go func() { got <- b.Wait(ctx, req.ID) }()
	cancel()
	out := <-got
	if !out.Cancelled || out.Approved {
		t.Fatalf("Wait = %+v, want cancelled", out)
	}
	if _, err := b.Decide(req.ID, true, Reviewer{Name: "bob"}, ""); !errors.Is(err, ErrAlreadyDecided) {
		t.Fatalf("approve after cancel: %v, want ErrAlreadyDecided", err)
	}
}

func TestBrokerUnknownID(t *testing.T) {
	b := testBroker(t, config.Approvals{}, BrokerOptions{})
	if _, err := b.Decide("nosuchid", true, Reviewer{Name: "bob"}, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Decide: %v", err)
	}
	if out := b.Wait(context.Background(), "nosuchid"); out.Approved {
		t.Fatalf("Wait on unknown id approved: %+v", out)
	}
}

func TestBrokerSelfApproval(t *testing.T) {
	b := testBroker(t, config.Approvals{}, BrokerOptions{})
	req := submit(t, b, "alice")
	if _, err := b.Decide(req.ID, true, Reviewer{Name: "alice"}, ""); !errors.Is(err, ErrSelfApproval) {
		t.Fatalf("self approve: %v", err)
	}
	// The admin token acting as the requester is still the requester.
	if _, err := b.Decide(req.ID, true, Reviewer{Name: "alice", Admin: true}, ""); !errors.Is(err, ErrSelfApproval) {
		t.Fatalf("admin as requester: %v", err)
	}
	// Withdrawing one's own request is allowed.
	if _, err := b.Decide(req.ID, false, Reviewer{Name: "alice"}, "oops"); err != nil {
		t.Fatalf("self deny: %v", err)
	}

	allowed := testBroker(t, config.Approvals{AllowSelfApproval: true}, BrokerOptions{})
	req = submit(t, allowed, "alice")
	if _, err := allowed.Decide(req.ID, true, Reviewer{Name: "alice"}, ""); err != nil {
		t.Fatalf("self approve when allowed: %v", err)
	}
}

func TestBrokerReviewers(t *testing.T) {
	cfg := config.Approvals{Reviewers: config.Reviewers{Groups: []string{"reviewers"}, Identities: []string{"carol"}}}
	b := testBroker(t, cfg, BrokerOptions{})
	req := submit(t, b, "alice")
	cases := []struct {
		who  Reviewer
		want error
	}{
		{Reviewer{Name: "bob", Groups: []string{"developers"}}, ErrNotReviewer},
		{Reviewer{Name: "bob"}, ErrNotReviewer},
		{Reviewer{Name: "", Admin: true}, ErrReviewerName},
		{Reviewer{Name: ""}, ErrNotReviewer},
	}
	for _, c := range cases {
		if _, err := b.Decide(req.ID, true, c.who, ""); !errors.Is(err, c.want) {
			t.Errorf("Decide by %+v: %v, want %v", c.who, err, c.want)
		}
	}
	for _, who := range []Reviewer{
		{Name: "dave", Groups: []string{"developers", "reviewers"}},
		{Name: "carol"},
		{Name: "ops-oncall", Admin: true},
	} {
		r := submit(t, b, "alice")
		if _, err := b.Decide(r.ID, true, who, ""); err != nil {
			t.Errorf("Decide by %+v: %v", who, err)
		}
	}
}

func TestBrokerCloseDeniesPending(t *testing.T) {
	b := NewBroker(config.Approvals{}, BrokerOptions{})
	reqs := []ApprovalRequest{submit(t, b, "alice"), submit(t, b, "bob")}
	var wg sync.WaitGroup
	outs := make([]Outcome, len(reqs))
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = b.Wait(context.Background(), r.ID)
		}()
	}
	b.Close()
	wg.Wait()
	for i, o := range outs {
		if o.Approved {
			t.Fatalf("request %d approved after Close: %+v", i, o)
		}
	}
	if _, err := b.Submit(ApprovalRequest{Identity: "alice"}); !errors.Is(err, ErrBrokerClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	b.Close() // idempotent
}

func TestBrokerKeepsBoundedHistory(t *testing.T) {
	b := testBroker(t, config.Approvals{}, BrokerOptions{})
	var last string
	for range keepDecided + 20 {
		r := submit(t, b, "alice")
		if _, err := b.Decide(r.ID, false, Reviewer{Name: "bob"}, ""); err != nil {
			t.Fatal(err)
		}
		last = r.ID
	}
	recent := b.Recent()
	if len(recent) != keepDecided || recent[0].Request.ID != last {
		t.Fatalf("Recent: %d entries, newest %q, want %d and %q", len(recent), recent[0].Request.ID, keepDecided, last)
	}
}

// TestBrokerConcurrent races waiters, cancellations, decisions and the
// timeout against each other; run with -race.
func TestBrokerConcurrent(t *testing.T) {
	b := testBroker(t, config.Approvals{Timeout: config.Duration{Duration: 20 * time.Millisecond}}, BrokerOptions{})
	var wg sync.WaitGroup
	for i := range 200 {
		req := submit(t, b, "alice")
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*time.Millisecond)
		wg.Add(3)
		go func() { defer wg.Done(); defer cancel(); b.Wait(ctx, req.ID) }()
		go func() { defer wg.Done(); b.Wait(context.Background(), req.ID) }()
		go func() { defer wg.Done(); _, _ = b.Decide(req.ID, i%2 == 0, Reviewer{Name: "bob"}, "") }()
	}
	wg.Wait()
	if n := len(b.Pending()); n != 0 {
		t.Fatalf("%d requests still pending", n)
	}
}

// BenchmarkDecisionToWake measures Submit -> Decide -> Wait returns.
func BenchmarkDecisionToWake(b *testing.B) {
	br := testBroker(b, config.Approvals{}, BrokerOptions{})
	var worst time.Duration
	for b.Loop() {
		req, err := br.Submit(ApprovalRequest{Identity: "alice", Statement: "DELETE FROM t"})
		if err != nil {
			b.Fatal(err)
		}
		woke := make(chan time.Time, 1)
		go func() {
			br.Wait(context.Background(), req.ID)
			woke <- time.Now()
		}()
		decided := time.Now()
		if _, err := br.Decide(req.ID, true, Reviewer{Name: "bob"}, ""); err != nil {
			b.Fatal(err)
		}
		if lat := (<-woke).Sub(decided); lat > worst {
			worst = lat
		}
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
	if worst > 50*time.Millisecond {
		b.Fatalf("decision-to-wake worst case %v, want well under 50ms", worst)
	}
}
