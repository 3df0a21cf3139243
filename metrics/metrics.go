// Package metrics holds the gateway's Prometheus counters. One Metrics value
// is created per gateway and handed to every engine; nothing is global.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's counters and gauges.
type Metrics struct {
	reg *prometheus.Registry

	Sessions       *prometheus.CounterVec // protocol, target, status
	ActiveSessions *prometheus.GaugeVec   // protocol, target
	Decisions      *prometheus.CounterVec // protocol, target, action, rule
	Bytes          *prometheus.CounterVec // protocol, target, direction (in|out)
	AuthFailures   *prometheus.CounterVec // protocol, reason
	Approvals      *prometheus.CounterVec // outcome
}

// New registers the gateway metrics on a fresh registry.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.Sessions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_sessions_total", Help: "Sessions ended, by protocol, target and final status.",
	}, []string{"protocol", "target", "status"})
	m.ActiveSessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_active_sessions", Help: "Sessions currently open.",
	}, []string{"protocol", "target"})
	m.Decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_decisions_total", Help: "Policy decisions, by action and rule.",
	}, []string{"protocol", "target", "action", "rule"})
	m.Bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_bytes_total", Help: "Bytes relayed, by direction (in = client to upstream).",
	}, []string{"protocol", "target", "direction"})
	m.AuthFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_auth_failures_total", Help: "Failed client authentications.",
	}, []string{"protocol", "reason"})
	m.Approvals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_approvals_total", Help: "Approval requests by outcome.",
	}, []string{"outcome"})
	m.reg.MustRegister(m.Sessions, m.ActiveSessions, m.Decisions, m.Bytes, m.AuthFailures, m.Approvals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
