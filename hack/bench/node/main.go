// Command node measures what Bulwark's webhooks add to a pod's start on a real node: the time
// from the create call to the pod Running, as the client sees it (the watch event), for pods
// created one after the other, with Bulwark's webhook configurations registered and without,
// in alternating rounds of one run on the same node. Admission is a few milliseconds of a
// start that takes most of a second (sandbox, CNI, runc), so the rounds alternate to spread
// the machine's drift over both.
//
//	go run ./hack/bench/node --binary bin/bulwark --images .local/images/test.tar
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

func main() {
	binary := flag.String("binary", "bin/bulwark", "the bulwark binary (make build)")
	images := flag.String("images", ".local/images/test.tar", "the test images (make test-images)")
	pods := flag.Int("pods", 100, "pods per configuration and round")
	rounds := flag.Int("rounds", 2, "rounds; each creates -pods pods without Bulwark and -pods with it")
	limits := flag.Bool("limits", false, "give the pods Bulwark's default limits (cpu 500m, memory 512Mi) in both configurations, to tell the limits' cost at start from admission's")
	flag.Parse()
	if err := run(*binary, *images, *pods, *rounds, *limits); err != nil {
		fmt.Fprintln(os.Stderr, "node bench:", err)
		os.Exit(1)
	}
}

func run(binary, images string, pods, rounds int, limits bool) error {
	n, err := framework.StartNode(framework.NodeOptions{Images: []string{images}, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		if err := n.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the node:", err)
		}
	}()
	b, err := n.StartBulwark(binary, "", nil)
	if err != nil {
		return err
	}
	cfg := rest.CopyConfig(n.Config)
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	results, creates := map[string][]time.Duration{}, map[string][]time.Duration{}
	for r := 1; r <= rounds; r++ {
		for _, with := range []bool{false, true} {
			name := "without Bulwark"
			if with {
				name = "with Bulwark"
			}
			if err := b.SetWebhooks(with); err != nil {
				return err
			}
			d, c, err := startPods(ctx, cs, n, pods, limits)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d, %s: to Running %s; create call %s\n", r, name, summary(d), summary(c))
			results[name] = append(results[name], d...)
			creates[name] = append(creates[name], c...)
		}
	}
	for _, m := range []struct {
		what string
		d    map[string][]time.Duration
	}{{"pod create call (admission included)", creates}, {"pod create to Running", results}} {
		fmt.Printf("%s, %d pods per configuration over %d rounds (client-observed):\n", m.what, pods*rounds, rounds)
		for _, name := range []string{"without Bulwark", "with Bulwark"} {
			fmt.Printf("  %-16s %s\n", name, summary(m.d[name]))
		}
		w, wo := m.d["with Bulwark"], m.d["without Bulwark"]
		fmt.Printf("  Bulwark adds     p50 %+.1f ms, p99 %+.1f ms\n", ms(framework.Percentile(w, 50)-framework.Percentile(wo, 50)), ms(framework.Percentile(w, 99)-framework.Percentile(wo, 99)))
	}
	return webhookMetrics(ctx, cs)
}

// webhookMetrics prints the apiserver's own view of Bulwark's webhook calls on create (the
// bench's pods, and the readiness probe's dry runs): how many, their mean duration, and the
// share under 5 ms (the histogram's first bucket).
func webhookMetrics(ctx context.Context, cs kubernetes.Interface) error {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("reading the apiserver's metrics: %w", err)
	}
	const metric = "apiserver_admission_webhook_admission_duration_seconds"
	type hist struct{ sum, count, under5ms float64 }
	by := map[string]*hist{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, metric) || !strings.Contains(line, `operation="CREATE"`) {
			continue
		}
		_, webhook, _ := strings.Cut(line, `name="`)
		webhook, _, _ = strings.Cut(webhook, `"`)
		f := strings.Fields(line)
		var v float64
		if _, err := fmt.Sscan(f[len(f)-1], &v); err != nil {
			continue
		}
		h := by[webhook]
		if h == nil {
			h = &hist{}
			by[webhook] = h
		}
		switch {
		case strings.HasPrefix(line, metric+"_sum"):
			h.sum += v
		case strings.HasPrefix(line, metric+"_count"):
			h.count += v
		case strings.Contains(line, `le="0.005"`):
			h.under5ms += v
		}
	}
	fmt.Println("apiserver-observed webhook calls on create (" + metric + "):")
	for _, name := range []string{"mutate.bulwark.dev", "validate.bulwark.dev"} {
		h := by[name]
		if h == nil || h.count == 0 {
			fmt.Printf("  %-22s no calls recorded\n", name)
			continue
		}
		fmt.Printf("  %-22s %4.0f calls, mean %.2f ms, %.1f%% under 5 ms\n", name, h.count, 1000*h.sum/h.count, 100*h.under5ms/h.count)
	}
	return nil
}

// startPods creates n pods one after the other, each once the one before is Running, and
// returns each one's time from the create call to the watch event that shows it Running;
// then it deletes them and waits until the kubelet has torn down their containers, so that
// no round starts while the last one's teardown still loads the node.
func startPods(ctx context.Context, cs kubernetes.Interface, node *framework.Node, n int, limits bool) (running, creates []time.Duration, err error) {
	w, err := cs.CoreV1().Pods("bench").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	defer w.Stop()
	for i := range n {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d-%d", time.Now().UnixNano(), i)},
			Spec: corev1.PodSpec{
				// Small requests of its own, so that a round's pods fit the node with Bulwark's
				// defaults too (they would request 100m each); the rest is left to the defaults.
				Containers: []corev1.Container{{Name: "server", Image: "bulwark.local/test/nonroot:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
					}}}},
				TerminationGracePeriodSeconds: new(int64),
			},
		}
		if limits {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi"),
			}
		}
		start := time.Now()
		if _, err := cs.CoreV1().Pods("bench").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return nil, nil, err
		}
		creates = append(creates, time.Since(start))
		if err := waitRunning(w, p.Name, time.Minute); err != nil {
			return nil, nil, err
		}
		running = append(running, time.Since(start))
	}
	zero := int64(0)
	if err := cs.CoreV1().Pods("bench").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		l, err := cs.CoreV1().Pods("bench").List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			if tasks, err := node.Tasks(); err == nil && tasks == 0 {
				return running, creates, nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return nil, nil, fmt.Errorf("the round's pods were not deleted and torn down within 2 minutes")
}

func waitRunning(w watch.Interface, name string, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("the watch ended while waiting for %s", name)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if isPod && p.Name == name && p.Status.Phase == corev1.PodRunning {
				return nil
			}
		case <-t.C:
			return fmt.Errorf("pod %s not Running within %s", name, timeout)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func summary(d []time.Duration) string {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	if len(d) == 0 {
		return "no pods"
	}
	return strings.TrimSpace(fmt.Sprintf("n=%d p50 %.1f ms  p99 %.1f ms  mean %.1f ms  max %.1f ms",
		len(d), ms(framework.Percentile(d, 50)), ms(framework.Percentile(d, 99)), ms(sum/time.Duration(len(d))), ms(framework.Percentile(d, 100))))
}
