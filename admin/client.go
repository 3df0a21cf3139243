package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/session"
)

// maxErrorBody bounds how much of an error response the client reads.
const maxErrorBody = 64 << 10

// Client talks to a running gateway's admin API. It is what the CLI's
// sessions, replay, approvals, approve and deny commands use.
type Client struct {
	base string
	// authorize sets the credential on each request.
	authorize func(*http.Request)
	hc        *http.Client
}

// NewClient returns a client that authenticates with the admin token (Bearer).
// baseURL may omit the scheme ("127.0.0.1:9080" means http://127.0.0.1:9080).
func NewClient(baseURL, token string) *Client {
	return &Client{
		base:      normalizeBase(baseURL),
		authorize: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) },
		hc:        &http.Client{},
	}
}

// NewIdentityClient returns a client that authenticates as a gateway identity
// (HTTP Basic with the identity name and its token), so decisions are
// recorded under that identity's name.
func NewIdentityClient(baseURL, name, token string) *Client {
	return &Client{
		base:      normalizeBase(baseURL),
		authorize: func(r *http.Request) { r.SetBasicAuth(name, token) },
		hc:        &http.Client{},
	}
}

func normalizeBase(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return s
}

// APIError is a non-2xx answer from the admin API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("admin API: %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("admin API: %s (%d)", e.Message, e.Status)
}

// IsNotFound reports whether err is an admin API 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// SessionList is the body of GET /api/sessions.
type SessionList struct {
	Sessions []session.Record `json:"sessions"`
}

// ApprovalList is the body of GET /api/approvals.
type ApprovalList struct {
	Pending []policy.ApprovalRequest `json:"pending"`
	Recent  []policy.DecidedRequest  `json:"recent"`
}

// DecisionRequest is the body of POST /api/approvals/{id}/approve|deny.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty"`
	// As names the reviewer when the admin token is used (required then).
	As string `json:"as,omitempty"`
}

// KillRequest is the optional body of POST /api/sessions/{id}/kill.
type KillRequest struct {
	Reason string `json:"reason,omitempty"`
}

// KillResult is the body answered by POST /api/sessions/{id}/kill.
type KillResult struct {
	Killed bool `json:"killed"`
}

// errorBody is every error answer: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

// Sessions lists recorded sessions, newest first.
func (c *Client) Sessions(ctx context.Context, f session.Filter) ([]session.Record, error) {
	q := url.Values{}
	if f.Target != "" {
		q.Set("target", f.Target)
	}
	if f.Identity != "" {
		q.Set("identity", f.Identity)
	}
	if f.Protocol != "" {
		q.Set("protocol", f.Protocol)
	}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.CredentialID != "" {
		q.Set("credential", f.CredentialID)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := "/api/sessions"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out SessionList
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Sessions, nil
}

// Session returns one session's index row.
func (c *Client) Session(ctx context.Context, id string) (session.Record, error) {
	var out session.Record
	err := c.do(ctx, http.MethodGet, "/api/sessions/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Cast streams a session's terminal recording as asciicast v2. The caller closes it.
func (c *Client) Cast(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/sessions/"+url.PathEscape(id)+"/cast", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Kill ends a live session; it reports whether the session was live.
func (c *Client) Kill(ctx context.Context, id, reason string) (bool, error) {
	var out KillResult
	err := c.do(ctx, http.MethodPost, "/api/sessions/"+url.PathEscape(id)+"/kill", KillRequest{Reason: reason}, &out)
	return out.Killed, err
}

// Approvals lists pending and recently decided approval requests.
func (c *Client) Approvals(ctx context.Context) (ApprovalList, error) {
	var out ApprovalList
	err := c.do(ctx, http.MethodGet, "/api/approvals", nil, &out)
	return out, err
}

// Approve approves a pending request. as names the reviewer when the admin token is used.
func (c *Client) Approve(ctx context.Context, id, reason, as string) (policy.Outcome, error) {
	return c.decide(ctx, id, "approve", reason, as)
}

// Deny denies a pending request. as names the reviewer when the admin token is used.
func (c *Client) Deny(ctx context.Context, id, reason, as string) (policy.Outcome, error) {
	return c.decide(ctx, id, "deny", reason, as)
}

func (c *Client) decide(ctx context.Context, id, verb, reason, as string) (policy.Outcome, error) {
	var out policy.Outcome
	err := c.do(ctx, http.MethodPost, "/api/approvals/"+url.PathEscape(id)+"/"+verb,
		DecisionRequest{Reason: reason, As: as}, &out)
	return out, err
}

// do sends a JSON request and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin API %s %s: decoding answer: %w", method, path, err)
	}
	return nil
}

// send performs the request; a non-2xx answer becomes an *APIError.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("admin API: encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	c.authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API unreachable at %s: %w", c.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var eb errorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if json.Unmarshal(raw, &eb) != nil {
		eb.Error = strings.TrimSpace(string(raw))
	}
	return nil, &APIError{Status: resp.StatusCode, Message: eb.Error}
}
