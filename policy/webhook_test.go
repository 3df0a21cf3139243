package policy

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
)

// TestWebhookPostsSlackMessage runs a real HTTP receiver standing in for Slack.
func TestWebhookPostsSlackMessage(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []slackMessage
		calls  atomic.Int32
	)
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The first attempt fails transiently; the retry must deliver.
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		var m slackMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("decode: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		got <- struct{}{}
	}))
	defer srv.Close()

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	secretURL := srv.URL + "/services/T000/B000/secrettoken"
	b := NewBroker(config.Approvals{Webhook: secretURL}, BrokerOptions{Log: log})
	b.hook.backoff = time.Millisecond
	long := "DELETE FROM users WHERE note = '" + strings.Repeat("x", 2000) + "'"
	req, err := b.Submit(ApprovalRequest{Identity: "alice", Target: "appdb", Protocol: "postgres",
		Rule: "bulk-writes", Statement: long})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("webhook not delivered")
	}
	b.Close()

	mu.Lock()
	m := bodies[0]
	mu.Unlock()
	for _, want := range []string{req.ID, "alice", "appdb", "bulk-writes", "sluice approve " + req.ID, "sluice deny " + req.ID} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text %q lacks %q", m.Text, want)
		}
	}
	if len(m.Text) > 1200 {
		t.Errorf("statement not truncated: text is %d bytes", len(m.Text))
	}
	if len(m.Blocks) != 3 || m.Blocks[0].Type != "section" {
		t.Errorf("blocks = %+v", m.Blocks)
	}
	if strings.Contains(logs.String(), "secrettoken") {
		t.Errorf("webhook URL leaked into logs: %s", logs.String())
	}
}

func TestWebhookGivesUpWithoutLeakingURL(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	w := newWebhook(srv.URL+"/hook/secrettoken", slog.New(slog.NewTextHandler(&logs, nil)))
	w.backoff = time.Millisecond
	w.notify(t.Context(), ApprovalRequest{ID: "abcd2345"})
	if n := calls.Load(); n != webhookAttempts {
		t.Fatalf("attempts = %d, want %d", n, webhookAttempts)
	}
	// A dead receiver (connection refused) is logged without its URL.
	dead := newWebhook("http://127.0.0.1:1/hook/secrettoken", slog.New(slog.NewTextHandler(&logs, nil)))
	dead.backoff = time.Millisecond
	dead.notify(t.Context(), ApprovalRequest{ID: "abcd2345"})
	if strings.Contains(logs.String(), "secrettoken") {
		t.Fatalf("webhook URL leaked into logs: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "approval webhook failed") {
		t.Fatalf("failure not logged: %s", logs.String())
	}
}

func TestWebhookMessageEscapes(t *testing.T) {
	m := webhookMessage(ApprovalRequest{ID: "x", Identity: "<!channel>", Statement: "select '```' & 1"})
	if strings.Contains(m.Blocks[0].Text.Text, "<!channel>") {
		t.Fatal("mrkdwn control characters not escaped")
	}
	if strings.Count(m.Blocks[1].Text.Text, "```") != 2 {
		t.Fatalf("code block broken: %q", m.Blocks[1].Text.Text)
	}
}
