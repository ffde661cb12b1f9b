package kustomize

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/pkg/server"
)

// applied matches a line kubectl apply prints: "deployment.apps/bulwark created (server dry run)".
var applied = regexp.MustCompile(`^(\S+) (created|configured|unchanged)( \(server dry run\))?$`)

// applyResults runs kubectl apply with args and returns what it did per object, keyed as
// kubectl names them (kind.group/name). Any output on standard error (warnings) fails the test.
func applyResults(t *testing.T, stdin []byte, args ...string) map[string]string {
	t.Helper()
	out, stderr, err := kubectl(t, stdin, append([]string{"apply"}, args...)...)
	if err != nil {
		t.Fatalf("kubectl apply %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	if strings.TrimSpace(stderr) != "" {
		t.Errorf("kubectl apply %s printed on standard error:\n%s", strings.Join(args, " "), stderr)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := applied.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("kubectl apply %s: unexpected line %q", strings.Join(args, " "), line)
			continue
		}
		got[m[1]] = m[2] + m[3]
	}
	return got
}

// kubectlName is how kubectl apply names an object in its output.
func kubectlName(id string) string {
	_, name, _ := strings.Cut(id, " ")
	if name == "" {
		return id
	}
	return name
}

// requireAll fails unless every object of objs was reported with one of the results.
func requireAll(t *testing.T, what string, got map[string]string, objs objects, results ...string) {
	t.Helper()
	var want []string
	for _, i := range objs.ids() {
		n := kubectlName(i)
		want = append(want, n)
		if r, ok := got[n]; !ok {
			t.Errorf("%s: kubectl did not report %s", what, n)
		} else if !slices.Contains(results, r) {
			t.Errorf("%s: %s %s, want %s", what, n, r, strings.Join(results, " or "))
		}
	}
	for n := range got {
		if !slices.Contains(want, n) {
			t.Errorf("%s: kubectl reported %s, which the kustomization does not render", what, n)
		}
	}
}

// resourceVersions are those of config/default's objects in the apiserver, by name.
func resourceVersions(t *testing.T) map[string]string {
	t.Helper()
	out, stderr, err := kubectl(t, nil, "get", "-k", "config/default", "-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}`)
	if err != nil {
		t.Fatalf("kubectl get -k config/default: %v\n%s", err, stderr)
	}
	rv := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, v, _ := strings.Cut(line, " ")
		rv[name] = v
	}
	if len(rv) != len(defaultIDs) {
		t.Errorf("kubectl get -k config/default found %d objects, want %d:\n%s", len(rv), len(defaultIDs), out)
	}
	return rv
}

// TestApply: the real kube-apiserver accepts every object of config/default (kubectl apply -k,
// server-side dry run, strict field validation) and of config/certmanager without the
// cert-manager objects (their CRDs are not installed here); a real apply then stores them and
// a second apply changes nothing.
func TestApply(t *testing.T) {
	def := parse(t, render(t, "default"))
	cm := parse(t, render(t, "certmanager"))

	// Namespaced objects cannot be dry-run created in a namespace that does not exist (a dry
	// run of the Namespace does not create it): create it first, from the rendered Namespace.
	var ns objects
	for _, o := range def {
		if o.GetKind() == "Namespace" {
			ns = append(ns, o)
		}
	}
	requireAll(t, "the Namespace", applyResults(t, ns.yaml(t), "-f", "-"), ns, "created")

	t.Run("default dry run", func(t *testing.T) {
		got := applyResults(t, nil, "-k", "config/default", "--dry-run=server", "--validate=strict")
		requireAll(t, "config/default", got, def, "created (server dry run)", "unchanged (server dry run)")
	})
	t.Run("certmanager dry run", func(t *testing.T) {
		objs := cm.without("cert-manager.io")
		if len(objs) != len(cm)-len(certManagerIDs) {
			t.Fatalf("config/certmanager: %d objects outside cert-manager.io, want %d", len(objs), len(cm)-len(certManagerIDs))
		}
		got := applyResults(t, objs.yaml(t), "-f", "-", "--dry-run=server", "--validate=strict")
		requireAll(t, "config/certmanager", got, objs, "created (server dry run)", "unchanged (server dry run)")
	})
	t.Run("apply twice", func(t *testing.T) {
		requireAll(t, "first apply", applyResults(t, nil, "-k", "config/default"), def, "created", "unchanged")
		// A second apply stores nothing new. (kubectl reports the PodDisruptionBudget as
		// "configured" on every apply: its selector's patch strategy is replace, so the patch
		// always carries it, but the apiserver finds nothing to change.)
		before := resourceVersions(t)
		requireAll(t, "second apply", applyResults(t, nil, "-k", "config/default"), def, "unchanged", "configured")
		if after := resourceVersions(t); !maps.Equal(before, after) {
			t.Errorf("a second apply changed stored objects: resourceVersions before %v, after %v", before, after)
		}

		// The stored webhook configurations select what the engine handles.
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, server.ConfigName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, server.ConfigName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(v.Webhooks[0].Rules, server.Rules()) || !equality.Semantic.DeepEqual(m.Webhooks[0].Rules, server.Rules()) {
			t.Errorf("stored rules differ from server.Rules():\n%s\n%s", yamlDiff(t, v.Webhooks[0].Rules, server.Rules()), yamlDiff(t, m.Webhooks[0].Rules, server.Rules()))
		}
		// Remove them again: nothing serves them here.
		for _, err := range []error{
			cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, server.ConfigName, metav1.DeleteOptions{}),
			cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, server.ConfigName, metav1.DeleteOptions{}),
		} {
			if err != nil && !apierrors.IsNotFound(err) {
				t.Error(err)
			}
		}
	})
}
