// Package images reads from an image's registry what the kubelet will find when it starts a
// container: the user the image runs as, and the digest its tag points at. Mutation needs the
// first so that it never adds runAsNonRoot to a container the kubelet would then refuse to
// start ("image will run as root"); digest pinning needs the second.
//
// Registries are slow and sometimes unreachable, and an admission request has a deadline, so
// a lookup never holds a request longer than its budget: lookups run in parallel, keep going
// in the background when the budget is spent (filling the cache for the next request), and a
// request that does not get an answer in time is told so and falls back. Results are cached
// by reference (a tag can move: a short TTL) and by digest (an image's user cannot change: a
// longer one), with a bound on the entries.
package images

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// Defaults of Options.
const (
	DefaultBudget        = time.Second
	DefaultLookupTimeout = 10 * time.Second
	DefaultTagTTL        = 5 * time.Minute
	DefaultDigestTTL     = time.Hour
	DefaultErrorTTL      = 15 * time.Second
	DefaultMaxEntries    = 4096
	DefaultMaxInflight   = 64
)

// ErrTimeout is the error of a lookup that did not finish within the request's budget.
var ErrTimeout = errors.New("the registry did not answer within the time budget")

// ErrBusy is the error of a lookup not started because MaxInflight lookups were running.
var ErrBusy = errors.New("too many image lookups in flight")

// Info is what a lookup found about one image reference.
type Info struct {
	// Digest is the digest of the manifest (or index) the reference points at, e.g.
	// sha256:3f5c...; empty when the lookup failed.
	Digest string
	// User is the image configuration's User (for the node's platform), e.g. "", "nginx",
	// "65532:65532".
	User string
	// Err says why the lookup failed (ErrTimeout when the budget ran out); nil on success.
	Err error
}

// Recorder records lookups: result is hit (from the cache), fetched, error or timeout.
type Recorder interface {
	ImageLookup(result string, d time.Duration)
}

// Options configure a Resolver.
type Options struct {
	// Budget bounds how long Resolve waits for the lookups of one request, together.
	Budget time.Duration
	// LookupTimeout bounds one lookup, which goes on in the background after the budget.
	LookupTimeout time.Duration
	// TagTTL, DigestTTL and ErrorTTL are how long a reference's digest, a digest's user and a
	// failure are remembered.
	TagTTL, DigestTTL, ErrorTTL time.Duration
	// MaxEntries bounds each of the two caches.
	MaxEntries int
	// MaxInflight bounds the registry round trips running at once: pods can name any number of
	// images on any host, and each distinct one costs a connection.
	MaxInflight int
	// Platform is the node's: the image of a multi-platform index that the kubelet would run.
	// Default linux/amd64.
	Platform v1.Platform
	// Transport is the HTTP transport to registries; nil for http.DefaultTransport.
	Transport http.RoundTripper
	// Metrics records lookups; nil records nothing.
	Metrics Recorder
	// Log gets one line per failed lookup, with the registry's whole answer (the warning a
	// developer sees has room for its gist only). A failure is remembered for ErrorTTL, so a
	// reference is logged at most that often.
	Log logr.Logger
}

// Resolver looks images up in their registries, with a cache. It is safe for concurrent use.
type Resolver struct {
	o        Options
	tags     *cache[tagKey, string]  // credentials and reference -> digest
	users    *cache[userKey, string] // repository and digest -> user
	mu       sync.Mutex
	inflight map[tagKey]*lookup
	now      func() time.Time
}

// lookup is one registry round trip that several requests may wait for.
type lookup struct {
	done chan struct{}
	info Info
}

// New returns a resolver with o's settings, defaults filled in.
func New(o Options) *Resolver {
	orDefault(&o.Budget, DefaultBudget)
	orDefault(&o.LookupTimeout, DefaultLookupTimeout)
	orDefault(&o.TagTTL, DefaultTagTTL)
	orDefault(&o.DigestTTL, DefaultDigestTTL)
	orDefault(&o.ErrorTTL, DefaultErrorTTL)
	orDefault(&o.MaxEntries, DefaultMaxEntries)
	orDefault(&o.MaxInflight, DefaultMaxInflight)
	if o.Platform.OS == "" {
		o.Platform = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	return &Resolver{
		o: o, tags: newCache[tagKey, string](o.MaxEntries), users: newCache[userKey, string](o.MaxEntries),
		inflight: map[tagKey]*lookup{}, now: time.Now,
	}
}

// orDefault sets a setting that is not positive to its default.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Resolve looks up every reference in refs, in parallel, with the credentials of keys (nil:
// anonymous), and returns what it found by reference. It returns when every lookup is done
// or when the budget is spent, whichever comes first; a lookup still running then is given
// ErrTimeout here and fills the cache when it finishes.
//
// What a lookup finds is cached for the same credentials only (a *Keychain's ID; anonymous
// otherwise): a request without the pull secret of a private image learns nothing of it
// from another namespace's lookups.
func (r *Resolver) Resolve(ctx context.Context, refs []string, keys authn.Keychain) map[string]Info {
	infos := r.resolve(ctx, refs, keys)
	out := make(map[string]Info, len(refs))
	for i, ref := range refs {
		out[ref] = infos[i]
	}
	return out
}

// resolve is Resolve with the answers in the order of refs; a reference named more than once
// is looked up once and has the same answer each time. A request whose images are all in the
// cache allocates the answers only: the budget's timer is set when a lookup has to be waited
// for.
func (r *Resolver) resolve(ctx context.Context, refs []string, keys authn.Keychain) []Info {
	who := ""
	if k, ok := keys.(*Keychain); ok {
		who = k.ID()
	}
	infos := make([]Info, len(refs))
	type pending struct {
		i int
		l *lookup
	}
	var waiting []pending
	for i, ref := range refs {
		if slices.Contains(refs[:i], ref) {
			continue
		}
		if info, ok := r.cached(ref, who); ok {
			r.record("hit", 0)
			infos[i] = info
			continue
		}
		l := r.start(ref, who, keys)
		if l == nil {
			infos[i] = Info{Err: ErrBusy}
			r.record("error", 0)
			continue
		}
		waiting = append(waiting, pending{i, l})
	}
	if len(waiting) > 0 {
		ctx, cancel := context.WithTimeout(ctx, r.o.Budget)
		defer cancel()
		for _, w := range waiting {
			select {
			case <-w.l.done:
				infos[w.i] = w.l.info
			case <-ctx.Done():
				infos[w.i] = Info{Err: ErrTimeout}
				r.record("timeout", r.o.Budget)
			}
		}
	}
	for i, ref := range refs {
		if j := slices.Index(refs[:i], ref); j >= 0 {
			infos[i] = infos[j]
		}
	}
	return infos
}

// cached returns what the caches know of ref, as looked up with the credentials who.
func (r *Resolver) cached(ref, who string) (Info, bool) {
	now := r.now()
	digest, err, ok := r.tags.get(tagKey{who: who, ref: ref}, now)
	if !ok {
		return Info{}, false
	}
	if err != nil {
		return Info{Err: err}, true
	}
	user, err, ok := r.users.get(userKeyOf(ref, digest), now)
	if !ok {
		return Info{}, false
	}
	return Info{Digest: digest, User: user, Err: err}, true
}

// start begins the lookup of ref with the credentials who (keys), or joins the one already
// running; nil when MaxInflight lookups are running.
func (r *Resolver) start(ref, who string, keys authn.Keychain) *lookup {
	key := tagKey{who: who, ref: ref}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.inflight[key]; ok {
		return l
	}
	if len(r.inflight) >= r.o.MaxInflight {
		return nil
	}
	l := &lookup{done: make(chan struct{})}
	r.inflight[key] = l
	go func() {
		start := r.now()
		l.info = r.fetch(ref, keys)
		now := r.now()
		if l.info.Err != nil {
			r.tags.put(key, "", l.info.Err, now.Add(r.o.ErrorTTL))
			r.record("error", now.Sub(start))
			r.o.Log.Info("image lookup failed", "image", ref, "authenticated", who != "", "error", l.info.Err.Error())
		} else {
			r.users.put(userKeyOf(ref, l.info.Digest), l.info.User, nil, now.Add(r.o.DigestTTL))
			r.tags.put(key, l.info.Digest, nil, now.Add(r.o.TagTTL))
			r.record("fetched", now.Sub(start))
		}
		r.mu.Lock()
		delete(r.inflight, key)
		r.mu.Unlock()
		close(l.done)
	}()
	return l
}

// fetch reads ref's manifest and the configuration of the image the node would run.
func (r *Resolver) fetch(ref string, keys authn.Keychain) Info {
	var info Info
	parsed, err := name.ParseReference(ref)
	if err != nil {
		info.Err = fmt.Errorf("not an image reference: %w", err)
		return info
	}
	if keys == nil {
		keys = authn.NewMultiKeychain()
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.o.LookupTimeout)
	defer cancel()
	desc, err := remote.Get(parsed, remote.WithContext(ctx), remote.WithTransport(r.o.Transport),
		remote.WithAuthFromKeychain(keys), remote.WithPlatform(r.o.Platform))
	if err != nil {
		info.Err = err
		return info
	}
	info.Digest = desc.Digest.String()
	img, err := desc.Image() // for an index: the image of the node's platform
	if err != nil {
		info.Err = err
		return info
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		info.Err = err
		return info
	}
	info.User = cfg.Config.User
	return info
}

func (r *Resolver) record(result string, d time.Duration) {
	if r.o.Metrics != nil {
		r.o.Metrics.ImageLookup(result, d)
	}
}

// tagKey names what a reference points at, for the credentials who (a Keychain's ID), in the
// cache.
type tagKey struct{ who, ref string }

// userKey names an image's user in the cache: its repository (the reference without its tag
// or digest) and its digest.
type userKey struct{ repo, digest string }

func userKeyOf(ref, digest string) userKey {
	repo := ref
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	} else if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	return userKey{repo: repo, digest: digest}
}

// Users tells the mutation what each image of pod's containers runs as, and the digest its
// reference points at: what mutate.Target.Images asks for. Nothing is looked up until it is
// first asked, so that a pod whose images do not matter (it sets runAsNonRoot or runAsUser
// itself, and its images carry digests or pin-digests is off) costs no registry round trip;
// then every image is looked up at once, with the credentials keys gives (nil: anonymous).
// An image whose lookup failed is unknown, with the registry's reason on one line.
// The function is for the request that made it: not safe for concurrent use.
func (r *Resolver) Users(ctx context.Context, pod *podspec.Pod, keys func() authn.Keychain) func(string) mutate.ImageUser {
	var (
		asked bool
		refs  []string
		found []Info // of refs, in order
	)
	return func(image string) mutate.ImageUser {
		if !asked {
			asked = true
			pod.Containers(func(c podspec.Container) bool {
				if c.Image != "" {
					refs = append(refs, c.Image)
				}
				return true
			})
			var k authn.Keychain
			if keys != nil {
				k = keys()
			}
			found = r.resolve(ctx, refs, k)
		}
		i := slices.Index(refs, image)
		if i < 0 {
			return mutate.ImageUser{Unknown: "not looked up"}
		}
		if err := found[i].Err; err != nil {
			return mutate.ImageUser{Unknown: strings.Join(strings.Fields(err.Error()), " ")}
		}
		return mutate.ImageUser{Known: true, User: found[i].User, Digest: found[i].Digest}
	}
}
