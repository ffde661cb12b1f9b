package mutate

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestImageUserRuns(t *testing.T) {
	for user, want := range map[string]ImageRuns{
		"": RunsAsRoot, "0": RunsAsRoot, "root": RunsAsRoot, "0:0": RunsAsRoot, "root:wheel": RunsAsRoot,
		"nginx": RunsAsName, "nobody:nogroup": RunsAsName,
		"1000": RunsAsNonRoot, "65532:65532": RunsAsNonRoot, "101:0": RunsAsNonRoot,
	} {
		if got := (ImageUser{Known: true, User: user}).Runs(); got != want {
			t.Errorf("user %q: %v, want %v", user, got, want)
		}
	}
	if got := (ImageUser{Unknown: "timeout"}).Runs(); got != RunsUnknown {
		t.Errorf("an image not looked up: %v, want RunsUnknown", got)
	}
}

// TestRunAsNonRootKnowsImages: with the images known, runAsNonRoot is added only where the
// kubelet will start every container it reaches, and a note says why it was not.
func TestRunAsNonRootKnowsImages(t *testing.T) {
	images := map[string]ImageUser{
		"nginx:1.27":       {Known: true, User: ""},
		"named:1":          {Known: true, User: "nginx"},
		"distroless:1":     {Known: true, User: "65532:65532"},
		"app:1":            {Known: true, User: "1000"},
		"unreachable.io/x": {Unknown: "the registry did not answer within the time budget"},
	}
	lookup := func(image string) ImageUser {
		u, ok := images[image]
		if !ok {
			t.Errorf("image %q looked up, which the test does not know", image)
		}
		return u
	}
	pod := func(spec string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":` + spec + `}`)
	}
	const set = "spec.securityContext.runAsNonRoot=true (run-as-non-root)"
	for _, tt := range []struct {
		name  string
		spec  string
		added bool
		notes []string // each note holds these words, in order of the notes
	}{
		{"root image", `{"containers":[{"name":"web","image":"nginx:1.27"}]}`, false,
			[]string{"image nginx:1.27 runs as root (no USER); runAsNonRoot was not added because the kubelet would refuse to start it. Fix: set securityContext.runAsUser"}},
		{"named user", `{"containers":[{"name":"a","image":"app:1"},{"name":"b","image":"named:1"}]}`, false,
			[]string{`image named:1 runs as the user "nginx", a name the kubelet cannot verify is not root`}},
		{"unknown image", `{"initContainers":[{"name":"i","image":"unreachable.io/x"}],"containers":[{"name":"a","image":"app:1"}]}`, false,
			[]string{"image unreachable.io/x could not be looked up, so runAsNonRoot was not added: the kubelet might refuse to start it. Fix: set securityContext.runAsUser, or build the image with a numeric non-root USER, or set runAsNonRoot yourself (lookup: the registry did not answer within the time budget)"}},
		{"non-root images", `{"containers":[{"name":"a","image":"app:1"},{"name":"b","image":"distroless:1"}]}`, true, nil},
		{"container runAsUser", `{"containers":[{"name":"web","image":"nginx:1.27","securityContext":{"runAsUser":101}}]}`, true, nil},
		{"pod runAsUser", `{"securityContext":{"runAsUser":101},"containers":[{"name":"web","image":"nginx:1.27"}]}`, true, nil},
		{"container's own runAsNonRoot", `{"containers":[{"name":"web","image":"nginx:1.27","securityContext":{"runAsNonRoot":false}},{"name":"a","image":"app:1"}]}`, true, nil},
		{"two root images", `{"containers":[{"name":"a","image":"nginx:1.27"},{"name":"b","image":"named:1"}]}`, false,
			[]string{"image nginx:1.27 runs as root", "image named:1 runs as the user"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := mutateJSON(t, schema.GroupKind{Kind: "Pod"}, pod(tt.spec), nil, Target{Images: lookup})
			var changes []string
			for _, c := range res.Changes {
				changes = append(changes, c.String())
			}
			if got := slices.Contains(changes, set); got != tt.added {
				t.Errorf("runAsNonRoot added: %v, want %v (changes %q)", got, tt.added, changes)
			}
			if len(changes) == 0 {
				t.Error("no default was added; only run-as-non-root should be held back")
			}
			if len(res.Notes) != len(tt.notes) {
				t.Fatalf("notes %q, want %d", res.Notes, len(tt.notes))
			}
			for i, want := range tt.notes {
				if !strings.Contains(res.Notes[i], want) {
					t.Errorf("note %d: %q\nwant it to hold %q", i, res.Notes[i], want)
				}
			}
		})
	}

	// With the policy's runAsUser, the pod gets that uid and runAsNonRoot, and a note says so.
	opts := NSADefaults()
	opts.RunAsUser = 10001
	res, out := mutateJSON(t, schema.GroupKind{Kind: "Pod"}, pod(`{"containers":[{"name":"web","image":"nginx:1.27"},{"name":"a","image":"app:1"}]}`), &opts, Target{Images: lookup})
	if !strings.Contains(string(out), `"runAsUser":10001`) || !strings.Contains(string(out), `"runAsNonRoot":true`) {
		t.Errorf("with runAsUser 10001, the patched pod: %s", out)
	}
	var given []string
	for _, c := range res.Changes {
		if c.Default == RunAsNonRoot {
			given = append(given, c.String())
		}
	}
	if want := []string{"spec.securityContext.runAsUser=10001 (run-as-non-root)", set}; !slices.Equal(given, want) {
		t.Errorf("with runAsUser 10001: run-as-non-root set %q, want %q", given, want)
	}
	if len(res.Notes) != 1 || !strings.HasPrefix(res.Notes[0], "the pod was given runAsUser 10001 (the policy's mutation.runAsUser)") {
		t.Errorf("with runAsUser 10001: notes %q", res.Notes)
	}
	// A pod whose images all run as non-root uids keeps them: runAsUser is not added.
	res, _ = mutateJSON(t, schema.GroupKind{Kind: "Pod"}, pod(`{"containers":[{"name":"a","image":"app:1"}]}`), &opts, Target{Images: lookup})
	for _, c := range res.Changes {
		if strings.Contains(c.Field, "runAsUser") {
			t.Errorf("runAsUser given to a pod whose images run as non-root uids: %v", c)
		}
	}

	// Without images, the default is added as always.
	res, _ = mutateJSON(t, schema.GroupKind{Kind: "Pod"}, pod(`{"containers":[{"name":"web","image":"nginx:1.27"}]}`), nil, Target{})
	if len(res.Notes) != 0 || !slices.ContainsFunc(res.Changes, func(c Change) bool { return c.String() == set }) {
		t.Errorf("without images: changes %v, notes %q", res.Changes, res.Notes)
	}

	// An ephemeral container is held to its own image.
	res, _ = mutateJSON(t, schema.GroupKind{Kind: "Pod"}, pod(`{"containers":[{"name":"a","image":"app:1"}],"ephemeralContainers":[{"name":"debug","image":"nginx:1.27"},{"name":"shell","image":"app:1"}]}`),
		nil, Target{EphemeralOnly: true, Existing: map[string]bool{}, Images: lookup})
	var got []string
	for _, c := range res.Changes {
		if c.Default == RunAsNonRoot {
			got = append(got, c.Field)
		}
	}
	if !slices.Equal(got, []string{"spec.ephemeralContainers[1].securityContext.runAsNonRoot"}) || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "image nginx:1.27 runs as root") {
		t.Errorf("ephemeral containers: runAsNonRoot set on %q, notes %q", got, res.Notes)
	}
}
