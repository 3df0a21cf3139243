package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// FuzzAdminRequest feeds arbitrary query strings and JSON bodies to the
// handlers that decode them: nothing panics, and bad input is a 4xx, never a 5xx.
func FuzzAdminRequest(f *testing.F) {
	for _, seed := range []struct{ query, body string }{
		{"target=appdb&limit=5", `{"reason":"ok","as":"oncall"}`},
		{"since=2h", `{"reason":`},
		{"since=2026-01-01T00:00:00Z&limit=0", `[]`},
		{"limit=99999999999999999999", `{"as":"` + strings.Repeat("x", 300) + `"}`},
		{"%zz", "\x00\xff"},
	} {
		f.Add(seed.query, seed.body)
	}
	g := newTestGateway(f, config.Approvals{})
	h := g.srv.Config.Handler
	f.Fuzz(func(t *testing.T, query, body string) {
		for _, target := range []string{"/api/sessions", "/api/approvals/someid/approve", "/api/approvals/someid/deny", "/api/sessions/x/kill"} {
			method := http.MethodPost
			if target == "/api/sessions" {
				method = http.MethodGet
			}
			// The raw query is set directly: the server parses it, whatever bytes it holds.
			req := httptest.NewRequest(method, "http://gw"+target, strings.NewReader(body))
			req.URL.RawQuery = query
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s with body %q: %d %s", method, target, body, rec.Code, rec.Body.String())
			}
		}
	})
}
