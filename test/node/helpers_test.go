package node

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cfg := rest.CopyConfig(node.Config)
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// kubectl runs the real kubectl against the node and returns its combined output.
func kubectl(args ...string) (string, error) {
	out, err := node.Kubectl(args...).CombinedOutput()
	return string(out), err
}

// helm runs the real helm against the node, from the repository root.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(node.Assets, "helm"), append(args, "--kubeconfig", node.Kubeconfig)...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string, lbls map[string]string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// eventually polls cond every 250ms until it returns "" (done) or timeout passes, then fails
// with the last thing cond said.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		last = cond(ctx)
		cancel()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// podsReady is "" when exactly want pods match selector in ns and all are Running and Ready;
// otherwise it says how they stand.
func podsReady(ctx context.Context, cs kubernetes.Interface, ns string, selector map[string]string, want int) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return err.Error()
	}
	var states []string
	ready := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			states = append(states, p.Name+": terminating")
			continue
		}
		if isReady(&p) {
			ready++
			continue
		}
		states = append(states, p.Name+": "+podState(&p))
	}
	if ready == want && len(states) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d Ready; %s", ready, want, strings.Join(states, "; "))
}

func isReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podState is the phase and each container's waiting or terminated reason.
func podState(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil:
			s += fmt.Sprintf(" %s waiting %s: %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil:
			s += fmt.Sprintf(" %s terminated %s (exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		}
	}
	return s
}

// loadResult is what a run of admissions measured.
type loadResult struct {
	latencies []time.Duration // of the requests that succeeded, sorted
	failed    int
	firstErr  string
}

// sent is how many requests were sent.
func (l *loadResult) sent() int { return len(l.latencies) + l.failed }

func (l *loadResult) String() string {
	q := func(p float64) time.Duration {
		return framework.Percentile(l.latencies, p).Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("%d ok, %d failed; latency p50 %s p99 %s max %s", len(l.latencies), l.failed, q(50), q(99), q(100))
}

// admissions creates probe in namespace through the apiserver as server-side dry runs (both
// webhooks are called, nothing is stored) from workers workers until ctx ends, and returns
// what it measured. A request's own timeout is 15 s, whatever ctx does.
func admissions(ctx context.Context, cs kubernetes.Interface, namespace string, probe *corev1.Pod, workers int) *loadResult {
	var mu sync.Mutex
	res := &loadResult{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				rctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				start := time.Now()
				_, err := cs.CoreV1().Pods(namespace).Create(rctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				took := time.Since(start)
				cancel()
				mu.Lock()
				if err != nil {
					if res.failed++; res.failed == 1 {
						res.firstErr = err.Error()
					}
				} else {
					res.latencies = append(res.latencies, took)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(res.latencies)
	return res
}
