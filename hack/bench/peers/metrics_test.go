package main

import (
	"math"
	"testing"
)

const before = `# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a",operation="CREATE",rejected="false",type="validating",le="0.005"} 10
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a",operation="CREATE",rejected="false",type="validating",le="0.025"} 10
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a",operation="CREATE",rejected="false",type="validating",le="+Inf"} 10
apiserver_admission_webhook_admission_duration_seconds_sum{name="a",operation="CREATE",rejected="false",type="validating"} 0.02
apiserver_admission_webhook_admission_duration_seconds_count{name="a",operation="CREATE",rejected="false",type="validating"} 10
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a",operation="UPDATE",rejected="false",type="validating",le="0.005"} 99
apiserver_admission_webhook_admission_duration_seconds_count{name="a",operation="UPDATE",rejected="false",type="validating"} 99
`

const after = `apiserver_admission_webhook_admission_duration_seconds_bucket{name="a",operation="CREATE",rejected="false",type="validating",le="0.005"} 60
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a",operation="CREATE",rejected="false",type="validating",le="0.025"} 110
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a",operation="CREATE",rejected="false",type="validating",le="+Inf"} 110
apiserver_admission_webhook_admission_duration_seconds_sum{name="a",operation="CREATE",rejected="false",type="validating"} 1.02
apiserver_admission_webhook_admission_duration_seconds_count{name="a",operation="CREATE",rejected="false",type="validating"} 110
apiserver_admission_webhook_admission_duration_seconds_bucket{name="b",operation="CREATE",rejected="true",type="admit",le="0.005"} 0
apiserver_admission_webhook_admission_duration_seconds_bucket{name="b",operation="CREATE",rejected="true",type="admit",le="0.025"} 0
apiserver_admission_webhook_admission_duration_seconds_bucket{name="b",operation="CREATE",rejected="true",type="admit",le="+Inf"} 0
apiserver_admission_webhook_admission_duration_seconds_count{name="b",operation="CREATE",rejected="true",type="admit"} 0
`

// TestWebhookLatency reads the difference of two scrapes: CREATE only, every webhook, the
// mean from the sum and the quantiles interpolated in the buckets.
func TestWebhookLatency(t *testing.T) {
	b, err := parseHistogram(before)
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseHistogram(after)
	if err != nil {
		t.Fatal(err)
	}
	l := a.minus(b).latency(50)
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("mean", l.MeanMs, 10)
	near("per admission", l.PerAdmissionMs, 20)
	// 50 of the 100 calls in the first bucket: the median is its upper bound.
	near("p50", l.P50ms, 5)
	// The 99th call is 49/50 of the way through the second bucket (5 to 25 ms).
	near("p99", l.P99ms, 5+20*49.0/50)
	if len(l.Calls) != 1 || l.Calls["a"] != 100 {
		t.Errorf("calls = %v, want a: 100 only", l.Calls)
	}
}
