package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ImageLookup results.
const (
	ImageHit     = "hit"
	ImageFetched = "fetched"
	ImageError   = "error"
	ImageTimeout = "timeout"
)

// ImagePrometheus records image lookups (pkg/images) in Prometheus collectors.
type ImagePrometheus struct {
	lookups  *prometheus.CounterVec
	duration prometheus.Histogram
}

// NewImagePrometheus creates the image lookup collectors and registers them on reg.
func NewImagePrometheus(reg prometheus.Registerer) (*ImagePrometheus, error) {
	p := &ImagePrometheus{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_image_lookups_total",
			Help: "Image lookups for the mutation, by result: hit (from the cache), fetched (from the registry), error (the registry refused or could not be reached), timeout (the request's time budget ran out first; the lookup goes on and fills the cache).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bulwark_image_lookup_duration_seconds",
			Help:    "Time a registry round trip of an image lookup took (fetched and error), background time after a timeout included.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
	}
	for _, c := range []prometheus.Collector{p.lookups, p.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{ImageHit, ImageFetched, ImageError, ImageTimeout} {
		p.lookups.WithLabelValues(r)
	}
	return p, nil
}

// ImageLookup counts one lookup; d is the registry round trip of fetched and error.
func (p *ImagePrometheus) ImageLookup(result string, d time.Duration) {
	p.lookups.WithLabelValues(result).Inc()
	if result == ImageFetched || result == ImageError {
		p.duration.Observe(d.Seconds())
	}
}
