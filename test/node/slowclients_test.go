package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// Figures of the slow-body attack: 60 clients on one replica, each declaring a 7 MiB body
// and trickling it, reconnecting at most once a second when cut off, for attackFor, while
// normalWorkers send compliant pods through the apiserver (server-side dry runs). Half the
// clients send the first fastPart of their body at once, to hold as much of the body budget
// as they can, the other half only its first 4 KiB.
const (
	slowClients   = 60
	declaredBody  = 7 << 20
	fastPart      = 3 << 20
	attackFor     = 30 * time.Second
	baselineFor   = 10 * time.Second
	normalWorkers = 8
)

// slowClientsUnderLoad attacks one Bulwark pod, running under the chart's memory limit, with
// slow bodies while admission requests go on through the apiserver to both replicas. The pod
// must not restart, every admission request must succeed, and the slow clients must be cut
// off (answered slow_body) rather than held for the server's read timeout. It logs the peak
// RSS of the attacked process and the admissions' latency (docs/reliability.md).
func slowClientsUnderLoad(t *testing.T, cs *kubernetes.Clientset) {
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods(bulwarkNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=bulwark"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("listing Bulwark's pods: %v", err)
	}
	target := pods.Items[0]
	limit := target.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
	if limit.Cmp(resource.MustParse("256Mi")) != 0 {
		t.Fatalf("the Bulwark pod's memory limit is %s, want the chart's 256Mi", limit.String())
	}
	restarts := target.Status.ContainerStatuses[0].RestartCount
	pid := bulwarkPID(t, string(target.UID))
	// Writing 5 to clear_refs resets the process's peak RSS (VmHWM) to its current RSS.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
	rssBefore := procStatusMiB(t, pid, "VmRSS")
	port, err := node.Forward(net.JoinHostPort(target.Status.PodIP, "9443"))
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	// The admissions: a client without client-side rate limiting, so that the latency is the
	// apiserver's and the webhooks'.
	createNamespace(t, cs, "slow-load", nil)
	cfg := rest.CopyConfig(node.Config)
	cfg.WarningHandler, cfg.QPS = rest.NoWarnings{}, -1
	loadCS, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A 24 KiB annotation makes the review larger than the 16 KiB every body reads outside the
	// budget: these reviews need the budget the attack is after.
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "load-", Annotations: map[string]string{"example.com/notes": strings.Repeat("n", 24<<10)}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "bulwark.local/test/nonroot:1"}}},
	}
	bctx, cancel := context.WithTimeout(ctx, baselineFor)
	defer cancel()
	baseline := admissions(bctx, loadCS, "slow-load", probe, normalWorkers)
	t.Logf("admissions without the attack: %s", baseline)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dialed atomic.Int64
	var mu sync.Mutex
	answers := map[string]int{} // by HTTP status and the review's status code
	for i := range slowClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := time.Now()
				dialed.Add(1)
				first := 4 << 10
				if i%2 == 1 {
					first = fastPart
				}
				answer := trickle(addr, "slow-"+strconv.Itoa(i), first, stop)
				if answer == "" {
					return // stopped
				}
				mu.Lock()
				answers[answer]++
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-time.After(time.Second - time.Since(start)):
				}
			}
		}()
	}
	actx, cancel := context.WithTimeout(ctx, attackFor)
	defer cancel()
	load := admissions(actx, loadCS, "slow-load", probe, normalWorkers)
	close(stop)
	wg.Wait()

	t.Logf("slow clients: %d connections over %s, answered %v", dialed.Load(), attackFor, answers)
	t.Logf("admissions during the attack: %s", load)

	for _, l := range []*loadResult{baseline, load} {
		if l.failed > 0 {
			t.Errorf("%d admission requests failed; first: %v", l.failed, l.firstErr)
		}
		if len(l.latencies) < 100 {
			t.Errorf("only %d admission requests succeeded: the load did not run", len(l.latencies))
		}
	}
	if answers["200 408"] == 0 {
		t.Errorf("no slow client was cut off with slow_body (answers %v)", answers)
	}
	if n := dialed.Load(); n < 2*slowClients {
		t.Errorf("the slow clients connected %d times: they were held, not cut off and reconnecting", n)
	}
	after, err := cs.CoreV1().Pods(bulwarkNS).Get(ctx, target.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := after.Status.ContainerStatuses[0]
	if st.RestartCount != restarts {
		logs, _ := kubectl("-n", bulwarkNS, "logs", target.Name, "--previous", "--tail", "20")
		events, _ := kubectl("-n", bulwarkNS, "get", "events", "--field-selector", "involvedObject.name="+target.Name)
		t.Fatalf("the attacked pod restarted (%d restarts, was %d; last termination %+v)\nits last log lines:\n%s\nits events:\n%s",
			st.RestartCount, restarts, st.LastTerminationState.Terminated, logs, events)
	}
	t.Logf("attacked replica: RSS %.1f MiB before, peak %.1f MiB during the load and the attack (memory limit %s)",
		rssBefore, procStatusMiB(t, pid, "VmHWM"), limit.String())
}

// trickle is one slow client's connection: the headers of a POST declaring a 7 MiB body, the
// first bytes of an AdmissionReview (its uid included, then an annotation, first bytes in
// all), then a byte every 500 ms, until the server answers or closes. It returns the answer
// as "HTTP-status review-code", "closed" or the dial's error, and "" once stop is closed.
func trickle(addr, uid string, first int, stop <-chan struct{}) string {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // an attacker does not check
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid +
		`","kind":{"group":"","version":"v1","kind":"Pod"},"object":{"metadata":{"annotations":{"a":"`
	body += strings.Repeat("x", first-len(body))
	head := fmt.Sprintf("POST /validate HTTP/1.1\r\nHost: bulwark\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", declaredBody)
	if _, err := io.WriteString(c, head+body); err != nil {
		return "closed"
	}
	got := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			got <- "closed"
			return
		}
		data, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		code := "?"
		if i := strings.Index(string(data), `"code":`); i >= 0 {
			code = strings.TrimRight(string(data[i+7:min(len(data), i+10)]), ",}")
		}
		got <- strconv.Itoa(resp.StatusCode) + " " + code
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case a := <-got:
			return a
		case <-stop:
			return ""
		case <-tick.C:
			if _, err := io.WriteString(c, "x"); err != nil {
				select {
				case a := <-got:
					return a
				case <-time.After(2 * time.Second):
					return "closed"
				}
			}
		}
	}
}

// bulwarkPID finds the bulwark process of a pod among the processes of its memory cgroup.
func bulwarkPID(t *testing.T, uid string) int {
	t.Helper()
	var pid int
	_ = filepath.WalkDir(podCgroup(t, "memory", uid), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "cgroup.procs" {
			return nil
		}
		data, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(data)) {
			n, _ := strconv.Atoi(f)
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", n)); strings.TrimSpace(string(comm)) == "bulwark" {
				pid = n
				return filepath.SkipAll
			}
		}
		return nil
	})
	if pid == 0 {
		t.Fatalf("no bulwark process in the memory cgroup of pod %s", uid)
	}
	return pid
}

// procStatusMiB reads a field of /proc/PID/status, in MiB.
func procStatusMiB(t *testing.T, pid int, field string) float64 {
	t.Helper()
	v, err := framework.ProcStatusMiB(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
