// Package mutate adds the mutation defaults (seccomp, privilege-escalation, ...) to the pod
// template of any kind that carries one, as JSON Patch add operations against the object as
// it came: never a typed round-trip, so fields that k8s.io/api does not know survive
// untouched. It only adds missing fields: a value the user set is never changed or removed,
// and mutating the result again adds nothing.
package mutate

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// Operation is one RFC 6902 JSON Patch operation. Mutate only emits "add".
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"` // RFC 6901 pointer
	Value any    `json:"value,omitempty"`
}

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
}

// Result is the outcome of Mutate.
type Result struct {
	// Patch adds the defaults to the object as received; empty when nothing was missing.
	Patch []Operation
	// Changes lists every field set, in the order of Patch.
	Changes []Change
	// Object is the mutated object as JSON (the input itself when Patch is empty).
	Object []byte
}

// Mutate adds the defaults that opts turns on (NSADefaults when opts is nil) to obj, an object
// of kind gk as JSON, and returns the operations, the changes and the mutated object. Kinds
// without a pod template, and objects whose kind allows the template (or its spec) to be
// absent and leaves it out, get no operations. An object that does not decode as its kind is
// an error (podspec.DecodeError).
//
// Operations come in a fixed order: pod-level defaults first, then each container in document
// order (initContainers, containers, ephemeralContainers), each with its defaults in the order
// of Names.
func Mutate(gk schema.GroupKind, obj []byte, opts *Options, target Target) (*Result, error) {
	res, err := Patch(gk, obj, opts, target)
	if err != nil {
		return nil, err
	}
	if len(res.Patch) == 0 {
		res.Object = obj
		return res, nil
	}
	// Only the top-level member that holds the pod spec is decoded: the rest, metadata with
	// its managedFields among it, is written back as it came.
	shape, _ := podspec.ShapeOf(gk)
	doc, err := decodeMember(obj, shape.SpecPointer()[0])
	if err != nil {
		return nil, err
	}
	if err := apply(doc, res.Patch); err != nil {
		return nil, err
	}
	if res.Object, err = encode(doc); err != nil {
		return nil, err
	}
	return res, nil
}

// Patch is Mutate without Result.Object, which it leaves nil: it decodes obj with
// podspec.Decode and returns PatchPod's operations.
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
func PatchPod(pod *podspec.Pod, opts *Options, target Target) (*Result, error) {
	if opts == nil {
		o := NSADefaults()
		opts = &o
	}
	if !pod.HasTemplate || !pod.Present.Spec {
		return &Result{}, nil
	}
	doc := skeleton(pod)
	spec := &object{m: doc, index: -1}
	for _, seg := range pod.Shape.SpecPointer() {
		spec = spec.child(seg)
	}
	p, err := newPod(&mutator{}, opts, spec, target)
	if err != nil {
		return nil, err
	}
	p.apply()
	ops := p.patch(doc)
	if len(ops) == 0 {
		return &Result{}, nil
	}
	return &Result{Patch: ops, Changes: p.changes}, nil
}

// defaulter is one mutation default. pod runs once per pod (not for an ephemeral-only
// target); container runs for every container that may change.
type defaulter struct {
	name      string
	flag      func(*Options) *bool
	pod       func(*pod)
	container func(*pod, *container)
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
}

type containerKind int

const (
	initContainer containerKind = iota
	regularContainer
	ephemeralContainer
)

var containerLists = []struct {
	key  string
	kind containerKind
}{
	{"initContainers", initContainer},
	{"containers", regularContainer},
	{"ephemeralContainers", ephemeralContainer},
}

// container is one container of the pod, in the working copy.
type container struct {
	*object
	kind containerKind
	name string
}

// securityContext returns the container's securityContext, which may not exist yet.
func (c *container) securityContext() *object { return c.child("securityContext") }

// pod is the pod spec being mutated.
type pod struct {
	*mutator
	opts *Options
	spec *object
	// windows is set when spec.os.name is windows: the apiserver rejects the Linux-only
	// security fields on such pods.
	windows bool
	// ephemeralOnly: pod-level defaults move to the targeted ephemeral containers.
	ephemeralOnly bool
	// all holds every container; targets those that may change.
	all, targets []*container
}

func newPod(m *mutator, opts *Options, spec *object, target Target) (*pod, error) {
	p := &pod{mutator: m, opts: opts, spec: spec, ephemeralOnly: target.EphemeralOnly}
	p.windows = spec.child("os").get("name") == "windows"
	for _, l := range containerLists {
		for i, item := range spec.list(l.key) {
			m, ok := item.(map[string]any)
			o := &object{m: m, parent: spec, key: l.key, index: i}
			if !ok {
				// The typed decoder takes a null container for an empty one; a patch cannot
				// add to it.
				return nil, fmt.Errorf("%s is not an object", o.fieldPath())
			}
			name, _ := m["name"].(string)
			c := &container{object: o, kind: l.kind, name: name}
			p.all = append(p.all, c)
			if !target.EphemeralOnly || (l.kind == ephemeralContainer && !target.Existing[name]) {
				p.targets = append(p.targets, c)
			}
		}
	}
	return p, nil
}

func (p *pod) apply() {
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

// securityContext returns the pod's securityContext, which may not exist yet.
func (p *pod) securityContext() *object { return p.spec.child("securityContext") }
