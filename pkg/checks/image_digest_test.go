package checks_test

import (
	"testing"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

// TestImageDigest: every container image without a digest is reported at its field, with
// the image in the message and the fix; one with a digest, tagged or not, is not.
func TestImageDigest(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name     string
		manifest string
		want     []checks.Violation
	}{
		{"tag only", `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, image: "docker.io/library/nginx:1.27"}
`, []checks.Violation{{
			Field:   "spec.containers[0].image",
			Message: `container "app" uses image "docker.io/library/nginx:1.27", which is not pinned by digest: whoever can push to the repository can change the code behind the tag at any pull`,
			Fix:     "pin the image by digest: docker.io/library/nginx:1.27@sha256:..., or let the pin-digests mutation do it",
		}}},
		{"untagged sidecar and ephemeral", `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  initContainers:
  - {name: proxy, image: "localhost:5000/proxy", restartPolicy: Always}
  containers:
  - {name: app, image: "app@` + digest + `"}
  ephemeralContainers:
  - {name: debug, image: "busybox:1.36"}
`, []checks.Violation{
			{Field: "spec.initContainers[0].image", Message: `sidecar container "proxy" uses image "localhost:5000/proxy", which is not pinned by digest: whoever can push to the repository can change the code behind the tag at any pull`,
				Fix: "pin the image by digest: localhost:5000/proxy@sha256:..., or let the pin-digests mutation do it"},
			{Field: "spec.ephemeralContainers[0].image", Message: `ephemeral container "debug" uses image "busybox:1.36", which is not pinned by digest: whoever can push to the repository can change the code behind the tag at any pull`,
				Fix: "pin the image by digest: busybox:1.36@sha256:..., or let the pin-digests mutation do it"},
		}},
		{"image volume", `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, image: "app@` + digest + `"}
  volumes:
  - {name: models, image: {reference: "registry.example.com/models:3"}}
`, []checks.Violation{
			{Field: "spec.volumes[0].image.reference", Message: `image volume "models" uses image "registry.example.com/models:3", which is not pinned by digest: whoever can push to the repository can change the code behind the tag at any pull`,
				Fix: "pin the image by digest: registry.example.com/models:3@sha256:..."},
		}},
		{"pinned with and without a tag", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: app, image: "registry.example.com/app:1.0@` + digest + `"}
      - {name: log, image: "registry.example.com:5000/log@` + digest + `"}
`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := decodeManifest(t, tc.name, []byte(tc.manifest))
			got := only(t, "image-digest", checks.Params{}).Evaluate(pod)
			if len(got) != len(tc.want) {
				t.Fatalf("%d violations, want %d:\n%s", len(got), len(tc.want), render(got))
			}
			for i, want := range tc.want {
				want.Check, want.Action = "image-digest", checks.Enforce
				if got[i] != want {
					t.Errorf("violation %d:\n got  %+v\n want %+v", i, got[i], want)
				}
			}
		})
	}
}
