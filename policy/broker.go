package policy

import (
	"context"
	"log/slog"
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

// Broker holds statements and commands that wait for a reviewer.
// SIGNATURES ARE THE CONTRACT; bodies are placeholders until issue 3 lands.
type Broker struct{}

// NewBroker creates a broker for the approvals config.
func NewBroker(cfg config.Approvals, opts BrokerOptions) *Broker { return &Broker{} }

// Submit files a request (assigning ID, Created, Expires) and fires the webhook asynchronously.
func (b *Broker) Submit(req ApprovalRequest) (ApprovalRequest, error) { return req, nil }

// Wait blocks until the request is decided, times out (deny), or ctx is done (cancelled).
func (b *Broker) Wait(ctx context.Context, id string) Outcome { return Outcome{} }

// Pending lists undecided requests, oldest first.
func (b *Broker) Pending() []ApprovalRequest { return nil }

// Decide approves or denies a pending request.
func (b *Broker) Decide(id string, approve bool, who Reviewer, reason string) (Outcome, error) {
	return Outcome{}, nil
}

// Close denies every pending request (gateway shutdown).
func (b *Broker) Close() {}

// DecidedRequest is a finished request kept for display (approvals list, admin API).
type DecidedRequest struct {
	Request ApprovalRequest `json:"request"`
	Outcome Outcome         `json:"outcome"`
	Decided time.Time       `json:"decided"`
}
