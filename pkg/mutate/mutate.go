// Package mutate adds the mutation defaults (seccomp, privilege-escalation, ...) to the pod
// template of any kind that carries one, as JSON Patch add operations against the object as
// it came: the apiserver applies them to its own copy, so fields that k8s.io/api does not
// know survive untouched, which a typed round-trip would lose. The defaults read the typed
// pod, as the checks do, and its presence record where the typed pod cannot tell a missing
// member from a zero one: a value the user set is never changed or removed, and mutating
// the result again adds nothing. The one exception is pin-digests, which replaces an image
// reference without a digest by the same reference with its digest appended: what runs is
// what the reference pointed at, and an image that carries a digest is left alone.
package mutate

import (
	"fmt"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// Operation is one RFC 6902 JSON Patch operation, of the type the admission response
// carries. Patch emits "add", and "replace" for an image that pin-digests pins.
type Operation = jsonpatch.Operation

// Change is one field a default set, for warnings and reports.
type Change struct {
	// Default is the name of the mutation default, e.g. "seccomp".
	Default string
	// Field is the dotted path of the field that was set, e.g.
	// spec.template.spec.containers[0].resources.limits.cpu.
	Field string
	// Value is the value set, rendered: "RuntimeDefault", "500m", "true", "[ALL]".
	Value string
}

// String renders the change as "field=value (default)".
func (c Change) String() string { return fmt.Sprintf("%s=%s (%s)", c.Field, c.Value, c.Default) }

// Target restricts which containers may change.
type Target struct {
	// EphemeralOnly is for the pods/ephemeralcontainers subresource, where only ephemeral
	// containers may change: only the ephemeral containers whose name is not in Existing are
	// mutated, and the pod-level defaults seccomp and run-as-non-root are set on those
	// containers' securityContext instead, when the pod has none.
	EphemeralOnly bool
	// Existing names the ephemeral containers the pod already had (consulted only with
	// EphemeralOnly).
	Existing map[string]bool
	// Images, when set, tells what user each image of the pod runs as and the digest its
	// reference points at (the webhook looks them up in their registries). run-as-non-root
	// is then added only where the kubelet will start every container it reaches, and
	// pin-digests pins the images; Result.Notes says where and why either did not. Nil:
	// images are not consulted, and pin-digests pins nothing. Images is called only for
	// what a default needs, so a pod that needs no lookup costs none.
	Images func(image string) ImageUser
}

// Result is the outcome of Patch.
type Result struct {
	// Patch adds the defaults to the object as received; empty when nothing was missing.
	Patch []Operation
	// Changes lists every field set, in the order of Patch.
	Changes []Change
	// Notes say why a default was not added where it would have been, for the developer:
	// `image docker.io/library/nginx:1.27 runs as root (no USER); runAsNonRoot was not added ...`,
	// `image docker.io/library/nginx:1.27 was not pinned: ...`.
	Notes []string
}

// Patch adds the defaults that opts turns on (NSADefaults when opts is nil) to obj, an object
// of kind gk as JSON: it decodes obj with podspec.Decode and returns PatchPod's operations
// and changes. Kinds without a pod template, and objects whose kind allows the template (or
// its spec) to be absent and leaves it out, get no operations. An object that does not decode
// as its kind is an error (podspec.DecodeError).
func Patch(gk schema.GroupKind, obj []byte, opts *Options, target Target) (*Result, error) {
	if _, ok := podspec.ShapeOf(gk); !ok {
		return &Result{}, nil
	}
	pod, _, err := podspec.Decode(gk, obj)
	if err != nil {
		return nil, err
	}
	return PatchPod(pod, opts, target)
}

// PatchPod returns the operations that add the defaults to the JSON that pod was decoded
// from, and the changes they make, without reading that JSON again: what the defaults read
// comes from the typed pod, and whether a member they extend was there from pod.Present.
// This is the webhook's path, which has decoded the object already to evaluate it.
//
// Operations come in a fixed order: pod-level defaults first, then each container in document
// order (initContainers, containers, ephemeralContainers), each with its defaults in the order
// of Names. Each adds the outermost member missing (or null) on the way to what a default
// sets, with everything the defaults set below it.
func PatchPod(pod *podspec.Pod, opts *Options, target Target) (*Result, error) {
	if opts == nil {
		o := NSADefaults()
		opts = &o
	}
	if !pod.HasTemplate || !pod.Present.Spec {
		return &Result{}, nil
	}
	p, err := newPatcher(pod, opts, target)
	if err != nil {
		return nil, err
	}
	p.run()
	if len(p.ops) == 0 && len(p.notes) == 0 {
		return &Result{}, nil
	}
	return &Result{Patch: p.ops, Changes: p.changes, Notes: p.notes}, nil
}

// defaulter is one mutation default. pod runs once per pod (not for an ephemeral-only
// target); container runs for every container that may change.
type defaulter struct {
	name      string
	flag      func(*Options) *bool
	pod       func(*patcher)
	container func(*patcher, *container)
}

// defaults in their fixed order; each is defined in its own file.
var defaults = []defaulter{
	seccompDefault,
	privilegeEscalationDefault,
	dropCapabilitiesDefault,
	runAsNonRootDefault,
	readOnlyRootFilesystemDefault,
	resourcesDefault,
	automountServiceAccountTokenDefault,
	pinDigestsDefault,
}

// patcher runs the defaults over one pod and collects what they set.
type patcher struct {
	*podspec.Pod
	opts *Options
	// windows is set when spec.os.name is windows: the apiserver rejects the Linux-only
	// security fields on such pods.
	windows bool
	// ephemeralOnly: pod-level defaults move to the targeted ephemeral containers.
	ephemeralOnly bool
	// images tells what each image runs as; nil when images are not consulted.
	images func(string) ImageUser
	// spec is the pod spec, the owner of the pod-level defaults' fields.
	spec owner
	// containers holds every container, targets those that may change.
	containers []container
	targets    []*container
	ops        []Operation
	changes    []Change
	notes      []string
}

// container is one container of the pod, with what Pod.Present records of it.
type container struct {
	podspec.Container
	present podspec.Item
	owner
}

func newPatcher(pod *podspec.Pod, opts *Options, target Target) (*patcher, error) {
	p := &patcher{Pod: pod, opts: opts, windows: pod.IsWindows(), ephemeralOnly: target.EphemeralOnly, images: target.Images}
	n := len(pod.Spec.InitContainers) + len(pod.Spec.Containers) + len(pod.Spec.EphemeralContainers)
	if n == 0 {
		return p, nil
	}
	p.containers = make([]container, 0, n)
	var err error
	pod.Containers(func(c podspec.Container) bool {
		var present podspec.Item
		switch c.Kind {
		case podspec.InitContainer:
			present = pod.Present.InitContainers[c.Index]
		case podspec.RegularContainer:
			present = pod.Present.Containers[c.Index]
		default:
			present = pod.Present.EphemeralContainers[c.Index]
		}
		if present.Null {
			// The typed decoder takes a null container for an empty one; a patch cannot
			// add to it.
			err = fmt.Errorf("%s is not an object", c.Path())
			return false
		}
		p.containers = append(p.containers, container{Container: c, present: present}) // within its capacity: ct stays valid
		ct := &p.containers[len(p.containers)-1]
		ct.container = &ct.Container
		if !target.EphemeralOnly || (c.Kind == podspec.EphemeralContainer && !target.Existing[c.Name]) {
			p.targets = append(p.targets, ct)
		}
		return true
	})
	return p, err
}

func (p *patcher) run() {
	if !p.ephemeralOnly {
		for _, d := range defaults {
			if *d.flag(p.opts) && d.pod != nil {
				d.pod(p)
			}
		}
	}
	for _, c := range p.targets {
		for _, d := range defaults {
			if *d.flag(p.opts) && d.container != nil {
				d.container(p, c)
			}
		}
	}
}

// owner is an object of the pod spec that is always in the JSON as received, the spec itself
// or a container, below which the defaults set fields.
type owner struct {
	// container is nil for the pod spec.
	container *podspec.Container
	// ptr and field are the owner's JSON pointer and dotted field path, worked out when a
	// default first writes below it ("" until then).
	ptr, field string
	// added holds the objects an operation below the owner adds: a default that sets a field
	// below one of them writes into that operation's value.
	added []added
}

type added struct {
	path  []string // below the owner
	value map[string]any
}

func (p *patcher) paths(o *owner) (ptr, field string) {
	if o.ptr == "" {
		if o.container != nil {
			o.ptr, o.field = Pointer(o.container.Pointer()), o.container.Path()
		} else {
			o.ptr, o.field = Pointer(p.Shape.SpecPointer()), p.Shape.SpecPath()
		}
	}
	return o.ptr, o.field
}

// set records that default def sets the member at path below o (missing or null in the JSON
// as received) to value, rendered as rendered for the change. The first have objects of the
// path are in the JSON (and not null); the next is what the operation adds, unless an
// earlier operation adds it already, which then gets value.
func (p *patcher) set(def string, o *owner, path []string, have int, value any, rendered string) {
	ptr, field := p.paths(o)
	p.changes = append(p.changes, Change{Default: def, Field: field + "." + strings.Join(path, "."), Value: rendered})
	outer := path[:have+1]
	if len(outer) == len(path) {
		p.ops = append(p.ops, Operation{Operation: "add", Path: ptr + "/" + strings.Join(path, "/"), Value: value})
		return
	}
	var m map[string]any
	for _, a := range o.added {
		if slices.Equal(a.path, outer) {
			m = a.value
			break
		}
	}
	if m == nil {
		m = map[string]any{}
		o.added = append(o.added, added{path: outer, value: m})
		p.ops = append(p.ops, Operation{Operation: "add", Path: ptr + "/" + strings.Join(outer, "/"), Value: m})
	}
	for _, seg := range path[len(outer) : len(path)-1] {
		next, ok := m[seg].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[seg] = next
		}
		m = next
	}
	m[path[len(path)-1]] = value
}

// depth counts how many of the objects on a path are there: the result of have for set.
func depth(there ...bool) int {
	n := 0
	for n < len(there) && there[n] {
		n++
	}
	return n
}
