package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Audit results.
const (
	AuditSuccess = "success"
	AuditError   = "error"
)

// Object results of an audit (bulwark_audit_objects{result}).
const (
	ObjectPass   = "pass"   // evaluated, no violation
	ObjectFail   = "fail"   // evaluated, at least one violation
	ObjectExempt = "exempt" // exempt by the policy
	ObjectOwned  = "owned"  // controlled by an audited object and counted against it
)

// OtherNamespaces is the namespace label value under which the violations of the namespaces
// beyond the cardinality cap are summed.
const OtherNamespaces = "_other"

// AuditObjects keys bulwark_audit_objects.
type AuditObjects struct{ Kind, Result string }

// AuditViolations keys bulwark_audit_violations.
type AuditViolations struct{ Namespace, Check, Action string }

// AuditRecorder receives what the audit of running objects found.
type AuditRecorder interface {
	// AuditFinished counts one audit by result and observes how long it took.
	AuditFinished(result string, took time.Duration)
	// AuditPublished replaces the figures of the previous audit with those of the audit that
	// completed at at: objects by kind and result, and violating objects by namespace, check
	// and action (namespaces already capped by the caller).
	AuditPublished(at time.Time, objects map[AuditObjects]int, violations map[AuditViolations]int)
}

// NopAudit records nothing.
type NopAudit struct{}

func (NopAudit) AuditFinished(string, time.Duration) {}
func (NopAudit) AuditPublished(time.Time, map[AuditObjects]int, map[AuditViolations]int) {
}

// AuditPrometheus is an AuditRecorder backed by Prometheus collectors.
type AuditPrometheus struct {
	mu         sync.Mutex
	runs       *prometheus.CounterVec
	duration   prometheus.Histogram
	last       prometheus.Gauge
	objects    *prometheus.GaugeVec
	violations *prometheus.GaugeVec
}

// NewAuditPrometheus creates the audit collectors and registers them on reg.
func NewAuditPrometheus(reg prometheus.Registerer) (*AuditPrometheus, error) {
	p := &AuditPrometheus{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_audit_runs_total",
			Help: "Audits of the objects running in the cluster, by result (success, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bulwark_audit_duration_seconds",
			Help:    "Time one audit of the cluster took, listing included.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bulwark_audit_last_success_timestamp_seconds",
			Help: "Unix time at which the last successful audit completed.",
		}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_audit_objects",
			Help: "Objects read by the last completed audit, by kind and result: pass, fail (at least one violation), exempt, owned (counted against the workload that controls it).",
		}, []string{"kind", "result"}),
		violations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_audit_violations",
			Help: `Objects violating a check at the last completed audit, by namespace, check and action; namespaces beyond the cap are summed under namespace="_other".`,
		}, []string{"namespace", "check", "action"}),
	}
	var err error
	if p.runs, err = register(reg, p.runs); err != nil {
		return nil, err
	}
	if p.duration, err = register(reg, p.duration); err != nil {
		return nil, err
	}
	if p.last, err = register(reg, p.last); err != nil {
		return nil, err
	}
	if p.objects, err = register(reg, p.objects); err != nil {
		return nil, err
	}
	if p.violations, err = register(reg, p.violations); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *AuditPrometheus) AuditFinished(result string, took time.Duration) {
	p.runs.WithLabelValues(result).Inc()
	p.duration.Observe(took.Seconds())
}

func (p *AuditPrometheus) AuditPublished(at time.Time, objects map[AuditObjects]int, violations map[AuditViolations]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.objects.Reset()
	for k, n := range objects {
		p.objects.WithLabelValues(k.Kind, k.Result).Set(float64(n))
	}
	p.violations.Reset()
	for k, n := range violations {
		p.violations.WithLabelValues(k.Namespace, k.Check, k.Action).Set(float64(n))
	}
	p.last.Set(float64(at.UnixNano()) / 1e9)
}
