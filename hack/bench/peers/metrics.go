package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The apiserver's histogram of the time each admission webhook call took, as it saw it.
const webhookMetric = "apiserver_admission_webhook_admission_duration_seconds"

// histogram is webhookMetric for CREATE, summed over every webhook, with its count by
// webhook name.
type histogram struct {
	buckets map[float64]float64 // cumulative count by upper bound
	sum     float64
	count   float64
	calls   map[string]float64
}

// webhookMetrics reads the histogram from the apiserver's /metrics.
func (h *harness) webhookMetrics(ctx context.Context) (histogram, error) {
	data, err := h.cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return histogram{}, fmt.Errorf("reading the apiserver's /metrics: %w", err)
	}
	return parseHistogram(string(data))
}

// parseHistogram reads webhookMetric's samples for CREATE out of the Prometheus text format.
func parseHistogram(text string) (histogram, error) {
	hist := histogram{buckets: map[float64]float64{}, calls: map[string]float64{}}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, webhookMetric+"_") {
			continue
		}
		open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
		if open < 0 || end < open {
			continue
		}
		series, labels := line[len(webhookMetric)+1:open], parseLabels(line[open+1:end])
		if labels["operation"] != "CREATE" {
			continue
		}
		value, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			return hist, fmt.Errorf("%s: %w", line, err)
		}
		switch series {
		case "bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil {
				return hist, fmt.Errorf("%s: le: %w", line, err)
			}
			hist.buckets[le] += value
		case "sum":
			hist.sum += value
		case "count":
			hist.count += value
			hist.calls[labels["name"]] += value
		}
	}
	return hist, nil
}

// parseLabels reads name="value" pairs; the values the apiserver writes here hold no commas
// or escaped quotes.
func parseLabels(s string) map[string]string {
	labels := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if ok {
			labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return labels
}

// minus is the histogram of the calls between an earlier reading and this one.
func (h histogram) minus(earlier histogram) histogram {
	d := histogram{buckets: map[float64]float64{}, calls: map[string]float64{}, sum: h.sum - earlier.sum, count: h.count - earlier.count}
	for le, n := range h.buckets {
		d.buckets[le] = n - earlier.buckets[le]
	}
	for name, n := range h.calls {
		if n -= earlier.calls[name]; n > 0 {
			d.calls[name] = n
		}
	}
	return d
}

// latency summarizes the calls for admitted pods.
func (h histogram) latency(admitted int) WebhookLatency {
	l := WebhookLatency{Calls: h.calls}
	if h.count > 0 {
		l.MeanMs = h.sum / h.count * 1000
		l.P50ms = h.quantile(0.50) * 1000
		l.P99ms = h.quantile(0.99) * 1000
	}
	if admitted > 0 {
		l.PerAdmissionMs = h.sum / float64(admitted) * 1000
	}
	return l
}

// quantile interpolates linearly within the bucket the quantile falls in, as Prometheus's
// histogram_quantile does; in the last, unbounded bucket it is that bucket's lower bound.
func (h histogram) quantile(q float64) float64 {
	var bounds []float64
	for le := range h.buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 || h.count == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		n := h.buckets[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			if n == below {
				return le
			}
			return lower + (le-lower)*(rank-below)/(n-below)
		}
		lower, below = le, n
	}
	return lower
}
