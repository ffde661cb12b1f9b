package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reload results.
const (
	ReloadSuccess   = "success"
	ReloadInvalid   = "invalid"   // the document did not parse or validate; the last good policy stays
	ReloadMissing   = "missing"   // the ConfigMap or its policy.yaml key is gone; the last good policy stays
	ReloadUnchanged = "unchanged" // the ConfigMap changed but the effective policy did not
)

// PolicyRecorder receives what happens to the policy in force.
type PolicyRecorder interface {
	// Reload counts one attempt to load the policy, by result.
	Reload(result string)
	// Loaded publishes the policy now in force: where it came from, its content hash and the
	// generation (1 for the policy loaded at start, one more for every change since).
	Loaded(source, hash string, generation int64, at time.Time)
	// ExemptionExpired counts a request that matched an exemption past its expiry.
	ExemptionExpired(exemption string)
}

// PolicyPrometheus is a PolicyRecorder backed by Prometheus collectors.
type PolicyPrometheus struct {
	mu       sync.Mutex
	reloads  *prometheus.CounterVec
	info     *prometheus.GaugeVec
	lastGood prometheus.Gauge
	expired  *prometheus.CounterVec
}

// NewPolicyPrometheus creates the policy collectors and registers them on reg.
func NewPolicyPrometheus(reg prometheus.Registerer) (*PolicyPrometheus, error) {
	p := &PolicyPrometheus{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_policy_reloads_total",
			Help: "Attempts to load the policy from its ConfigMap, by result: success, unchanged, invalid (the last good policy stays in force), missing.",
		}, []string{"result"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_policy_info",
			Help: "The policy in force: always 1, with its source, content hash and generation, so that replicas can be compared.",
		}, []string{"source", "hash", "generation"}),
		lastGood: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bulwark_policy_last_load_success_timestamp_seconds",
			Help: "Unix time at which the policy in force was loaded.",
		}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_policy_expired_exemptions_total",
			Help: "Requests that matched an exemption after its expiry date, so the exemption no longer applied, by exemption name.",
		}, []string{"exemption"}),
	}
	var err error
	if p.reloads, err = register(reg, p.reloads); err != nil {
		return nil, err
	}
	if p.info, err = register(reg, p.info); err != nil {
		return nil, err
	}
	if p.lastGood, err = register(reg, p.lastGood); err != nil {
		return nil, err
	}
	if p.expired, err = register(reg, p.expired); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PolicyPrometheus) Reload(result string) { p.reloads.WithLabelValues(result).Inc() }

func (p *PolicyPrometheus) Loaded(source, hash string, generation int64, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info.Reset() // one series: the policy in force
	p.info.WithLabelValues(source, hash, strconv.FormatInt(generation, 10)).Set(1)
	p.lastGood.Set(float64(at.UnixNano()) / 1e9)
}

func (p *PolicyPrometheus) ExemptionExpired(exemption string) {
	p.expired.WithLabelValues(exemption).Inc()
}
