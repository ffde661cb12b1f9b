package admission

import (
	"context"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	gcrmutate "github.com/google/go-containerregistry/pkg/v1/mutate"
	"gomodules.xyz/jsonpatch/v2"
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
			if !firstNote(t, resp.Warnings, tt.note) {
				return
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
			firstNote(t, resp.Warnings, tt.note)
		})
	}
}

// TestMutatorPinDigests: with pin-digests on and images resolved, the mutating webhook pins
// each container image of every kind to the digest its tag points at (a multi-platform
// image to its index), leaves an image with a digest alone without a lookup, and leaves an
// image it cannot look up as it is, with a warning that says why.
func TestMutatorPinDigests(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	webDigest := reg.Push(t, "team/web:1", "1000")
	idx := gcrmutate.AppendManifests(empty.Index,
		gcrmutate.IndexAddendum{Add: registrytest.Image(t, "1000"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		gcrmutate.IndexAddendum{Add: registrytest.Image(t, "1000"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	indexDigest := reg.PushIndex(t, "team/multi:2", idx)
	pinnedDigest := reg.Push(t, "team/pinned:3", "1000")
	web, multi, missing := reg.Ref("team/web:1"), reg.Ref("team/multi:2"), reg.Ref("team/missing:1")
	pinned := reg.Ref("team/pinned:3") + "@" + pinnedDigest

	const pinOn = `
apiVersion: bulwark.dev/v1alpha1
kind: Policy
mutation:
  defaults:
    pin-digests: true
    # Fewer warnings, so that none is cut at the longest pod spec path (CronJob's).
    resources: false
    drop-capabilities: false
`
	h := newHarness(t, parsePolicy(t, pinOn))
	h.m.Images = ResolveImages(images.New(images.Options{}), nil, nil)

	for _, k := range allKinds {
		t.Run(k.kind, func(t *testing.T) {
			spec := `{"securityContext":{"runAsNonRoot":true},
				"initContainers":[{"name":"multi","image":"` + multi + `"}],
				"containers":[{"name":"web","image":"` + web + `"},{"name":"pinned","image":"` + pinned + `"}]}`
			obj := k.object("w", spec)
			req := request(admissionv1.Create, k, "w", obj, "")
			resp := h.m.Handle(context.Background(), req)
			if !resp.Allowed {
				t.Fatalf("got %+v, want allowed", resp.Result)
			}
			var replaced []string
			for _, op := range resp.Patches {
				if op.Operation == "replace" {
					replaced = append(replaced, op.Path)
				}
			}
			if want := []string{k.pointer + "/initContainers/0/image", k.pointer + "/containers/0/image"}; !slices.Equal(replaced, want) {
				t.Errorf("replaced %q, want %q", replaced, want)
			}
			out := applyPatch(t, req, resp, obj)
			segs := pointerSegs(k.pointer)
			for _, c := range []struct {
				list  string
				index int
				want  string
			}{
				{"initContainers", 0, multi + "@" + indexDigest},
				{"containers", 0, web + "@" + webDigest},
				{"containers", 1, pinned},
			} {
				if got := at(t, out, append(append([]any{}, segs...), c.list, c.index, "image")...); got != c.want {
					t.Errorf("%s[%d].image = %v, want %s", c.list, c.index, got, c.want)
				}
			}
			want := "bulwark set defaults in " + k.specPath + ".containers[0]: image=" + web + "@" + webDigest
			if !slices.Contains(resp.Warnings, want) {
				t.Errorf("warnings %q\nwant %q", resp.Warnings, want)
			}
		})
	}

	// A failed lookup: the image stays, and the first warning says why, with the registry's
	// reason.
	obj := kPod.object("m", `{"containers":[{"name":"web","image":"`+missing+`"}]}`)
	req := request(admissionv1.Create, kPod, "m", obj, "")
	resp := h.m.Handle(context.Background(), req)
	out := applyPatch(t, req, resp, obj)
	if got := at(t, out, "spec", "containers", 0, "image"); got != missing {
		t.Errorf("image %v after a failed lookup, want it unchanged: %s", got, missing)
	}
	note := "bulwark: image " + missing + " was not pinned: "
	if i := slices.IndexFunc(resp.Warnings, func(w string) bool { return strings.HasPrefix(w, note) }); i < 0 {
		t.Errorf("warnings %q\nwant one starting with %q", resp.Warnings, note)
	} else if w := resp.Warnings[i]; !strings.Contains(w, "NAME_UNKNOWN") {
		t.Errorf("note %q does not carry the registry's reason", w)
	}

	// A pod whose images carry digests, and that sets runAsNonRoot itself, costs no lookup.
	before := reg.Manifests.Load()
	obj = kPod.object("p", `{"securityContext":{"runAsNonRoot":true},"containers":[{"name":"p","image":"`+reg.Ref("team/other@"+pinnedDigest)+`"}]}`)
	req = request(admissionv1.Create, kPod, "p", obj, "")
	if resp := h.m.Handle(context.Background(), req); !resp.Allowed || slices.ContainsFunc(resp.Patches, func(op jsonpatch.Operation) bool { return op.Operation == "replace" }) {
		t.Errorf("a pinned pod: %+v, patches %v", resp.Result, resp.Patches)
	}
	if n := reg.Manifests.Load(); n != before {
		t.Errorf("%d manifest reads for a pod whose images carry digests, want none", n-before)
	}

	// Without lookups the image stays, and a warning says why.
	h = newHarness(t, parsePolicy(t, pinOn))
	obj = kPod.object("n", `{"containers":[{"name":"web","image":"`+web+`"}]}`)
	req = request(admissionv1.Create, kPod, "n", obj, "")
	resp = h.m.Handle(context.Background(), req)
	if got := at(t, applyPatch(t, req, resp, obj), "spec", "containers", 0, "image"); got != web {
		t.Errorf("image %v without lookups, want it unchanged", got)
	}
	if want := "bulwark: image " + web + " was not pinned: image lookups are off (--resolve-images)"; !slices.Contains(resp.Warnings, want) {
		t.Errorf("warnings %q\nwant %q", resp.Warnings, want)
	}

	// pin-digests off (the nsa profile): nothing is pinned, and nothing said about it.
	h = newHarness(t, profile(t, "nsa"))
	h.m.Images = ResolveImages(images.New(images.Options{}), nil, nil)
	resp = h.m.Handle(context.Background(), req)
	if got := at(t, applyPatch(t, req, resp, obj), "spec", "containers", 0, "image"); got != web {
		t.Errorf("image %v with pin-digests off, want it unchanged", got)
	}
	for _, w := range resp.Warnings {
		if strings.Contains(w, "pinned") || strings.Contains(w, "image=") {
			t.Errorf("warning %q with pin-digests off", w)
		}
	}
}

// firstNote checks that the first warning starts with note, or, when note is "", that no
// warning is an image note; it reports whether a note was wanted.
func firstNote(t *testing.T, warnings []string, note string) bool {
	t.Helper()
	if note == "" {
		for _, w := range warnings {
			if strings.HasPrefix(w, "bulwark: image") {
				t.Errorf("unexpected note %q", w)
			}
		}
		return false
	}
	if len(warnings) == 0 || !strings.HasPrefix(warnings[0], note) {
		t.Errorf("warnings %q\nwant the first to start with %q", warnings, note)
	}
	return true
}
