package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerExposesCounters(t *testing.T) {
	m := New()
	m.Decisions.WithLabelValues("postgres", "appdb", "block", "no-drops").Inc()
	m.Sessions.WithLabelValues("postgres", "appdb", "closed").Inc()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`sluice_decisions_total{action="block",protocol="postgres",rule="no-drops",target="appdb"} 1`,
		`sluice_sessions_total{protocol="postgres",status="closed",target="appdb"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}
