// Package metrics records Bulwark's admission decisions. Labels are bounded: webhook, resource,
// operation, decision, check, action and mutation default. Never names, namespaces or UIDs.
package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Decision values.
const (
	Allowed = "allowed"
	Denied  = "denied"
	Skipped = "skipped" // not evaluated: delete, other subresource, unchanged pod template
	Errored = "error"
)

// Recorder receives what the admission handlers decided.
type Recorder interface {
	// Decision counts one answered request and observes how long evaluation took.
	Decision(webhook, resource, operation, decision string, took time.Duration)
	// Violation counts one violated check with its action.
	Violation(check, action, resource string)
	// Mutation counts one field set by a mutation default.
	Mutation(def string)
	// Refused counts one request answered before it could be evaluated (too large, over the
	// body budget, unreadable), by reason: as a decision "error" and in the refusals.
	Refused(webhook, reason string)
}

// Nop records nothing.
type Nop struct{}

func (Nop) Decision(string, string, string, string, time.Duration) {}
func (Nop) Violation(string, string, string)                       {}
func (Nop) Mutation(string)                                        {}
func (Nop) Refused(string, string)                                 {}

// Prometheus is a Recorder backed by Prometheus collectors.
type Prometheus struct {
	decisions  *prometheus.CounterVec
	violations *prometheus.CounterVec
	mutations  *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// NewPrometheus creates the collectors and registers them on reg (controller-runtime's
// metrics.Registry in the server).
func NewPrometheus(reg prometheus.Registerer) (*Prometheus, error) {
	p := &Prometheus{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_admission_decisions_total",
			Help: "Admission requests answered, by webhook (validate, mutate), resource, operation and decision (allowed, denied, skipped, error).",
		}, []string{"webhook", "resource", "operation", "decision"}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_check_violations_total",
			Help: "Check violations found at admission, by check ID, action (enforce, warn, audit) and resource.",
		}, []string{"check", "action", "resource"}),
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_mutations_total",
			Help: "Fields set by the mutating webhook, by mutation default.",
		}, []string{"default"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_admission_refusals_total",
			Help: "Admission requests answered before evaluation, by webhook and reason (too_large, body_budget, slow_body, read, empty_body, content_type, decode, not_a_review, client_cert); each also counts as decision=\"error\" with resource and operation \"unknown\".",
		}, []string{"webhook", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bulwark_admission_evaluation_duration_seconds",
			Help:    "Time to evaluate one admission request inside Bulwark (decoding, checks, patch), by webhook.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5},
		}, []string{"webhook"}),
	}
	var err error
	if p.decisions, err = register(reg, p.decisions); err != nil {
		return nil, err
	}
	if p.violations, err = register(reg, p.violations); err != nil {
		return nil, err
	}
	if p.mutations, err = register(reg, p.mutations); err != nil {
		return nil, err
	}
	if p.refusals, err = register(reg, p.refusals); err != nil {
		return nil, err
	}
	if p.latency, err = register(reg, p.latency); err != nil {
		return nil, err
	}
	return p, nil
}

// register registers c, or returns the identical collector already registered (a second
// server in the same process shares the first one's series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (p *Prometheus) Decision(webhook, resource, operation, decision string, took time.Duration) {
	p.decisions.WithLabelValues(webhook, resource, operation, decision).Inc()
	p.latency.WithLabelValues(webhook).Observe(took.Seconds())
}

func (p *Prometheus) Violation(check, action, resource string) {
	p.violations.WithLabelValues(check, action, resource).Inc()
}

func (p *Prometheus) Mutation(def string) { p.mutations.WithLabelValues(def).Inc() }

func (p *Prometheus) Refused(webhook, reason string) {
	p.decisions.WithLabelValues(webhook, "unknown", "unknown", Errored).Inc()
	p.refusals.WithLabelValues(webhook, reason).Inc()
}
