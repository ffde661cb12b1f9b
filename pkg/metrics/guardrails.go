package metrics

import "github.com/prometheus/client_golang/prometheus"

// What the guardrail keeper did (bulwark_guardrail_actions_total{action}).
const (
	GuardrailCreated         = "created"          // in a namespace that had none
	GuardrailRecreated       = "recreated"        // after someone deleted it
	GuardrailUpdated         = "updated"          // to a changed policy template
	GuardrailDeletedReported = "deleted_reported" // deleted by someone, and onDelete is report
	GuardrailChangedReported = "changed_reported" // changed by someone since Bulwark wrote it
	GuardrailFailed          = "failed"           // a write the apiserver refused
)

// GuardrailRecorder receives what the guardrail keeper does.
type GuardrailRecorder interface {
	// GuardrailAction counts one action on a guardrail of kind (ResourceQuota, ...).
	GuardrailAction(kind, action string)
	// GuardrailsChanged publishes how many of Bulwark's guardrails of kind differ from what
	// Bulwark wrote.
	GuardrailsChanged(kind string, n int)
}

// NopGuardrails records nothing.
type NopGuardrails struct{}

func (NopGuardrails) GuardrailAction(string, string) {}
func (NopGuardrails) GuardrailsChanged(string, int)  {}

// GuardrailPrometheus is a GuardrailRecorder backed by Prometheus collectors.
type GuardrailPrometheus struct {
	actions *prometheus.CounterVec
	changed *prometheus.GaugeVec
}

// NewGuardrailPrometheus creates the guardrail collectors and registers them on reg.
func NewGuardrailPrometheus(reg prometheus.Registerer) (*GuardrailPrometheus, error) {
	p := &GuardrailPrometheus{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_guardrail_actions_total",
			Help: "What the leader did to the namespaces' guardrails, by kind (LimitRange, ResourceQuota, NetworkPolicy) and action: created, recreated, updated, deleted_reported, changed_reported, failed.",
		}, []string{"kind", "action"}),
		changed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_guardrails_changed",
			Help: "Guardrails Bulwark created that someone has changed since, by kind.",
		}, []string{"kind"}),
	}
	var err error
	if p.actions, err = register(reg, p.actions); err != nil {
		return nil, err
	}
	if p.changed, err = register(reg, p.changed); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *GuardrailPrometheus) GuardrailAction(kind, action string) {
	p.actions.WithLabelValues(kind, action).Inc()
}

func (p *GuardrailPrometheus) GuardrailsChanged(kind string, n int) {
	p.changed.WithLabelValues(kind).Set(float64(n))
}
