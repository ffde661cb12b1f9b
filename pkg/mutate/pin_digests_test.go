package mutate

import (
	"encoding/json"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

var listOrder = map[string]int{"initContainers": 0, "containers": 1, "ephemeralContainers": 2}

// TestPinDigests: with pin-digests on, every container image without a digest is replaced
// by the same reference with the digest its lookup found; an image with a digest is never
// changed (nor looked up), and an image whose lookup failed is left alone with a note that
// says why.
func TestPinDigests(t *testing.T) {
	const (
		webDigest   = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		indexDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
		own         = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	)
	images := map[string]ImageUser{
		"nginx:1.27":           {Known: true, User: "101", Digest: webDigest},
		"ghcr.io/acme/multi:2": {Known: true, User: "65532", Digest: indexDigest},
		"private.example/x:1":  {Unknown: "GET https://private.example/v2/x/manifests/1: UNAUTHORIZED: authentication required"},
	}
	var asked []string
	lookup := func(image string) ImageUser {
		asked = append(asked, image)
		u, ok := images[image]
		if !ok {
			t.Errorf("image %q looked up, which the test does not know", image)
		}
		return u
	}
	only := Options{PinDigests: true}
	pod := func(spec string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":` + spec + `}`)
	}
	type image struct{ field, value string }
	for _, tt := range []struct {
		name   string
		spec   string
		opts   Options
		target Target
		want   []image  // the images after the patch, in container order
		ops    []string // "op path"
		notes  []string
		asked  []string
	}{
		{"a tag is pinned to its digest",
			`{"containers":[{"name":"web","image":"nginx:1.27"}]}`, only, Target{Images: lookup},
			[]image{{"containers", "nginx:1.27@" + webDigest}},
			[]string{"replace /spec/containers/0/image"}, nil, []string{"nginx:1.27"}},
		{"a multi-platform image is pinned to its index",
			`{"initContainers":[{"name":"m","image":"ghcr.io/acme/multi:2"}],"containers":[{"name":"web","image":"nginx:1.27"}],"ephemeralContainers":[{"name":"d","image":"nginx:1.27"}]}`,
			only, Target{Images: lookup},
			[]image{{"initContainers", "ghcr.io/acme/multi:2@" + indexDigest}, {"containers", "nginx:1.27@" + webDigest}, {"ephemeralContainers", "nginx:1.27@" + webDigest}},
			[]string{"replace /spec/initContainers/0/image", "replace /spec/containers/0/image", "replace /spec/ephemeralContainers/0/image"}, nil,
			[]string{"ghcr.io/acme/multi:2", "nginx:1.27", "nginx:1.27"}},
		{"an image with a digest is neither changed nor looked up",
			`{"containers":[{"name":"web","image":"nginx:1.27@` + own + `"},{"name":"b","image":"busybox@` + own + `"}]}`, only, Target{Images: lookup},
			[]image{{"containers", "nginx:1.27@" + own}, {"containers", "busybox@" + own}}, nil, nil, nil},
		{"a failed lookup leaves the image, with the registry's reason",
			`{"containers":[{"name":"x","image":"private.example/x:1"},{"name":"web","image":"nginx:1.27"}]}`, only, Target{Images: lookup},
			[]image{{"containers", "private.example/x:1"}, {"containers", "nginx:1.27@" + webDigest}},
			[]string{"replace /spec/containers/1/image"},
			[]string{"image private.example/x:1 was not pinned: GET https://private.example/v2/x/manifests/1: UNAUTHORIZED: authentication required"},
			[]string{"private.example/x:1", "nginx:1.27"}},
		{"without lookups nothing is pinned, and a note says so",
			`{"containers":[{"name":"web","image":"nginx:1.27"}]}`, only, Target{},
			[]image{{"containers", "nginx:1.27"}}, nil,
			[]string{"image nginx:1.27 was not pinned: image lookups are off (--resolve-images)"}, nil},
		{"off: nothing, and nothing looked up",
			`{"containers":[{"name":"web","image":"nginx:1.27"}]}`, Options{}, Target{Images: lookup},
			[]image{{"containers", "nginx:1.27"}}, nil, nil, nil},
		{"off in the nsa defaults",
			`{"securityContext":{"runAsNonRoot":true},"containers":[{"name":"web","image":"nginx:1.27"}]}`, NSADefaults(), Target{Images: lookup},
			[]image{{"containers", "nginx:1.27"}}, nil, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			asked = nil
			res, out := mutateJSON(t, schema.GroupKind{Kind: "Pod"}, pod(tt.spec), &tt.opts, tt.target)
			var ops []string
			for _, op := range res.Patch {
				if op.Operation == "replace" {
					ops = append(ops, op.Operation+" "+op.Path)
				}
			}
			if !slices.Equal(ops, tt.ops) {
				t.Errorf("replace ops %q, want %q", ops, tt.ops)
			}
			type container struct{ Image string }
			var got struct {
				Spec struct{ InitContainers, Containers, EphemeralContainers []container }
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			var images []image
			for list, cs := range map[string][]container{"initContainers": got.Spec.InitContainers, "containers": got.Spec.Containers, "ephemeralContainers": got.Spec.EphemeralContainers} {
				for _, c := range cs {
					images = append(images, image{list, c.Image})
				}
			}
			slices.SortStableFunc(images, func(a, b image) int { return listOrder[a.field] - listOrder[b.field] })
			if !slices.Equal(images, tt.want) {
				t.Errorf("images %q, want %q", images, tt.want)
			}
			if !slices.Equal(res.Notes, tt.notes) {
				t.Errorf("notes %q, want %q", res.Notes, tt.notes)
			}
			if !slices.Equal(asked, tt.asked) {
				t.Errorf("looked up %q, want %q", asked, tt.asked)
			}
			for _, c := range res.Changes {
				if c.Default != PinDigests && tt.opts == only {
					t.Errorf("change %s from another default", c)
				}
			}
			if tt.ops != nil && len(res.Changes) != len(tt.ops) {
				t.Errorf("changes %v for ops %q", res.Changes, tt.ops)
			}
		})
	}
}
