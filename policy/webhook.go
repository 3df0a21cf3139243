package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Webhook delivery limits: a slow or dead receiver must never hold a session.
const (
	webhookAttempts       = 3
	webhookAttemptTimeout = 5 * time.Second
	webhookBackoff        = 250 * time.Millisecond
	// webhookStatementMax bounds the statement text in a notification.
	webhookStatementMax = 600
)

// webhook posts Slack-compatible notifications of new approval requests.
// The URL is treated as a secret (Slack webhook URLs carry a token): it is
// never logged, and transport errors are logged without it.
type webhook struct {
	url     string
	client  *http.Client
	log     *slog.Logger
	backoff time.Duration
}

func newWebhook(rawURL string, log *slog.Logger) *webhook {
	if strings.TrimSpace(rawURL) == "" {
		return nil
	}
	return &webhook{
		url:     rawURL,
		client:  &http.Client{Timeout: webhookAttemptTimeout},
		log:     log,
		backoff: webhookBackoff,
	}
}

// slackMessage is the incoming-webhook body: text for plain receivers and
// notifications, blocks for Slack's layout.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks,omitempty"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// webhookMessage builds the notification for req.
func webhookMessage(req ApprovalRequest) slackMessage {
	stmt := truncate(req.Statement, webhookStatementMax)
	approve := "sluice approve " + req.ID
	deny := "sluice deny " + req.ID
	text := fmt.Sprintf("Sluice approval %s: %s on %s (%s), rule %s: %s — run `%s` or `%s` (expires %s)",
		req.ID, req.Identity, req.Target, req.Protocol, req.Rule, oneLine(stmt), approve, deny,
		req.Expires.UTC().Format(time.RFC3339))
	header := fmt.Sprintf("*Approval %s*: *%s* on *%s* (%s), rule *%s*",
		slackEscape(req.ID), slackEscape(req.Identity), slackEscape(req.Target),
		slackEscape(req.Protocol), slackEscape(req.Rule))
	return slackMessage{
		Text: text,
		Blocks: []slackBlock{
			{Type: "section", Text: &slackText{Type: "mrkdwn", Text: header}},
			{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "```" + codeSafe(slackEscape(stmt)) + "```"}},
			{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: fmt.Sprintf(
				"Approve: `%s`   Deny: `%s`   Expires %s", approve, deny, req.Expires.UTC().Format(time.RFC3339))}}},
		},
	}
}

// notify posts the notification, retrying transient failures a few times.
// It gives up quietly (a log line) when ctx ends or attempts run out.
func (w *webhook) notify(ctx context.Context, req ApprovalRequest) {
	body, err := json.Marshal(webhookMessage(req))
	if err != nil {
		w.log.Error("approval webhook: encoding", "approval", req.ID, "err", err)
		return
	}
	delay := w.backoff
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return
		}
		w.log.Warn("approval webhook failed", "approval", req.ID, "attempt", attempt, "err", err)
		if !retry || attempt == webhookAttempts {
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay *= 2
	}
}

// post makes one attempt; retry says whether a later attempt may succeed.
func (w *webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, webhookAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error embeds the URL (a secret); keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded), fmt.Errorf("posting: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	transient := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	return transient, fmt.Errorf("receiver answered %d", resp.StatusCode)
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// slackEscape escapes the three characters Slack's mrkdwn treats as control.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// codeSafe keeps a statement from closing its code block early.
func codeSafe(s string) string {
	return strings.ReplaceAll(s, "```", "'''")
}
