// Package scale audits a cluster of 3,000 pods: the objects are created straight through the
// apiserver (no webhook), then the audit reads and evaluates them all. The duration and the
// memory it took are printed (go test -v); they are figures, not assertions.
package scale

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
	bmetrics "github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

const (
	namespaces    = 10
	deployments   = 50 // each with one ReplicaSet of podsPerReplicaSet pods
	podsPerRS     = 20
	barePods      = 2000
	violatingEach = 3 // every third bare pod and Deployment uses hostPID
)

var cluster *framework.Cluster

func TestMain(m *testing.M) {
	framework.Main(m, "scale", func(s *framework.Suite) error {
		var err error
		cluster, err = s.StartControlPlane()
		return err
	})
}

// populate creates the namespaces, Deployments, ReplicaSets and pods with 16 clients in
// parallel and returns the number of violating Deployments and bare pods.
func populate(t *testing.T) (violatingDeployments, violatingPods int) {
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = 5000, 5000
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	for i := 0; i < namespaces; i++ {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scale-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err := framework.Parallel(16, func(submit func(func() error)) {
		for i := 0; i < deployments; i++ {
			ns, violating := fmt.Sprintf("scale-%d", i%namespaces), i%violatingEach == 0
			if violating {
				violatingDeployments++
			}
			submit(func() error {
				return framework.CreateWorkload(ctx, cs, ns, fmt.Sprintf("web-%d", i), podsPerRS, violating)
			})
		}
		for i := 0; i < barePods; i++ {
			ns, violating := fmt.Sprintf("scale-%d", i%namespaces), i%violatingEach == 0
			if violating {
				violatingPods++
			}
			submit(func() error {
				_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bare-%d", i)}, Spec: framework.ScalePodSpec(violating)}, metav1.CreateOptions{})
				return err
			})
		}
	})
	if err != nil {
		t.Fatalf("creating objects: %v", err)
	}
	return violatingDeployments, violatingPods
}

func TestAudit3000Pods(t *testing.T) {
	start := time.Now()
	violatingDeployments, violatingPods := populate(t)
	t.Logf("created %d pods (%d bare, %d in %d ReplicaSets of as many Deployments) in %d namespaces in %s",
		barePods+deployments*podsPerRS, barePods, deployments*podsPerRS, deployments, namespaces, time.Since(start).Round(time.Millisecond))

	reader, err := client.New(cluster.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.FromProfile(policy.NSA)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec, err := bmetrics.NewAuditPrometheus(reg)
	if err != nil {
		t.Fatal(err)
	}
	// With no PolicyReport CRD in this cluster, the audit writes metrics only. Reports are per
	// namespace here: this test measures the audit, not the hundreds of per-resource reports
	// its violating objects would get (written at the test client's rate limit).
	runner := audit.NewRunner(audit.RunnerOptions{
		Reader: reader, Client: reader, Policy: policy.NewHolder(snap), Interval: time.Hour, Metrics: rec, Log: logr.Discard(),
		ReportScope: audit.ScopeNamespace,
	})
	runtime.GC()
	base := framework.HeapBytes()
	sampler := framework.StartHeapSampler()
	sum, err := runner.RunOnce(context.Background(), snap)
	peak := sampler.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("audit of %d pods: %s", barePods+deployments*podsPerRS, sum)
	t.Logf("audit took %s (%.0f objects/s); live heap peaked at %.1f MiB, %.1f MiB above the %.1f MiB before it",
		sum.Took.Round(time.Millisecond), float64(sum.Stats.Total())/sum.Took.Seconds(),
		float64(peak)/(1<<20), float64(peak-min(peak, base))/(1<<20), float64(base)/(1<<20))

	s := sum.Stats
	checks := []struct {
		what      string
		got, want int
	}{
		{"bare pods evaluated", s.Evaluated["Pod"], barePods},
		{"pods counted against their workload", s.Owned["Pod"], deployments * podsPerRS},
		{"ReplicaSets counted against their Deployment", s.Owned["ReplicaSet"], deployments},
		{"Deployments evaluated", s.Evaluated["Deployment"], deployments},
		{"violating bare pods", s.Violating["Pod"], violatingPods},
		{"violating Deployments", s.Violating["Deployment"], violatingDeployments},
		// Every namespace of the cluster is read too (the namespace checks): the test's, and the
		// apiserver's own (default, kube-public, kube-node-lease, kube-system).
		{"objects read", s.Total(), barePods + deployments*(podsPerRS+2) + s.Evaluated["Namespace"] + s.Exempt["Namespace"]},
		{"namespaces evaluated", s.Evaluated["Namespace"], namespaces + 3},
		{"reports (no CRD)", sum.Reports, -1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	// The metric counts each violating object once, by namespace and check.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hostPID, series := 0.0, 0
	for _, f := range families {
		if f.GetName() != "bulwark_audit_violations" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "check" && l.GetValue() == "host-pid" {
					hostPID += m.GetGauge().GetValue()
					series++
				}
			}
		}
	}
	if int(hostPID) != violatingPods+violatingDeployments || series != namespaces {
		t.Errorf("bulwark_audit_violations: %d host-pid series, host-pid objects %v; want %d series (one per namespace), %d objects",
			series, hostPID, namespaces, violatingPods+violatingDeployments)
	}

	// The CRD installed while Bulwark runs: the next audit writes one report per namespace
	// (each has violations: the test's their pods', and every one the namespace checks').
	crd, err := framework.RepoFile(framework.PolicyReportCRD)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(cluster.Config, envtest.CRDInstallOptions{Paths: []string{crd}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	sum, err = runner.RunOnce(context.Background(), snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with the PolicyReport CRD: %s", sum)
	if want := s.Evaluated["Namespace"]; sum.Reports != want {
		t.Errorf("reports written after the CRD was installed: %d, want %d", sum.Reports, want)
	}
	// Nothing changed: the reports are left as they are.
	sum, err = runner.RunOnce(context.Background(), snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("again, nothing changed: %s", sum)
	if want := s.Evaluated["Namespace"]; sum.Reports != want {
		t.Errorf("reports up to date: %d, want %d", sum.Reports, want)
	}
}
