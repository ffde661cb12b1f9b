package admission

import (
	"context"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
	"github.com/bulwark-k8s/bulwark/pkg/images"
)

// TestMutatorImageUsers: with images resolved, the mutating webhook leaves runAsNonRoot out
// where the image runs as root (or cannot be looked up), says so first in its warnings, and
// reads a private image with the pod's pull secret.
func TestMutatorImageUsers(t *testing.T) {
	reg := registrytest.Start(t, "puller", "s3cret")
	reg.Push(t, "team/web:1", "")
	reg.Push(t, "team/app:1", "1000")
	reg.Push(t, "team/own:1", "")
	pull := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "pull"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: reg.DockerConfig(reg.Host)},
	}
	var asked []string
	secrets := func(_ context.Context, namespace string, names []string) []corev1.Secret {
		asked = append(asked, namespace+"/"+strings.Join(names, ","))
		if namespace == pull.Namespace && slices.Contains(names, pull.Name) {
			return []corev1.Secret{pull}
		}
		return nil
	}
	h := newHarness(t, profile(t, "nsa"))
	h.m.Images = ResolveImages(images.New(images.Options{}), secrets, nil)

	web, app := reg.Ref("team/web:1"), reg.Ref("team/app:1")
	for _, tt := range []struct {
		name         string
		spec         string
		runAsNonRoot bool
		note         string // the first warning starts with it
	}{
		{"root image", `{"imagePullSecrets":[{"name":"pull"}],"containers":[{"name":"web","image":"` + web + `"}]}`, false,
			"bulwark: image " + web + " runs as root (no USER); runAsNonRoot was not added because the kubelet would refuse to start it. Fix: set securityContext.runAsUser"},
		{"non-root image", `{"imagePullSecrets":[{"name":"pull"}],"containers":[{"name":"app","image":"` + app + `"}]}`, true, ""},
		{"no pull secret", `{"containers":[{"name":"app","image":"` + app + `"}]}`, false,
			"bulwark: image " + app + " could not be looked up, so runAsNonRoot was not added"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			obj := kDeployment.object("d", tt.spec)
			req := request(admissionv1.Create, kDeployment, "d", obj, "")
			resp := h.m.Handle(context.Background(), req)
			if !resp.Allowed {
				t.Fatalf("got %+v, want allowed", resp.Result)
			}
			out := applyPatch(t, req, resp, obj)
			got := at(t, out, "spec", "template", "spec", "securityContext", "runAsNonRoot")
			if (got == true) != tt.runAsNonRoot {
				t.Errorf("runAsNonRoot = %v, want set: %v\n%s", got, tt.runAsNonRoot, out)
			}
			if tt.note == "" {
				for _, w := range resp.Warnings {
					if strings.HasPrefix(w, "bulwark: image") {
						t.Errorf("unexpected note %q", w)
					}
				}
				return
			}
			if len(resp.Warnings) == 0 || !strings.HasPrefix(resp.Warnings[0], tt.note) {
				t.Errorf("warnings %q\nwant the first to start with %q", resp.Warnings, tt.note)
			}
			if !slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.HasPrefix(w, "bulwark set defaults in") }) {
				t.Errorf("the other defaults were not set: %q", resp.Warnings)
			}
		})
	}
	// A pod that decides runAsNonRoot itself costs no lookup.
	before := reg.Manifests.Load()
	obj := kDeployment.object("own", `{"imagePullSecrets":[{"name":"pull"}],"securityContext":{"runAsNonRoot":true},"containers":[{"name":"web","image":"`+reg.Ref("team/own:1")+`"}]}`)
	if resp := h.m.Handle(context.Background(), request(admissionv1.Create, kDeployment, "own", obj, "")); !resp.Allowed {
		t.Fatalf("got %+v, want allowed", resp.Result)
	}
	if n := reg.Manifests.Load(); n != before {
		t.Errorf("%d manifest reads for a pod that sets runAsNonRoot itself, want none", n-before)
	}
	if !slices.Contains(asked, "team-a/pull") {
		t.Errorf("pull secrets asked for: %q, want team-a/pull", asked)
	}
}

// TestMutatorServiceAccountPullSecrets: a pod that names no imagePullSecrets has its
// ServiceAccount's, as the ServiceAccount admission plugin gives them (for a Pod, when that
// plugin did not run; for a pod template, which it never sees), so its private images are
// looked up; a pod that names its own has only those, and a ServiceAccount that is missing
// gives none.
func TestMutatorServiceAccountPullSecrets(t *testing.T) {
	reg := registrytest.Start(t, "puller", "s3cret")
	reg.Push(t, "team/web:1", "")
	reg.Push(t, "team/app:1", "1000")
	pull := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "pull"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: reg.DockerConfig(reg.Host)},
	}
	secrets := func(_ context.Context, namespace string, names []string) []corev1.Secret {
		if namespace == pull.Namespace && slices.Contains(names, pull.Name) {
			return []corev1.Secret{pull}
		}
		return nil
	}
	accounts := map[string][]string{"team-a/builder": {"pull"}, "team-a/default": {"pull"}}
	var asked []string
	lookup := func(_ context.Context, namespace, name string) []string {
		asked = append(asked, namespace+"/"+name)
		return accounts[namespace+"/"+name]
	}
	h := newHarness(t, profile(t, "nsa"))
	h.m.Images = ResolveImages(images.New(images.Options{}), secrets, lookup)

	web, app := reg.Ref("team/web:1"), reg.Ref("team/app:1")
	for _, tt := range []struct {
		name         string
		k            kind
		spec         string
		account      string // the ServiceAccount asked for, "" for none
		runAsNonRoot bool
		note         string // the first warning starts with it
	}{
		{"template, named ServiceAccount", kDeployment, `{"serviceAccountName":"builder","containers":[{"name":"app","image":"` + app + `"}]}`, "team-a/builder", true, ""},
		{"template, root image", kDeployment, `{"serviceAccountName":"builder","containers":[{"name":"web","image":"` + web + `"}]}`, "team-a/builder", false,
			"bulwark: image " + web + " runs as root (no USER); runAsNonRoot was not added because the kubelet would refuse to start it."},
		{"template, deprecated serviceAccount", kDeployment, `{"serviceAccount":"builder","containers":[{"name":"app","image":"` + app + `"}]}`, "team-a/builder", true, ""},
		{"pod, default ServiceAccount", kPod, `{"containers":[{"name":"app","image":"` + app + `"}]}`, "team-a/default", true, ""},
		{"missing ServiceAccount", kDeployment, `{"serviceAccountName":"ghost","containers":[{"name":"app","image":"` + app + `"}]}`, "team-a/ghost", false,
			"bulwark: image " + app + " could not be looked up, so runAsNonRoot was not added"},
		{"own pull secrets only", kDeployment, `{"serviceAccountName":"builder","imagePullSecrets":[{"name":"other"}],"containers":[{"name":"app","image":"` + app + `"}]}`, "", false,
			"bulwark: image " + app + " could not be looked up, so runAsNonRoot was not added"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			asked = nil
			obj := tt.k.object("p", tt.spec)
			req := request(admissionv1.Create, tt.k, "p", obj, "")
			resp := h.m.Handle(context.Background(), req)
			if !resp.Allowed {
				t.Fatalf("got %+v, want allowed", resp.Result)
			}
			out := applyPatch(t, req, resp, obj)
			got := at(t, out, append(pointerSegs(tt.k.pointer), "securityContext", "runAsNonRoot")...)
			if (got == true) != tt.runAsNonRoot {
				t.Errorf("runAsNonRoot = %v, want set: %v\nwarnings %q\n%s", got, tt.runAsNonRoot, resp.Warnings, out)
			}
			var want []string
			if tt.account != "" {
				want = []string{tt.account}
			}
			if !slices.Equal(asked, want) {
				t.Errorf("ServiceAccounts asked for: %q, want %q", asked, want)
			}
			if tt.note == "" {
				for _, w := range resp.Warnings {
					if strings.HasPrefix(w, "bulwark: image") {
						t.Errorf("unexpected note %q", w)
					}
				}
				return
			}
			if len(resp.Warnings) == 0 || !strings.HasPrefix(resp.Warnings[0], tt.note) {
				t.Errorf("warnings %q\nwant the first to start with %q", resp.Warnings, tt.note)
			}
		})
	}
}
