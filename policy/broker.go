package policy

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/config"
)

// ApprovalRequest is a held statement or command waiting for a reviewer.
type ApprovalRequest struct {
	ID        string    `json:"id"`
	Session   string    `json:"session"`
	Protocol  string    `json:"protocol"`
	Target    string    `json:"target"`
	Identity  string    `json:"identity"`
	Groups    []string  `json:"groups,omitempty"`
	Statement string    `json:"statement"`
	Rule      string    `json:"rule"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

// Outcome is how an approval request ended.
type Outcome struct {
	Approved  bool   `json:"approved"`
	Reviewer  string `json:"reviewer,omitempty"`
	Reason    string `json:"reason,omitempty"`
	TimedOut  bool   `json:"timed_out,omitempty"`
	Cancelled bool   `json:"cancelled,omitempty"`
}

// Reviewer is who decides an approval.
type Reviewer struct {
	Name   string
	Groups []string
	// Admin is true for the admin token (Name then comes from --as).
	Admin bool
}

// BrokerOptions configure a Broker.
type BrokerOptions struct {
	Log *slog.Logger
	// OnOutcome, when set, is called once per finished request (for metrics).
	OnOutcome func(ApprovalRequest, Outcome)
}

// DecidedRequest is a finished request kept for display (approvals list, admin API).
type DecidedRequest struct {
	Request ApprovalRequest `json:"request"`
	Outcome Outcome         `json:"outcome"`
	Decided time.Time       `json:"decided"`
}

// Errors returned by Broker.Decide and Submit. Their text is safe to show a reviewer.
var (
	ErrNotFound       = errors.New("approval request not found")
	ErrAlreadyDecided = errors.New("approval request was already decided")
	ErrSelfApproval   = errors.New("reviewers may not approve their own requests")
	ErrNotReviewer    = errors.New("not an approvals reviewer")
	ErrReviewerName   = errors.New("the admin token must name the reviewer (--as NAME)")
	ErrBrokerClosed   = errors.New("approval broker is shut down")
)

// keepDecided is how many finished requests stay visible after their end.
const keepDecided = 100

// pendingRequest is one undecided request. done is closed exactly once, after
// outcome is set, so any number of waiters wake without a send that could
// block on a waiter that already left.
type pendingRequest struct {
	req     ApprovalRequest
	done    chan struct{}
	outcome Outcome
	timer   *time.Timer
}

// Broker holds statements and commands that wait for a reviewer.
type Broker struct {
	cfg  config.Approvals
	opts BrokerOptions
	log  *slog.Logger
	hook *webhook

	// hookCtx ends outstanding webhook posts on Close; hooks tracks them.
	hookCtx    context.Context
	hookCancel context.CancelFunc
	hooks      sync.WaitGroup

	mu      sync.Mutex
	pending map[string]*pendingRequest
	decided []DecidedRequest // oldest first, at most keepDecided
	closed  bool
}

// NewBroker creates a broker for the approvals config.
func NewBroker(cfg config.Approvals, opts BrokerOptions) *Broker {
	if cfg.Timeout.Duration <= 0 {
		cfg.Timeout.Duration = config.DefaultApprovalTimeout
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Broker{
		cfg:        cfg,
		opts:       opts,
		log:        log,
		hook:       newWebhook(cfg.Webhook, log),
		hookCtx:    ctx,
		hookCancel: cancel,
		pending:    map[string]*pendingRequest{},
	}
}

// idEncoding is lower-case base32 without padding: ids are easy to type.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns 8 characters (40 random bits).
func newID() (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("approval id: %w", err)
	}
	return idEncoding.EncodeToString(b[:]), nil
}

// Submit files a request (assigning ID, Created, Expires) and fires the webhook asynchronously.
func (b *Broker) Submit(req ApprovalRequest) (ApprovalRequest, error) {
	now := time.Now()
	req.Created = now
	req.Expires = now.Add(b.cfg.Timeout.Duration)
	req.Groups = slices.Clone(req.Groups)
	p := &pendingRequest{done: make(chan struct{})}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return req, ErrBrokerClosed
	}
	for {
		id, err := newID()
		if err != nil {
			b.mu.Unlock()
			return req, err
		}
		if _, taken := b.pending[id]; !taken {
			req.ID = id
			break
		}
	}
	p.req = req
	b.pending[req.ID] = p
	id := req.ID
	// The timer is the deadline whether or not anyone waits.
	p.timer = time.AfterFunc(b.cfg.Timeout.Duration, func() {
		b.finish(id, Outcome{TimedOut: true, Reason: fmt.Sprintf("no decision within %s", b.cfg.Timeout.Duration)})
	})
	if b.hook != nil {
		b.hooks.Add(1)
		go func() {
			defer b.hooks.Done()
			defer func() {
				// The message is built from the statement: a bug there
				// must not take the gateway down. The request still
				// waits for a decision through the admin API.
				if p := recover(); p != nil {
					b.log.Error("approval webhook panicked: a bug in sluice", "approval", id,
						"panic", p, "stack", string(debug.Stack()))
				}
			}()
			b.hook.notify(b.hookCtx, req)
		}()
	}
	b.mu.Unlock()

	b.log.Info("approval requested", "approval", req.ID, "identity", req.Identity,
		"target", req.Target, "session", req.Session, "rule", req.Rule)
	return req, nil
}

// Wait blocks until the request is decided, times out (deny), or ctx is done
// (cancelled: the request is withdrawn and can no longer be approved).
func (b *Broker) Wait(ctx context.Context, id string) Outcome {
	b.mu.Lock()
	p, ok := b.pending[id]
	if !ok {
		out, found := b.decidedLocked(id)
		b.mu.Unlock()
		if found {
			return out
		}
		return Outcome{Reason: ErrNotFound.Error()}
	}
	b.mu.Unlock()

	select {
	case <-p.done:
		return p.outcome
	case <-ctx.Done():
		b.finish(id, Outcome{Cancelled: true, Reason: "the client stopped waiting"})
		// finish lost the race when a decision landed first; either way done is closed now.
		<-p.done
		return p.outcome
	}
}

// Pending lists undecided requests, oldest first.
func (b *Broker) Pending() []ApprovalRequest {
	b.mu.Lock()
	out := make([]ApprovalRequest, 0, len(b.pending))
	for _, p := range b.pending {
		out = append(out, p.req)
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y ApprovalRequest) int { return x.Created.Compare(y.Created) })
	return out
}

// Recent lists finished requests still kept, newest first.
func (b *Broker) Recent() []DecidedRequest {
	b.mu.Lock()
	out := slices.Clone(b.decided)
	b.mu.Unlock()
	slices.Reverse(out)
	return out
}

// Decide approves or denies a pending request.
//
// A requester may not approve their own request unless
// approvals.allow_self_approval is set; denying it (withdrawing) is allowed
// to anyone who may decide. When approvals.reviewers is set only those
// identities and groups may decide; the admin token always may, but must name
// the reviewer.
func (b *Broker) Decide(id string, approve bool, who Reviewer, reason string) (Outcome, error) {
	if who.Name == "" {
		if who.Admin {
			return Outcome{}, ErrReviewerName
		}
		return Outcome{}, ErrNotReviewer
	}
	b.mu.Lock()
	p, ok := b.pending[id]
	if !ok {
		_, found := b.decidedLocked(id)
		b.mu.Unlock()
		if found {
			return Outcome{}, ErrAlreadyDecided
		}
		return Outcome{}, ErrNotFound
	}
	requester := p.req.Identity
	b.mu.Unlock()

	if approve && who.Name == requester && !b.cfg.AllowSelfApproval {
		return Outcome{}, ErrSelfApproval
	}
	if !who.Admin && !b.isReviewer(who) {
		return Outcome{}, ErrNotReviewer
	}
	out := Outcome{Approved: approve, Reviewer: who.Name, Reason: reason}
	if !b.finish(id, out) {
		return Outcome{}, ErrAlreadyDecided
	}
	return out, nil
}

func (b *Broker) isReviewer(who Reviewer) bool {
	r := b.cfg.Reviewers
	if len(r.Groups) == 0 && len(r.Identities) == 0 {
		return true
	}
	if slices.Contains(r.Identities, who.Name) {
		return true
	}
	for _, g := range who.Groups {
		if slices.Contains(r.Groups, g) {
			return true
		}
	}
	return false
}

// Close denies every pending request (gateway shutdown) and ends outstanding webhook posts.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	ids := make([]string, 0, len(b.pending))
	for id := range b.pending {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	for _, id := range ids {
		b.finish(id, Outcome{Reason: "the gateway is shutting down"})
	}
	b.hookCancel()
	b.hooks.Wait()
}

// finish ends a pending request with out exactly once. It reports whether
// this call ended it (false: it was already finished).
func (b *Broker) finish(id string, out Outcome) bool {
	b.mu.Lock()
	p, ok := b.pending[id]
	if !ok {
		b.mu.Unlock()
		return false
	}
	delete(b.pending, id)
	p.timer.Stop()
	p.outcome = out
	close(p.done)
	b.decided = append(b.decided, DecidedRequest{Request: p.req, Outcome: out, Decided: time.Now()})
	if len(b.decided) > keepDecided {
		b.decided = slices.Delete(b.decided, 0, len(b.decided)-keepDecided)
	}
	b.mu.Unlock()

	b.log.Info("approval finished", "approval", id, "approved", out.Approved, "reviewer", out.Reviewer,
		"timed_out", out.TimedOut, "cancelled", out.Cancelled)
	if b.opts.OnOutcome != nil {
		b.opts.OnOutcome(p.req, out)
	}
	return true
}

func (b *Broker) decidedLocked(id string) (Outcome, bool) {
	for i := len(b.decided) - 1; i >= 0; i-- {
		if b.decided[i].Request.ID == id {
			return b.decided[i].Outcome, true
		}
	}
	return Outcome{}, false
}

// OutcomeLabel names an outcome for metrics and query-log decisions:
// approved, denied, timeout or cancelled.
func OutcomeLabel(o Outcome) string {
	switch {
	case o.Approved:
		return "approved"
	case o.TimedOut:
		return "timeout"
	case o.Cancelled:
		return "cancelled"
	default:
		return "denied"
	}
}
