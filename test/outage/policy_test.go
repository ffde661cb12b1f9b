package outage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/server"
	"github.com/bulwark-k8s/bulwark/test/framework"
)

// The last good policy of these tests is recognisable: image tags are enforced, which the nsa
// profile only warns about. Falling back to a default would admit a :latest image.
const (
	enforcedTags = `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
checks:
  image-tag: {action: enforce}
`
	warnedTags = `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
checks:
  image-tag: {action: warn}
  host-network: {action: warn}
`
)

// lastGoodInForce checks that the enforcedTags policy still decides.
func lastGoodInForce(t *testing.T, r *replica, hash string) {
	t.Helper()
	e := expect{what: "a :latest image", path: validate, ns: "default", pod: latestPod("nightly"), message: "[image-tag]"}
	if err := e.check(r); err != nil {
		t.Errorf("the last good policy is not in force: %v", err)
	}
	if got, generation := r.policyInForce(t); got != hash {
		t.Errorf("bulwark_policy_info hash %s (generation %s), want the last good %s", got, generation, hash)
	}
	if code, body := r.probe(r.readyz + "?verbose"); code != http.StatusOK {
		t.Errorf("/readyz %d: %s", code, body)
	}
}

// waitEvent waits for an Event with reason on the ConfigMap name whose note holds every want,
// recorded at or after since, and returns its note.
func waitEvent(t *testing.T, name, reason string, since time.Time, want ...string) string {
	t.Helper()
	var seen []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		list, err := admin.EventsV1().Events(ownNamespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen = seen[:0]
		for _, e := range list.Items {
			if e.Regarding.Kind != "ConfigMap" || e.Regarding.Name != name || e.Reason != reason || eventTime(e).Before(since.Truncate(time.Second)) {
				continue
			}
			seen = append(seen, e.Note)
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(e.Note, w)
			}
			if ok {
				return e.Note
			}
		}
	}
	t.Fatalf("no %s Event on ConfigMap %s/%s holding %q after 30s; notes seen: %q", reason, ownNamespace, name, want, seen)
	return ""
}

func eventTime(e eventsv1.Event) time.Time {
	if e.Series != nil {
		return e.Series.LastObservedTime.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.DeprecatedLastTimestamp.Time
}

// waitCounter waits until the counter series exceeds before and returns its value.
func waitCounter(t *testing.T, r *replica, series string, before float64) float64 {
	t.Helper()
	var v float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if v = r.metric(t, series); v > before {
			return v
		}
	}
	text, _ := r.scrape()
	t.Fatalf("%s stayed at %.0f after 30s:\n%s", series, v, framework.LinesWithPrefix(text, "bulwark_policy"))
	return 0
}

// waitLogLine waits until the output holds a JSON line with msg and reason whose error field
// holds every want.
func waitLogLine(t *testing.T, r *replica, msg, reason string, want ...string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, raw := range strings.Split(r.logs.String(), "\n") {
			var l struct{ Level, Msg, Reason, Error string }
			if json.Unmarshal([]byte(raw), &l) != nil || l.Msg != msg || l.Reason != reason {
				continue
			}
			ok := l.Level == "error"
			for _, w := range want {
				ok = ok && strings.Contains(l.Error, w)
			}
			if ok {
				return
			}
		}
	}
	t.Fatalf("%s logged no error %q (reason %s) holding %q", r.name, msg, reason, want)
}

// waitWatching waits until the replica has compared its policy ConfigMap with the policy it
// started with (counted as unchanged), which it does once its cache of the ConfigMap has
// synced: after that, each change is a change from the policy it started with.
func waitWatching(t *testing.T, r *replica) {
	t.Helper()
	took := time.Now()
	waitCounter(t, r, reloadsSame, 0)
	t.Logf("%s: watching its policy ConfigMap %s after ready", r.name, ms(time.Since(took)))
}

const (
	reloadsMissing = `bulwark_policy_reloads_total{result="missing"}`
	reloadsInvalid = `bulwark_policy_reloads_total{result="invalid"}`
	reloadsSuccess = `bulwark_policy_reloads_total{result="success"}`
	reloadsSame    = `bulwark_policy_reloads_total{result="unchanged"}`
)

// TestPolicyConfigMapDeleted: deleting the policy ConfigMap, the moment the replica turns
// ready, leaves the last good policy in force (not a default), and says so in the log, in bulwark_policy_reloads_total{result=
// "missing"} and in an Event; a replica that starts meanwhile refuses to start without its
// policy; re-creating the ConfigMap puts its policy in force, and re-creating it with the
// policy already in force is accepted quietly.
func TestPolicyConfigMapDeleted(t *testing.T) {
	const name = "policy-deleted"
	ctx := context.Background()
	createPolicy(t, name, enforcedTags)
	r := startReplica(t, "bulwark serve", replicaOptions{PolicyConfigMap: name, Args: []string{"--audit-interval=0"}})
	r.waitReady(t, 60*time.Second)
	good := hashOf(t, enforcedTags)

	// Deleted the moment the replica turns ready.
	before := r.metric(t, reloadsMissing)
	deleted := time.Now()
	if err := admin.CoreV1().ConfigMaps(ownNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, r, reloadsMissing, before)
	t.Logf("deletion counted %s after the delete", ms(time.Since(deleted)))
	msg := fmt.Sprintf("policy ConfigMap %s/%s was deleted; the last good policy (hash %s) stays in force", ownNamespace, name, good)
	waitLogLine(t, r, "policy not loaded", "PolicyMissing", msg)
	note := waitEvent(t, name, "PolicyMissing", deleted, msg)
	t.Logf("Event PolicyMissing on the deleted ConfigMap: %s", note)
	lastGoodInForce(t, r, good)

	// A replica (re)started now has no policy to start with.
	late := startReplica(t, "bulwark serve started without its ConfigMap", replicaOptions{PolicyConfigMap: name})
	select {
	case <-late.done:
	case <-time.After(60 * time.Second):
		t.Fatal("a replica started without its policy ConfigMap is still running after 60s")
	}
	want := fmt.Sprintf("bulwark serve: policy ConfigMap %s/%s not found: create it, or start with --profile or --policy-file", ownNamespace, name)
	if out := strings.TrimSpace(late.logs.String()); late.exitErr == nil || !strings.Contains(out, want) {
		t.Errorf("a replica started without its ConfigMap: %v, %q; want exit status 1 and %q", late.exitErr, lastLines(out, 2), want)
	}

	// Re-created with another policy: in force, as generation 2.
	successes := r.metric(t, reloadsSuccess)
	recreated := time.Now()
	createPolicy(t, name, warnedTags)
	waitCounter(t, r, reloadsSuccess, successes)
	t.Logf("the re-created ConfigMap's policy in force %s after the create", ms(time.Since(recreated)))
	if hash, generation := r.policyInForce(t); hash != hashOf(t, warnedTags) || generation != "2" {
		t.Errorf("bulwark_policy_info hash %s generation %s, want %s generation 2", hash, generation, hashOf(t, warnedTags))
	}
	waitEvent(t, name, "PolicyLoaded", recreated, "generation 2) is in force")
	e := expect{what: "a :latest image under the re-created policy", path: validate, ns: "default", pod: latestPod("nightly"), allowed: true, warning: "[image-tag]"}
	if err := e.check(r); err != nil {
		t.Error(err)
	}

	// Deleted and re-created with the policy in force: nothing changes, nothing to report.
	before = r.metric(t, reloadsMissing)
	if err := admin.CoreV1().ConfigMaps(ownNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, r, reloadsMissing, before)
	same := r.metric(t, reloadsSame)
	createPolicy(t, name, warnedTags)
	waitCounter(t, r, reloadsSame, same)
	if hash, generation := r.policyInForce(t); hash != hashOf(t, warnedTags) || generation != "2" {
		t.Errorf("after re-creating the same policy: hash %s generation %s, want %s generation 2", hash, generation, hashOf(t, warnedTags))
	}
}

// TestPolicyConfigMapDeletedBeforeWatch: the policy ConfigMap is read at start and deleted
// before the replica's watch first lists it. The list finds nothing and so sends no event; the
// replica must notice all the same, once its cache has synced, and report it as it reports any
// deletion, with the policy it started with in force and /readyz 200. server.Run runs in this
// process, so that the deletion falls exactly between the read and the list.
func TestPolicyConfigMapDeletedBeforeWatch(t *testing.T) {
	const name = "policy-deleted-at-start"
	ctx := context.Background()
	createPolicy(t, name, enforcedTags)
	logs := &framework.LogBuffer{}
	log := zapr.NewLogger(zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), logs, zapcore.InfoLevel)))
	ctrl.SetLogger(log)
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ownNamespace, Name: name}
	snap, err := server.LoadConfigMap(ctx, c, key)
	if err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	if err := admin.CoreV1().ConfigMaps(ownNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	port, metricsPort, probePort := framework.FreePortT(t), framework.FreePortT(t), framework.FreePortT(t)
	r := &replica{
		name: "server.Run", port: port, logs: logs, done: make(chan struct{}),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		readyz:  fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort),
	}
	r.setTrust(certPool)
	runCtx, cancel := context.WithCancel(ctx)
	go func() {
		r.exitErr = server.Run(runCtx, server.Options{
			RestConfig: cfg, Host: "127.0.0.1", Port: port, CertDir: certDir,
			Policy: snap, PolicyConfigMap: &key, OwnNamespace: ownNamespace,
			MetricsAddr: "127.0.0.1:" + strconv.Itoa(metricsPort), ProbeAddr: "127.0.0.1:" + strconv.Itoa(probePort),
			ShutdownTimeout: 5 * time.Second, Log: log.WithName("bulwark"),
		})
		r.exitedAt = time.Now()
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Errorf("server.Run still running 30s after its context ended")
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", r.name, r.logs.String())
		}
	})
	r.waitReady(t, 60*time.Second)
	waitCounter(t, r, reloadsMissing, 0)
	t.Logf("deletion counted %s after the delete", ms(time.Since(deleted)))
	good := hashOf(t, enforcedTags)
	msg := fmt.Sprintf("policy ConfigMap %s/%s was deleted; the last good policy (hash %s) stays in force", ownNamespace, name, good)
	waitLogLine(t, r, "policy not loaded", "PolicyMissing", msg)
	note := waitEvent(t, name, "PolicyMissing", deleted, msg)
	t.Logf("Event PolicyMissing on the deleted ConfigMap: %s", note)
	lastGoodInForce(t, r, good)
	if n := r.metric(t, reloadsSame); n != 0 {
		t.Errorf("%s = %.0f: a ConfigMap that is gone was counted as unchanged", reloadsSame, n)
	}
}

// TestPolicyConfigMapCorrupted: every way a ConfigMap update can break the policy (YAML that
// does not parse, a wrong field, a wrong type, another kind of document, an empty document,
// the key misspelled, the policy under binaryData) is refused: the last good policy stays in
// force and /readyz stays 200, and the refusal is logged, counted and recorded as an Event
// naming the line (or the key) at fault. A valid policy written afterwards is put in force.
func TestPolicyConfigMapCorrupted(t *testing.T) {
	const name = "policy-corrupted"
	ctx := context.Background()
	createPolicy(t, name, enforcedTags)
	r := startReplica(t, "bulwark serve", replicaOptions{PolicyConfigMap: name, Args: []string{"--audit-interval=0"}})
	r.waitReady(t, 60*time.Second)
	waitWatching(t, r)
	good := hashOf(t, enforcedTags)
	lastGoodInForce(t, r, good)
	source := fmt.Sprintf("ConfigMap %s/%s", ownNamespace, name)

	for _, tc := range []struct {
		name   string
		data   map[string]string
		binary map[string][]byte
		reason string   // the Event's reason
		metric string   // the reload result counted
		want   []string // in the log line and the Event's note
	}{
		{
			name:   "YAML that does not parse",
			data:   map[string]string{policy.ConfigMapKey: "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nchecks:\n  host-network: {action: enforce\n"},
			reason: "PolicyInvalid", metric: reloadsInvalid,
			want: []string{"invalid policy " + source, `line 4: yaml: did not find expected ',' or '}'`},
		},
		{
			name:   "an unknown action",
			data:   map[string]string{policy.ConfigMapKey: "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nprofile: nsa\nchecks:\n  host-network:\n    action: allow\n"},
			reason: "PolicyInvalid", metric: reloadsInvalid,
			want: []string{`line 6: checks.host-network.action: unknown action "allow"`},
		},
		{
			name:   "a list where a string belongs",
			data:   map[string]string{policy.ConfigMapKey: "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nprofile: [nsa]\n"},
			reason: "PolicyInvalid", metric: reloadsInvalid,
			want: []string{"line 3: profile: expected a string, found a list"},
		},
		{
			name:   "another kind of document",
			data:   map[string]string{policy.ConfigMapKey: "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"},
			reason: "PolicyInvalid", metric: reloadsInvalid,
			want: []string{`line 1: apiVersion: got "v1", want "bulwark.dev/v1alpha1"`, `line 2: kind: got "Pod", want "Policy"`},
		},
		{
			name:   "an empty document",
			data:   map[string]string{policy.ConfigMapKey: ""},
			reason: "PolicyInvalid", metric: reloadsInvalid,
			want: []string{`line 1: apiVersion: got "", want "bulwark.dev/v1alpha1"`},
		},
		{
			name:   "the key misspelled",
			data:   map[string]string{"policy.yml": warnedTags},
			reason: "PolicyMissing", metric: reloadsMissing,
			want: []string{fmt.Sprintf(`policy %s has no data key "policy.yaml"`, source)},
		},
		{
			name:   "the policy under binaryData",
			binary: map[string][]byte{policy.ConfigMapKey: []byte(warnedTags)},
			reason: "PolicyInvalid", metric: reloadsInvalid,
			want: []string{fmt.Sprintf(`policy %s holds "policy.yaml" under binaryData`, source), "UTF-8 text"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm, err := admin.CoreV1().ConfigMaps(ownNamespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cm.Data, cm.BinaryData = tc.data, tc.binary
			before := r.metric(t, tc.metric)
			written := time.Now()
			if _, err := admin.CoreV1().ConfigMaps(ownNamespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			waitCounter(t, r, tc.metric, before)
			counted := time.Since(written)
			waitLogLine(t, r, "policy not loaded", tc.reason, append([]string{"stays in force"}, tc.want...)...)
			note := waitEvent(t, name, tc.reason, written, append([]string{"stays in force"}, tc.want...)...)
			t.Logf("refused and counted %s after the update; Event %s: %s", ms(counted), tc.reason, strings.ReplaceAll(note, "\n", " | "))
			lastGoodInForce(t, r, good)
		})
	}

	// Repaired: the valid policy is put in force.
	successes := r.metric(t, reloadsSuccess)
	setPolicy(t, name, warnedTags)
	waitCounter(t, r, reloadsSuccess, successes)
	if hash, _ := r.policyInForce(t); hash != hashOf(t, warnedTags) {
		t.Errorf("the repaired policy is not in force: hash %s, want %s", hash, hashOf(t, warnedTags))
	}
	if err := (expect{what: "a :latest image after the repair", path: validate, ns: "default", pod: latestPod("nightly"), allowed: true, warning: "[image-tag]"}).check(r); err != nil {
		t.Error(err)
	}
}
