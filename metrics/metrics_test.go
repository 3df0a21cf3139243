package metrics

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
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

// TestDecisionCounters: cached counters count into the vector under the
// right labels, from many goroutines at once; nil counts nothing.
func TestDecisionCounters(t *testing.T) {
	m := New()
	d := m.DecisionCounters("mysql", "shop")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				d.Inc("allow", "")
				if i%10 == 0 {
					d.Inc("block", fmt.Sprintf("rule-%d", g%2))
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range []struct {
		action, rule string
		want         float64
	}{{"allow", "", 800}, {"block", "rule-0", 40}, {"block", "rule-1", 40}} {
		if got := testutil.ToFloat64(m.Decisions.WithLabelValues("mysql", "shop", c.action, c.rule)); got != c.want {
			t.Errorf("%s/%s = %v, want %v", c.action, c.rule, got, c.want)
		}
	}
	var none *Metrics
	none.DecisionCounters("mysql", "shop").Inc("allow", "") // must not panic
}
