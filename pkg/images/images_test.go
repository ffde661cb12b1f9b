package images

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/registrytest"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	ggcrmutate "github.com/google/go-containerregistry/pkg/v1/mutate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestResolve(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	rootDigest := reg.Push(t, "web:1.27", "")
	namedDigest := reg.Push(t, "app:2", "nginx")
	uidDigest := reg.Push(t, "static:nonroot", "65532:65532")
	r := New(Options{})

	root, named, uid := reg.Host+"/web:1.27", reg.Host+"/app:2", reg.Host+"/static@"+uidDigest
	missing := reg.Host + "/nothing:1"
	got := r.Resolve(context.Background(), []string{root, named, uid, root, missing}, nil)
	for ref, want := range map[string]Info{
		root:  {Digest: rootDigest, User: ""},
		named: {Digest: namedDigest, User: "nginx"},
		uid:   {Digest: uidDigest, User: "65532:65532"},
	} {
		if g := got[ref]; g != want {
			t.Errorf("%s: %+v, want %+v", ref, g, want)
		}
	}
	if g := got[missing]; g.Err == nil || g.Digest != "" {
		t.Errorf("%s: %+v, want an error", missing, g)
	}
	if n := reg.Manifests.Load(); n != 4 {
		t.Errorf("%d manifest reads for 4 distinct references", n)
	}

	// Everything is cached now, failures included (for their shorter time).
	again := r.Resolve(context.Background(), []string{root, named, uid, missing}, nil)
	if n := reg.Manifests.Load(); n != 4 {
		t.Errorf("the second request read %d manifests; want all from the cache", n-4)
	}
	if again[root] != got[root] || again[named] != got[named] || (again[missing].Err == nil) {
		t.Errorf("cached answers differ: %+v", again)
	}

	// A tag's digest expires before the image's user does.
	r.now = func() time.Time { return time.Now().Add(DefaultTagTTL + time.Second) }
	r.Resolve(context.Background(), []string{root}, nil)
	if n := reg.Manifests.Load(); n != 5 {
		t.Errorf("after the tag TTL: %d manifest reads, want 5", n)
	}
}

func TestResolveBudget(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	reg.Push(t, "slow:1", "1000")
	reg.Delay.Store(int64(400 * time.Millisecond))
	r := New(Options{Budget: 50 * time.Millisecond})
	ref := reg.Host + "/slow:1"

	start := time.Now()
	got := r.Resolve(context.Background(), []string{ref}, nil)
	took := time.Since(start)
	if !errors.Is(got[ref].Err, ErrTimeout) || got[ref].User != "" {
		t.Errorf("a lookup slower than the budget: %+v, want ErrTimeout", got[ref])
	}
	if took > 300*time.Millisecond {
		t.Errorf("Resolve took %v with a budget of 50ms", took)
	}
	// The lookup went on and fills the cache: a later request gets the answer at once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = r.Resolve(context.Background(), []string{ref}, nil)
		if got[ref].Err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got[ref].User != "1000" {
		t.Errorf("after the background lookup: %+v, want user 1000", got[ref])
	}
	if n := reg.Manifests.Load(); n != 1 {
		t.Errorf("%d manifest reads; the waiting requests should have joined the one lookup", n)
	}

	// With one lookup in flight at most, a second image waits for no round trip of its own.
	reg.Push(t, "slow:2", "1000")
	reg.Push(t, "slow:3", "1000")
	busy := New(Options{Budget: 50 * time.Millisecond, MaxInflight: 1})
	two := busy.Resolve(context.Background(), []string{reg.Host + "/slow:2", reg.Host + "/slow:3"}, nil)
	var errs []error
	for _, info := range two {
		errs = append(errs, info.Err)
	}
	if !slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, ErrBusy) }) ||
		!slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, ErrTimeout) }) {
		t.Errorf("two slow images with one lookup allowed in flight: %v, want one ErrTimeout and one ErrBusy", errs)
	}
}

func TestResolvePrivate(t *testing.T) {
	reg := registrytest.Start(t, "puller", "s3cret")
	digest := reg.Push(t, "team/private:1", "1000")
	ref := reg.Host + "/team/private:1"

	got := New(Options{}).Resolve(context.Background(), []string{ref}, nil)
	if got[ref].Err == nil {
		t.Fatalf("anonymous lookup of a private image: %+v, want an error", got[ref])
	}

	keys, err := NewKeychain([]corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "other"}, Type: corev1.SecretTypeOpaque},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "pull"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: reg.DockerConfig(reg.Host + "/team")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := New(Options{})
	got = r.Resolve(context.Background(), []string{ref}, keys)
	if got[ref].Err != nil || got[ref].Digest != digest || got[ref].User != "1000" {
		t.Errorf("lookup with the pull secret: %+v, want digest %s and user 1000", got[ref], digest)
	}
	// The answer is cached for those credentials only: without them the registry is asked,
	// and refuses.
	if got := r.Resolve(context.Background(), []string{ref}, nil); got[ref].Err == nil {
		t.Errorf("anonymous lookup after one with the pull secret: %+v, want the registry's refusal", got[ref])
	}
	if got := r.Resolve(context.Background(), []string{ref}, keys); got[ref].Err != nil || reg.Manifests.Load() != 1 {
		t.Errorf("a second lookup with the pull secret: %+v after %d manifest reads, want it from the cache", got[ref], reg.Manifests.Load())
	}
}

func TestResolveIndex(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	amd64, arm64 := registrytest.Image(t, "101"), registrytest.Image(t, "")
	idx := ggcrmutate.AppendManifests(empty.Index,
		ggcrmutate.IndexAddendum{Add: amd64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		ggcrmutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	want := reg.PushIndex(t, "multi:1", idx)
	ref := reg.Host + "/multi:1"
	for platform, user := range map[string]string{"amd64": "101", "arm64": ""} {
		got := New(Options{Platform: v1.Platform{OS: "linux", Architecture: platform}}).Resolve(context.Background(), []string{ref}, nil)[ref]
		if got.Err != nil || got.Digest != want || got.User != user {
			t.Errorf("linux/%s: %+v, want the index's digest %s and user %q", platform, got, want, user)
		}
	}
}

func TestKeychainMatching(t *testing.T) {
	entry := func(key, user string) string {
		return `"` + key + `":{"username":"` + user + `","password":"p"}`
	}
	keys, err := NewKeychain([]corev1.Secret{{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
		corev1.DockerConfigJsonKey: []byte(`{"auths":{` + strings.Join([]string{
			entry("https://index.docker.io/v1/", "hub"),
			entry("*.example.com", "wild"),
			entry("registry.local:5000/team", "team"),
		}, ",") + `}}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	for image, want := range map[string]string{
		"nginx:1.27":                                         "hub",
		"docker.io/library/nginx":                            "hub",
		"eu.example.com/app:1":                               "wild",
		"a.b.example.com/app:1":                              "",
		"registry.local:5000/team/app:1":                     "team",
		"registry.local:5000/teamx/app:1":                    "",
		"registry.local/team/app:1":                          "",
		"ghcr.io/acme/app@sha256:" + strings.Repeat("a", 64): "",
	} {
		ref, err := name.ParseReference(image)
		if err != nil {
			t.Fatal(err)
		}
		a, err := keys.Resolve(ref.Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != want {
			t.Errorf("%s: user %q, want %q", image, cfg.Username, want)
		}
	}

	if keys.ID() == "" {
		t.Error("a keychain with credentials has the anonymous ID")
	}
	if empty, err := NewKeychain(nil); err != nil || empty.ID() != "" {
		t.Errorf("a keychain without credentials: ID %q, %v; want the anonymous ID, so that it shares anonymous lookups", empty.ID(), err)
	}

	_, err = NewKeychain([]corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "broken"},
		Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}}})
	if err == nil || !strings.Contains(err.Error(), "secret apps/broken: .dockerconfigjson") {
		t.Errorf("a secret that does not parse: %v, want an error naming it", err)
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache[string, string](2)
	now := time.Now()
	for _, k := range []string{"a", "b", "c"} {
		c.put(k, k, nil, now.Add(time.Minute))
	}
	if c.len() != 2 {
		t.Errorf("%d entries, want at most 2", c.len())
	}
	if _, _, ok := c.get("a", now); ok {
		t.Error("the least recently used entry was kept")
	}
	if v, _, ok := c.get("c", now); !ok || v != "c" {
		t.Errorf("the newest entry: %q, %v", v, ok)
	}
	if _, _, ok := c.get("c", now.Add(2*time.Minute)); ok {
		t.Error("an expired entry was returned")
	}
}

func TestUsers(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	reg.Push(t, "web:1", "1000")
	reg.Push(t, "root:1", "")
	web, root := reg.Ref("web:1"), reg.Ref("root:1")
	pod, _, err := podspec.Decode(schema.GroupKind{Kind: "Pod"}, []byte(`{"apiVersion":"v1","kind":"Pod","spec":{
		"initContainers":[{"name":"init","image":"`+root+`"}],
		"containers":[{"name":"a","image":"`+web+`"},{"name":"b","image":"`+web+`"},{"name":"c","image":"`+reg.Ref("nothing:1")+`"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := New(Options{})
	ctx := context.Background()
	users := r.Users(ctx, pod, nil)
	if n := reg.Manifests.Load(); n != 0 {
		t.Fatalf("%d manifests read before the first question", n)
	}
	for image, want := range map[string]mutate.ImageUser{web: {Known: true, User: "1000"}, root: {Known: true}, "other:1": {Unknown: "not looked up"}} {
		got := users(image)
		got.Digest = "" // TestUsersDigests tells the digests
		if got != want {
			t.Errorf("%s: %+v, want %+v", image, got, want)
		}
	}
	if got := users(reg.Ref("nothing:1")); got.Known || got.Unknown == "" || strings.Contains(got.Unknown, "\n") {
		t.Errorf("a missing image: %+v, want it unknown with the registry's reason on one line", got)
	}
	if n := reg.Manifests.Load(); n != 3 {
		t.Errorf("%d manifest reads for 3 distinct images, the one of two containers read once", n)
	}

	// With every image in the cache, a request's lookups cost a few allocations (the answers),
	// no registry round trip, and no timer for the budget.
	allocs := testing.AllocsPerRun(100, func() {
		users := r.Users(ctx, pod, nil)
		users(web)
		users(root)
	})
	if n := reg.Manifests.Load(); n != 3 {
		t.Errorf("%d manifest reads after the cache was warm, want none", n-3)
	}
	if allocs > 4 {
		t.Errorf("a request whose images are cached: %v allocations, want at most 4", allocs)
	}
}

func TestUserKey(t *testing.T) {
	const d = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for ref, repo := range map[string]string{
		"nginx":                            "nginx",
		"nginx:1.27":                       "nginx",
		"registry.local:5000/team/app":     "registry.local:5000/team/app",
		"registry.local:5000/team/app:1.0": "registry.local:5000/team/app",
		"ghcr.io/acme/app@" + d:            "ghcr.io/acme/app",
		"ghcr.io/acme/app:1.0@" + d:        "ghcr.io/acme/app:1.0",
	} {
		if got := userKeyOf(ref, d); got != (userKey{repo: repo, digest: d}) {
			t.Errorf("%s: %+v, want repository %q", ref, got, repo)
		}
	}
}

func TestKeychains(t *testing.T) {
	secret := func(name, uid, version, user string) corev1.Secret {
		return corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, UID: types.UID(uid), ResourceVersion: version},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(
				`{"auths":{"registry.local":{"username":"` + user + `","password":"p"}}}`)},
		}
	}
	userFor := func(k *Keychain) string {
		t.Helper()
		ref, err := name.ParseReference("registry.local/app:1")
		if err != nil {
			t.Fatal(err)
		}
		a, err := k.Resolve(ref.Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Username
	}
	ks := NewKeychains(0)
	get := func(secrets ...corev1.Secret) *Keychain {
		t.Helper()
		k, err := ks.Get(secrets)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	a1, b1 := secret("a", "uid-a", "1", "alice"), secret("b", "uid-b", "7", "bob")
	first := get(a1)
	if userFor(first) != "alice" || get(a1) != first {
		t.Errorf("the same version of a secret: the keychain was built again, or is wrong (%q)", userFor(first))
	}
	// What the keychain was built from is what counts; a Secret's content changes only with
	// its resourceVersion.
	if again := get(secret("a", "uid-a", "1", "mallory")); again != first {
		t.Error("the same UID and resourceVersion gave another keychain")
	}
	if k := get(secret("a", "uid-a", "2", "carol")); k == first || userFor(k) != "carol" {
		t.Errorf("a new resourceVersion: user %q, want the new credentials (carol)", userFor(k))
	}
	if k := get(secret("a", "uid-a2", "1", "dave")); k == first || userFor(k) != "dave" {
		t.Errorf("a Secret created again under the same name: user %q, want its credentials (dave)", userFor(k))
	}
	// The first secret that matches wins, so the order counts.
	if ab, ba := get(a1, b1), get(b1, a1); userFor(ab) != "alice" || userFor(ba) != "bob" || ab.ID() == ba.ID() {
		t.Errorf("two secrets in either order: users %q and %q, want alice and bob", userFor(ab), userFor(ba))
	}
	// Without a version (not from the apiserver), a secret is read every time.
	unversioned := secret("a", "", "", "erin")
	if k := get(unversioned); k == get(unversioned) || userFor(k) != "erin" {
		t.Errorf("a secret without a UID: the keychain was reused, or is wrong (%q)", userFor(k))
	}
	// A secret that does not parse fails every time, with its name.
	broken := secret("broken", "uid-c", "3", "x")
	broken.Data[corev1.DockerConfigJsonKey] = []byte("{")
	for i := 0; i < 2; i++ {
		if k, err := ks.Get([]corev1.Secret{broken}); err == nil || k != nil || !strings.Contains(err.Error(), "secret apps/broken") {
			t.Errorf("a secret that does not parse, request %d: %v, %v; want an error naming it", i+1, k, err)
		}
	}
	// Kept for KeychainTTL at most.
	ks.now = func() time.Time { return time.Now().Add(KeychainTTL + time.Second) }
	if get(a1) == first {
		t.Error("a keychain older than KeychainTTL was reused")
	}
}

// TestUsersDigests: what the mutation is told of each image, the digest included (for a
// multi-platform image, its index's); nothing is looked up before the first question, and
// then every container image of the pod at once.
func TestUsersDigests(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	webDigest := reg.Push(t, "web:1", "101")
	idx := ggcrmutate.AppendManifests(empty.Index,
		ggcrmutate.IndexAddendum{Add: registrytest.Image(t, "65532"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		ggcrmutate.IndexAddendum{Add: registrytest.Image(t, ""), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	indexDigest := reg.PushIndex(t, "multi:2", idx)
	web, multi, missing := reg.Host+"/web:1", reg.Host+"/multi:2", reg.Host+"/missing:1"
	pod := &podspec.Pod{Spec: corev1.PodSpec{
		InitContainers:      []corev1.Container{{Name: "i", Image: multi}},
		Containers:          []corev1.Container{{Name: "a", Image: web}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Image: missing}}},
	}}

	users := New(Options{}).Users(context.Background(), pod, nil)
	if n := reg.Manifests.Load(); n != 0 {
		t.Fatalf("%d manifest reads before the first question, want none", n)
	}
	users(web)
	atOnce := reg.Manifests.Load() // the index and its amd64 image count twice
	if atOnce != 4 {
		t.Errorf("%d manifest reads for the first question, want 4: every image of the pod", atOnce)
	}
	for image, want := range map[string]mutate.ImageUser{
		web:   {Known: true, User: "101", Digest: webDigest},
		multi: {Known: true, User: "65532", Digest: indexDigest},
	} {
		if got := users(image); got != want {
			t.Errorf("%s: %+v, want %+v", image, got, want)
		}
	}
	if got := users(missing); got.Known || got.Digest != "" || !strings.Contains(got.Unknown, "NAME_UNKNOWN") {
		t.Errorf("%s: %+v, want unknown with the registry's reason", missing, got)
	}
	if got := users("elsewhere:1"); got.Known || got.Unknown != "not looked up" {
		t.Errorf("an image not in the pod: %+v", got)
	}
	if n := reg.Manifests.Load(); n != atOnce {
		t.Errorf("%d more manifest reads after the first question, want none", n-atOnce)
	}
}
