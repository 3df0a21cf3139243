package ssh

import (
	"context"
	"fmt"

	"github.com/sluice-gw/sluice/policy"
)

// verdict is the outcome of judging one command line.
type verdict struct {
	allowed bool
	rule    string
	message string // stderr text for the client when not allowed
}

// judgement says where a command line came from and who hears of a hold.
type judgement struct {
	kind   string                  // event kind: exec | command (a line typed in a shell)
	onHold func(approvalID string) // called before waiting on a reviewer; may be nil
}

var execJudgement = judgement{kind: "exec"}

func (c *clientConn) subject() policy.Subject {
	return policy.Subject{
		Target:   c.target.Name,
		Protocol: c.protocol(),
		Identity: c.id.Name,
		Groups:   c.id.Groups,
		Session:  c.sess.ID(),
	}
}

// judgeCommand decides an exec command line: allow, block, or hold it for a
// reviewer while the client simply waits. Every decision is recorded.
func (c *clientConn) judgeCommand(ctx context.Context, command string, j judgement) verdict {
	d := checkCommand(c.e.deps.Policies.For(c.target.Name), c.subject(), command)
	return c.judge(ctx, d, "command", command, j)
}

// judgeForward decides a port forward to dest ("host:port") the same way.
func (c *clientConn) judgeForward(ctx context.Context, dest string) verdict {
	d := c.e.deps.Policies.For(c.target.Name).CheckForward(c.subject(), dest)
	return c.judge(ctx, d, "destination", dest, judgement{kind: "direct-tcpip"})
}

// judge applies a policy decision about one unit (a command line, a
// forward destination), recording it as an event with field=what.
func (c *clientConn) judge(ctx context.Context, d policy.Decision, field, what string, j judgement) verdict {
	c.e.deps.Metrics.Decisions.WithLabelValues(c.protocol(), c.target.Name, d.Action.String(), d.Rule).Inc()
	switch d.Action {
	case policy.Allow:
		c.logEvent(j.kind, map[string]any{field: what, "decision": "allow", "rule": d.Rule})
		return verdict{allowed: true}
	case policy.Block:
		c.logEvent(j.kind, map[string]any{field: what, "decision": "block", "rule": d.Rule})
		return verdict{rule: d.Rule, message: blockedMessage(d.Rule, d.Message)}
	}
	req, err := c.e.deps.Broker.Submit(policy.ApprovalRequest{
		Session: c.sess.ID(), Protocol: c.protocol(), Target: c.target.Name,
		Identity: c.id.Name, Groups: c.id.Groups, Statement: what, Rule: d.Rule,
	})
	if err != nil {
		c.log.Error("submitting approval", "err", err)
		c.logEvent(j.kind, map[string]any{field: what, "decision": "review-error", "rule": d.Rule})
		return verdict{rule: d.Rule, message: blockedMessage(d.Rule, "this needs a review, which is unavailable right now")}
	}
	c.logEvent("review", map[string]any{field: what, "approval": req.ID, "rule": d.Rule})
	if j.onHold != nil {
		j.onHold(req.ID)
	}
	out := c.e.deps.Broker.Wait(ctx, req.ID)
	decision := "review-denied"
	switch {
	case out.Approved:
		decision = "review-approved"
	case out.TimedOut:
		decision = "review-timeout"
	case out.Cancelled:
		decision = "review-cancelled"
	}
	c.logEvent(j.kind, map[string]any{field: what, "decision": decision, "rule": d.Rule,
		"approval": req.ID, "reviewer": out.Reviewer, "reason": out.Reason})
	if out.Approved {
		return verdict{allowed: true}
	}
	why := fmt.Sprintf("approval %s was denied", req.ID)
	if out.TimedOut {
		why = fmt.Sprintf("approval %s timed out", req.ID)
	}
	if out.Reason != "" {
		why += ": " + out.Reason
	}
	return verdict{rule: d.Rule, message: blockedMessage(d.Rule, why)}
}

// checkCommand asks the policy about a command line; nil policy allows.
func checkCommand(p *policy.Policy, sub policy.Subject, command string) policy.Decision {
	if p == nil {
		return policy.Decision{Action: policy.Allow}
	}
	return p.CheckCommand(sub, command)
}
