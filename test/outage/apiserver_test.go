package outage

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tlscerts "github.com/bulwark-k8s/bulwark/pkg/certs"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// outageLength is how long the apiserver stays down: longer than a leader's renew deadline
// (10s) and lease (15s), so that whatever depends on the apiserver has had time to give up.
const outageLength = 30 * time.Second

// clientErrors counts the requests of Bulwark's Kubernetes client that got no answer.
const clientErrors = `rest_client_requests_total{code="<error>"`

// observed is what one replica did while the apiserver was down.
type observed struct {
	clientErrorsBefore, clientErrors float64
	rounds, failed                   int
	firstFailure                     string
	firstFailureAt                   time.Duration
	notReady                         int
	lastNotReady                     string
	scrapes, scrapeErr               int
	firstScrapeErr                   string
}

// TestAPIServerOutage kills the kube-apiserver under two running replicas and sends them
// AdmissionReviews straight over HTTPS while it is down: a denial, a mutation, and an allow
// that depends on a namespace label (bulwark.dev/mode=warn), all from the cached policy and
// namespaces. A production admission webhook must keep answering from that cache (the apiserver
// that calls it may be fine while the path from Bulwark to it is not, and nothing it could
// learn meanwhile is lost: the watches resume) and stay ready, reporting the errors without
// failing on them. One replica runs `bulwark serve` with certificate files; the other as the
// chart runs it, with --leader-elect and built-in TLS. A third replica started during the
// outage shows what a restarted pod does. When the apiserver is back, the namespace and
// policy caches catch up by themselves.
func TestAPIServerOutage(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "outage-plain", nil)
	createNamespace(t, "outage-warn", map[string]string{"bulwark.dev/mode": "warn"})
	createNamespace(t, "outage-strict", nil)
	// The built-in TLS replica injects its CA into these and is ready only once they trust it;
	// they select no namespace, so the apiserver never calls them (the reviews go straight).
	never := &metav1.LabelSelector{MatchLabels: map[string]string{"bulwark-outage-test/never": "true"}}
	v, m := server.WebhookConfigurations(server.WebhookOptions{ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1" + path)}
	}})
	v.Webhooks[0].NamespaceSelector, m.Webhooks[0].NamespaceSelector = never, never
	if _, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, v.Name, metav1.DeleteOptions{})
		_ = admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, m.Name, metav1.DeleteOptions{})
	})

	files := startReplica(t, "bulwark serve", replicaOptions{PolicyConfigMap: framework.PolicyConfigMap, SecureMetrics: true})
	chart := startReplica(t, "bulwark serve --leader-elect --tls-secret", replicaOptions{
		PolicyConfigMap: framework.PolicyConfigMap, BuiltinTLS: true, SecureMetrics: true, Args: []string{"--leader-elect"},
	})
	files.waitReady(t, 60*time.Second)
	chart.setTrust(waitCA(t))
	chart.waitReady(t, 90*time.Second)
	replicas := []*replica{files, chart}

	reviews := []expect{
		{what: "hostNetwork pod in outage-plain", path: validate, ns: "outage-plain", pod: hostNetworkPod("sniffer"), message: "[host-network] spec.hostNetwork"},
		{what: "mutation of a minimal pod in outage-plain", path: mutate, ns: "outage-plain", pod: minimalPod("api"), allowed: true, patch: "RuntimeDefault", warning: "seccomp"},
		{what: "hostNetwork pod in outage-warn (bulwark.dev/mode=warn)", path: validate, ns: "outage-warn", pod: hostNetworkPod("agent"), allowed: true, warning: "[host-network]"},
	}
	for _, r := range replicas {
		took := eventually(t, 30*time.Second, r.name+" answers as the policy and the namespace labels say", func() error { return checkAll(r, reviews) })
		// Readiness covers the webhook, not the metrics listener, which may open a moment later.
		eventually(t, 10*time.Second, r.name+" serves its metrics before the outage", func() error { _, err := r.scrape(); return err })
		t.Logf("%s: answers as expected %s after ready", r.name, ms(took))
	}

	// The outage.
	logMark := map[*replica]int{}
	obs := map[*replica]*observed{}
	for _, r := range replicas {
		logMark[r] = len(r.logs.String())
		text, _ := r.scrape()
		obs[r] = &observed{clientErrorsBefore: sumMetric(text, clientErrors)}
	}
	holder := leaseHolder(t)
	stopped := crashAPIServer(t)
	late := startReplica(t, "bulwark serve started during the outage", replicaOptions{PolicyConfigMap: framework.PolicyConfigMap})
	for time.Since(stopped) < outageLength {
		for _, r := range replicas {
			if r.exited() {
				continue
			}
			o := obs[r]
			o.rounds++
			if err := checkAll(r, reviews); err != nil {
				o.failed++
				if o.firstFailure == "" {
					o.firstFailure, o.firstFailureAt = err.Error(), time.Since(stopped)
				}
			}
			if code, body := r.probe(r.readyz + "?verbose"); code != http.StatusOK {
				o.notReady++
				o.lastNotReady = fmt.Sprintf("%d %s", code, body)
			}
			o.scrapes++
			text, err := r.scrape()
			if err != nil {
				o.scrapeErr++
				if o.firstScrapeErr == "" {
					o.firstScrapeErr = fmt.Sprintf("%s after the stop: %v", ms(time.Since(stopped)), err)
				}
			} else {
				o.clientErrors = sumMetric(text, clientErrors)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	select {
	case <-late.done:
	case <-time.After(45 * time.Second):
		t.Errorf("%s neither started nor gave up within %s of the outage", late.name, ms(time.Since(stopped)))
	}

	// The apiserver comes back.
	restarted := time.Now()
	restartMark := len(chart.logs.String())
	if err := env.ControlPlane.APIServer.Start(); err != nil {
		t.Fatalf("restarting kube-apiserver: %v", err)
	}
	t.Logf("kube-apiserver back (healthy) %s after the restart began, %s after the stop", ms(time.Since(restarted)), ms(time.Since(stopped)))
	for _, r := range replicas {
		o := obs[r]
		outage := r.logs.String()[logMark[r]:]
		t.Logf("%s during the outage: %d rounds of %d reviews, %d with a wrong or missing answer (first %s: %s); /readyz not 200 %d times (%s); %d of %d scrapes failed (%s); %s grew by %.0f; %d error lines logged, first: %s; apiserver lines at info: %s",
			r.name, o.rounds, len(reviews), o.failed, ms(o.firstFailureAt), o.firstFailure, o.notReady, o.lastNotReady,
			o.scrapeErr, o.scrapes, o.firstScrapeErr, clientErrors, o.clientErrors-o.clientErrorsBefore,
			strings.Count(outage, `"level":"error"`), firstLine(outage, `"level":"error"`), firstLine(outage, "watch ended with error"))
		if r.exited() {
			t.Logf("%s exited %s after the stop: %v; its last lines:\n%s", r.name, ms(r.exitedAt.Sub(stopped)), r.exitErr, lastLines(r.logs.String(), 6))
		}
	}

	// What the running replicas learn once the apiserver is back: a label change, a new
	// namespace, a policy change, each through its watch.
	label := func(ns, mode string) {
		n, err := admin.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels["bulwark.dev/mode"] = mode
		if _, err := admin.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	label("outage-plain", "warn")
	createNamespace(t, "after-outage", map[string]string{"bulwark.dev/mode": "off"})
	setPolicy(t, framework.PolicyConfigMap, enforcedTags)
	t.Cleanup(func() { setPolicy(t, framework.PolicyConfigMap, framework.DefaultPolicy) })
	changed := time.Now()
	after := []expect{
		{what: "hostNetwork pod in outage-plain, now labelled warn", path: validate, ns: "outage-plain", pod: hostNetworkPod("sniffer"), allowed: true, warning: "[host-network]"},
		{what: "hostNetwork pod in after-outage (mode off), created after the restart", path: validate, ns: "after-outage", pod: hostNetworkPod("sniffer"), allowed: true},
		{what: "a :latest image in outage-strict, after image-tag was enforced", path: validate, ns: "outage-strict", pod: latestPod("nightly"), message: "[image-tag]"},
	}

	t.Run(files.name, func(t *testing.T) {
		o := obs[files]
		if files.exited() {
			t.Fatalf("exited during the outage (%s after the stop): %v\n%s", ms(files.exitedAt.Sub(stopped)), files.exitErr, lastLines(files.logs.String(), 6))
		}
		if o.failed > 0 {
			t.Errorf("%d of %d rounds got a wrong or no answer; first, %s after the stop: %s", o.failed, o.rounds, ms(o.firstFailureAt), o.firstFailure)
		}
		if o.notReady > 0 {
			t.Errorf("/readyz was not 200 %d times during the outage: %s", o.notReady, o.lastNotReady)
		}
		// client-go retries a watch refused by the apiserver quietly (at log verbosity 4); the
		// failed requests are counted in its metrics, which the scrapes kept reading.
		if o.clientErrors <= o.clientErrorsBefore {
			t.Errorf("%s did not grow during the outage (%.0f before, %.0f during)", clientErrors, o.clientErrorsBefore, o.clientErrors)
		}
		for _, e := range after {
			eventually(t, 90*time.Second, e.what, func() error { return e.check(files) })
			t.Logf("%s: as expected %s after the change was written (%s after the apiserver came back)", e.what, ms(time.Since(changed)), ms(time.Since(restarted)))
		}
		hash, generation := files.policyInForce(t)
		if want := hashOf(t, enforcedTags); hash != want {
			t.Errorf("bulwark_policy_info hash %s, want %s (generation %s)", hash, want, generation)
		}
	})

	t.Run(chart.name, func(t *testing.T) {
		o := obs[chart]
		if chart.exited() {
			t.Errorf("exited %s after the apiserver stopped (%v): a replica must keep serving from its cache while the apiserver is away; the Deployment's pods would restart and then fail to load the policy until it is back. Last lines:\n%s",
				ms(chart.exitedAt.Sub(stopped)), chart.exitErr, lastLines(chart.logs.String(), 6))
		}
		if o.failed > 0 {
			t.Errorf("%d of %d rounds got a wrong or no answer; first, %s after the stop: %s", o.failed, o.rounds, ms(o.firstFailureAt), o.firstFailure)
		}
		if o.notReady > 0 {
			t.Errorf("/readyz was not 200 %d times during the outage: %s", o.notReady, o.lastNotReady)
		}
		if chart.exited() {
			return
		}
		for _, e := range after {
			eventually(t, 90*time.Second, e.what, func() error { return e.check(chart) })
		}
		// The leader-only work stopped when the Lease could not be renewed, saying so, and
		// resumed under a new term once the apiserver was back.
		during := chart.logs.String()[logMark[chart]:restartMark]
		if line := firstLine(during, `"msg":"leader-only work stopped`); !strings.Contains(line, `"lease":"`+ownNamespace+"/"+server.LeaderElectionID+`"`) {
			t.Errorf("no log line says that the leader-only work stopped, naming the Lease %s/%s: %s", ownNamespace, server.LeaderElectionID, line)
		}
		// Once, for the lost Lease: the next term campaigns until the apiserver is back.
		if n := strings.Count(during, `"msg":"leader-only work stopped`); n > 1 {
			t.Errorf("the leader-only work stopped %d times during the outage, want once; the first of the others: %s", n,
				firstLine(during[strings.Index(during, `"msg":"leader-only work stopped`)+1:], `"msg":"leader-only work stopped`))
		}
		took := eventually(t, 90*time.Second, "the Lease won again after the outage", func() error {
			l, err := admin.CoordinationV1().Leases(ownNamespace).Get(ctx, server.LeaderElectionID, metav1.GetOptions{})
			switch {
			case err != nil:
				return err
			case l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || *l.Spec.HolderIdentity == holder:
				return fmt.Errorf("held by %q, before the outage by %q", ptr.Deref(l.Spec.HolderIdentity, ""), holder)
			case l.Spec.RenewTime == nil || l.Spec.RenewTime.Time.Before(restarted):
				return fmt.Errorf("held by %q, last renewed %v, before the apiserver came back", *l.Spec.HolderIdentity, l.Spec.RenewTime)
			}
			return nil
		})
		eventually(t, 30*time.Second, "the leader's certificate controller running again", func() error {
			for _, l := range strings.Split(chart.logs.String()[restartMark:], "\n") {
				if strings.Contains(l, `"msg":"Starting workers"`) && strings.Contains(l, `"controller":"tls-certificates"`) {
					return nil
				}
			}
			return errors.New("controller tls-certificates has not started its workers since the apiserver came back")
		})
		t.Logf("the Lease won again %s after the checks above (%s after the apiserver came back)", ms(took), ms(time.Since(restarted)))
	})

	t.Run(late.name, func(t *testing.T) {
		// It cannot start: the policy is in the ConfigMap it cannot read. It must say so and
		// exit (the kubelet restarts it), not serve without a policy.
		if !late.exited() {
			t.Fatal("still running")
		}
		out := late.logs.String()
		t.Logf("exited %s after the apiserver stopped (%v): %s", ms(late.exitedAt.Sub(stopped)), late.exitErr, strings.TrimSpace(lastLines(out, 1)))
		if late.exitErr == nil {
			t.Error("exit status 0")
		}
		if !strings.Contains(out, "ConfigMap "+ownNamespace+"/"+framework.PolicyConfigMap) || !strings.Contains(out, "connection refused") {
			t.Errorf("the error does not name the policy ConfigMap and the apiserver's refusal:\n%s", lastLines(out, 3))
		}
	})
}

// leaseHolder is the holder of the leader's Lease, which the --leader-elect replica holds
// alone.
func leaseHolder(t *testing.T) string {
	t.Helper()
	var holder string
	eventually(t, 30*time.Second, "the Lease "+server.LeaderElectionID+" held", func() error {
		l, err := admin.CoordinationV1().Leases(ownNamespace).Get(context.Background(), server.LeaderElectionID, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if holder = ptr.Deref(l.Spec.HolderIdentity, ""); holder == "" {
			return errors.New("no holder")
		}
		return nil
	})
	return holder
}

// crashAPIServer kills the kube-apiserver (SIGKILL, as a crash or a lost node: its
// connections drop at once and new ones are refused) and returns when. envtest's own Stop is a
// graceful shutdown that drains for up to 20s while still answering some requests, which would
// blur when the outage begins.
func crashAPIServer(t *testing.T) time.Time {
	t.Helper()
	u, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := childProcess("kube-apiserver", "--secure-port="+u.Port())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing kube-apiserver (pid %d): %v", pid, err)
	}
	at := time.Now()
	// envtest notices that its process is gone, so that Start runs it again.
	if err := env.ControlPlane.APIServer.Stop(); err != nil {
		t.Fatalf("kube-apiserver killed, but envtest does not see it stopped: %v", err)
	}
	return at
}

// childProcess finds the process of this test process running binary with arg.
func childProcess(binary, arg string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) != binary || !slices.Contains(args, arg) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s %s started by this test (pid %d)", binary, arg, os.Getpid())
}

// waitCA waits for the built-in TLS Secret and returns a pool of its CA bundle.
func waitCA(t *testing.T) *x509.CertPool {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s, err := admin.CoreV1().Secrets(ownNamespace).Get(context.Background(), "bulwark-tls", metav1.GetOptions{})
		if err != nil {
			continue
		}
		if st := tlscerts.ParseSecret(s.Data); st.Serving != nil {
			pool := x509.NewCertPool()
			for _, c := range st.Bundle {
				pool.AddCert(c)
			}
			return pool
		}
	}
	t.Fatal("no built-in TLS Secret with a serving certificate after 60s")
	return nil
}

// setPolicy replaces the policy document of the ConfigMap name.
func setPolicy(t *testing.T, name, doc string) {
	t.Helper()
	ctx := context.Background()
	cm, err := admin.CoreV1().ConfigMaps(ownNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{policy.ConfigMapKey: doc}
	cm.BinaryData = nil
	if _, err := admin.CoreV1().ConfigMaps(ownNamespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// sumMetric adds up the samples whose series starts with prefix.
func sumMetric(text, prefix string) float64 {
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum
}

func firstLine(text, substr string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return "(none)"
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
