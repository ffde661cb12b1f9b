// Package admission adapts the engine to Kubernetes admission: the validating and mutating
// handlers served by `bulwark serve`. Decisions are made by pkg/checks and pkg/mutate; this
// package only decides what to evaluate and how to answer.
package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kjson "sigs.k8s.io/json"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

// NamespaceLabels returns the labels of a namespace, from a cache: never an API call per
// request.
type NamespaceLabels func(ctx context.Context, name string) (map[string]string, error)

// Options configure both handlers.
type Options struct {
	Policy  policy.Source
	Metrics metrics.Recorder
	// PolicyMetrics counts expired exemptions; nil records nothing.
	PolicyMetrics metrics.PolicyRecorder
	// Namespaces looks up namespace labels for namespace rules and the bulwark.dev/mode label;
	// nil treats every namespace as unlabelled.
	Namespaces NamespaceLabels
	// OwnNamespace is Bulwark's namespace, always exempt.
	OwnNamespace string
	// Images looks up what the images of a pod run as, so that the mutation does not add
	// runAsNonRoot where the kubelet would refuse the container, and their digests, for
	// pin-digests; nil: images are not consulted.
	Images ImageUsers
	// Now is the clock exemption expiry is judged by; nil is time.Now.
	Now func() time.Time
	Log logr.Logger
}

func (o *Options) recorder() metrics.Recorder {
	if o.Metrics == nil {
		return metrics.Nop{}
	}
	return o.Metrics
}

// resolve asks the policy how it applies to this request: its namespace (and labels), the
// requesting user, and the object.
func (o *Options) resolve(ctx context.Context, req *admission.Request, s *subject, snap *policy.Snapshot) policy.Decision {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	r := policy.Request{
		Namespace: req.Namespace, OwnNamespace: o.OwnNamespace,
		UserName: req.UserInfo.Username, Groups: req.UserInfo.Groups,
		Kind: s.gk.Kind, Name: req.Name, Now: now(),
	}
	if s.pod != nil {
		if s.pod.Object.Name != "" {
			r.Name = s.pod.Object.Name
		}
		r.Owners = controllerOwners(req.UserInfo.Username, &s.pod.Object)
	}
	if s.rbac != nil && s.rbac.Meta.Name != "" {
		r.Name = s.rbac.Meta.Name
	}
	if o.Namespaces != nil && req.Namespace != "" {
		labels, err := o.Namespaces(ctx, req.Namespace)
		if err != nil {
			o.Log.Error(err, "namespace labels unavailable; namespace rules and the mode label do not apply to this request",
				"namespace", req.Namespace, "uid", req.UID)
		} else {
			r.NamespaceLabels = labels
		}
	}
	return snap.Resolve(r)
}

// subject is what a request asks the engine to look at, or why it should not.
type subject struct {
	gk          schema.GroupKind
	resource    string // metrics label: "pods", "deployments", "pods/ephemeralcontainers"
	operation   string
	ephemeral   bool             // the pods/ephemeralcontainers subresource
	pod, oldPod *podspec.Pod     // oldPod only on UPDATE
	rbac        *rbacspec.Object // an RBAC object instead of a pod template
	skip        string           // non-empty: admit without evaluation, for this reason
}

// inspect applies the short-cuts shared by both webhooks and decodes the pod template.
func inspect(req *admission.Request) (*subject, error) {
	s := &subject{
		gk:        schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind},
		resource:  resourceLabel(req),
		operation: operationLabel(req),
	}
	// The apiserver always sends a uid, an operation, a kind and a resource; without them
	// the AdmissionReview had no request at all (controller-runtime decodes a missing request
	// as an empty one).
	switch {
	case req.UID == "" && req.Operation == "" && req.Kind.Kind == "" && req.Resource.Resource == "":
		return nil, errors.New("the AdmissionReview has no request")
	case req.UID == "":
		return nil, errors.New("the AdmissionReview request has no uid")
	case req.Operation == "":
		return nil, errors.New("the AdmissionReview request has no operation")
	case req.Kind.Kind == "" || req.Resource.Resource == "":
		return nil, errors.New("the AdmissionReview request has no kind or no resource")
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
	default:
		s.skip = "operation " + string(req.Operation) + " is not evaluated"
		return s, nil
	}
	switch {
	case req.SubResource == "":
	case req.SubResource == "ephemeralcontainers" && req.Resource.Group == "" && req.Resource.Resource == "pods":
		s.ephemeral = true
	default:
		s.skip = "subresource " + req.SubResource + " is not evaluated"
		return s, nil
	}
	if err := kindMatchesResource(req); err != nil {
		return nil, err
	}
	if _, ok := rbacspec.Lookup(s.gk); ok {
		return inspectRBAC(req, s)
	}
	if _, ok := podspec.ShapeOf(s.gk); !ok {
		s.skip = "kind " + s.gk.String() + " carries no pod template Bulwark knows"
		return s, nil
	}
	if len(req.Object.Raw) == 0 {
		return nil, fmt.Errorf("the AdmissionReview request has no object")
	}
	pod, _, err := podspec.Decode(s.gk, req.Object.Raw)
	if err != nil {
		// An object of another kind is that, rather than a bad object of this one.
		if err := objectKindMatches(req); err != nil {
			return nil, err
		}
		return nil, err
	}
	// Decode read the object's apiVersion and kind in the same pass.
	if tm := pod.TypeMeta; !tm.NotStrings {
		if err := typeMetaMatches(req, tm.APIVersion, tm.Kind); err != nil {
			return nil, err
		}
	}
	s.pod = pod
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old, _, err := podspec.Decode(s.gk, req.OldObject.Raw)
		if err != nil {
			return nil, fmt.Errorf("old object: %w", err)
		}
		s.oldPod = old
		if !s.ephemeral && templateUnchanged(old, pod) {
			s.skip = "the update leaves the pod template unchanged"
		}
	}
	return s, nil
}

// inspectRBAC decodes a Role, ClusterRole, RoleBinding or ClusterRoleBinding.
func inspectRBAC(req *admission.Request, s *subject) (*subject, error) {
	if s.ephemeral {
		return nil, fmt.Errorf("the AdmissionReview request's kind %s has no subresource ephemeralcontainers", s.gk)
	}
	if len(req.Object.Raw) == 0 {
		return nil, fmt.Errorf("the AdmissionReview request has no object")
	}
	o, _, err := rbacspec.Decode(s.gk, req.Object.Raw)
	if err != nil {
		return nil, err
	}
	if err := typeMetaMatches(req, o.APIVersion, o.TypeKind); err != nil {
		return nil, err
	}
	s.rbac = o
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old, _, err := rbacspec.Decode(s.gk, req.OldObject.Raw)
		if err != nil {
			return nil, fmt.Errorf("old object: %w", err)
		}
		if grantUnchanged(old, o) {
			s.skip = "the update leaves the rules, subjects and role reference unchanged"
		}
	}
	return s, nil
}

// grantUnchanged compares what the RBAC checks read.
func grantUnchanged(a, b *rbacspec.Object) bool {
	return apiequality.Semantic.DeepEqual(a.Rules, b.Rules) &&
		apiequality.Semantic.DeepEqual(a.Subjects, b.Subjects) && a.RoleRef == b.RoleRef
}

// kindMatchesResource rejects a request whose kind is not the kind of its resource when
// either one is a kind Bulwark evaluates: the decision follows the kind, so a Pod sent as
// "deployments" (or a "pods" request that claims to be some other kind, to be skipped) is
// bad input, not something to evaluate or admit.
func kindMatchesResource(req *admission.Request) error {
	gk := schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
	gr := schema.GroupResource{Group: req.Resource.Group, Resource: req.Resource.Resource}
	k, known := podspec.Lookup(gk)
	if known && k.GroupResource() == gr {
		return nil
	}
	rk, rbacKnown := rbacspec.Lookup(gk)
	if rbacKnown && rk.GroupResource() == gr {
		return nil
	}
	_, resourceKnown := podspec.ForResource(gr)
	_, rbacResourceKnown := rbacspec.ForResource(gr)
	if !known && !rbacKnown && !resourceKnown && !rbacResourceKnown {
		return nil
	}
	return fmt.Errorf("the AdmissionReview request's kind %s does not match its resource %s", gk, gr)
}

// objectKindMatches rejects an object whose own apiVersion group or kind differ from the
// request's kind: it would be decoded as something it is not. An object without them is
// decoded as the request's kind.
func objectKindMatches(req *admission.Request) error {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(req.Object.Raw, &tm); err != nil {
		return nil // podspec.Decode reports it, with the field
	}
	return typeMetaMatches(req, tm.APIVersion, tm.Kind)
}

// typeMetaMatches is objectKindMatches on an apiVersion and kind already read (podspec.Decode
// reads them in its one pass over the object; a separate pass costs a third of the handler).
func typeMetaMatches(req *admission.Request, apiVersion, kind string) error {
	if kind == "" && apiVersion == "" {
		return nil
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return fmt.Errorf("the object's apiVersion %q: %w", apiVersion, err)
	}
	if kind != req.Kind.Kind || gv.Group != req.Kind.Group {
		got := schema.GroupKind{Group: gv.Group, Kind: kind}
		want := schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
		return fmt.Errorf("the object is a %s, but the AdmissionReview request says %s", got, want)
	}
	return nil
}

// resourceLabel is the resource of a request as metrics label it, with its subresource:
// "pods", "deployments", "pods/ephemeralcontainers".
func resourceLabel(req *admission.Request) string {
	if req.SubResource != "" {
		return req.Resource.Resource + "/" + req.SubResource
	}
	return req.Resource.Resource
}

// operationLabel is the operation of a request as metrics label it: "create", "update".
func operationLabel(req *admission.Request) string { return strings.ToLower(string(req.Operation)) }

// templateUnchanged compares what the checks read: the pod template's spec and metadata
// annotations (AppArmor annotations are checked).
func templateUnchanged(a, b *podspec.Pod) bool {
	if a.HasTemplate != b.HasTemplate {
		return false
	}
	return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) &&
		apiequality.Semantic.DeepEqual(a.Meta.Annotations, b.Meta.Annotations)
}

// objectName names the object of a request for messages: `Deployment "web"`, `Pod "web-*"`
// for a generateName, or the bare kind when the object has no name yet.
func objectName(req *admission.Request, s *subject) string {
	kind, name := req.Kind.Kind, ""
	var meta *metav1.ObjectMeta
	switch {
	case s.pod != nil:
		kind, meta = s.pod.GroupKind.Kind, &s.pod.Object
	case s.rbac != nil:
		meta = &s.rbac.Meta
	}
	if meta != nil {
		switch {
		case meta.Name != "":
			name = meta.Name
		case meta.GenerateName != "":
			name = meta.GenerateName + "*"
		}
	}
	if name == "" {
		name = req.Name
	}
	if name == "" {
		return kind
	}
	return kind + " " + strconv.Quote(name)
}

// warningBudget keeps the warnings of one response within the apiserver's limits, keeping
// the first ones and counting the rest. The apiserver relays up to 4096 characters of warnings
// per request, from both webhooks together, and cuts every warning to 256 once that total is
// exceeded; so each webhook keeps to its share (validate: maxWarningTotal, mutate:
// maxMutationWarnings, together under 4096 with the closing "more warnings" lines) and no
// warning is longer than 256.
type warningBudget struct {
	// limit is the share of this response; 0 means maxWarningTotal.
	limit   int
	out     []string
	used    int
	dropped int
}

const (
	maxWarning          = 256
	maxWarningTotal     = 2700
	maxMutationWarnings = 1100
)

func (w *warningBudget) add(s string) {
	limit := w.limit
	if limit == 0 {
		limit = maxWarningTotal
	}
	s = truncate(s, maxWarning)
	if w.used+len(s) > limit {
		w.dropped++
		return
	}
	w.out = append(w.out, s)
	w.used += len(s)
}

// violationWarning is the warning for a warn violation: the whole violation when it fits in
// one warning, otherwise "[check] field: fix"; `bulwark scan` gives the full text.
func violationWarning(v checks.Violation) string {
	if full := v.String(); len(full) <= maxWarning {
		return full
	}
	return fmt.Sprintf("[%s] %s: %s", v.Check, v.Field, v.Fix)
}

// truncate cuts s to at most max bytes, ending in "...", on a UTF-8 character boundary: the
// apiserver drops a warning that is not valid UTF-8.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func (w *warningBudget) list() []string {
	if w.dropped == 0 {
		return w.out
	}
	return append(w.out, fmt.Sprintf("bulwark: %d more warnings not shown; run `bulwark scan` on the manifest to see them all", w.dropped))
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	return b.String()
}

// workloadControllers are the service accounts kube-controller-manager's workload controllers
// make their requests as (with --use-service-account-credentials, as kubeadm runs it).
var workloadControllers = map[string]bool{
	"daemon-set-controller": true, "replicaset-controller": true, "replication-controller": true,
	"statefulset-controller": true, "job-controller": true, "cronjob-controller": true,
	"deployment-controller": true,
}

// controllerOwners returns the workloads an object was made from, nearest first, when a
// workload controller of kube-controller-manager made the request: its controller owner
// reference, and for a Deployment's pod (the ReplicaSet is named after the Deployment and the
// pod's pod-template-hash) the Deployment too. Controllers copy the template of an owner that
// was admitted, so an exemption of the owner carries to what they create; the owner reference
// is trusted only from them, as anyone else could write one.
func controllerOwners(user string, meta *metav1.ObjectMeta) []policy.Owner {
	sa, ok := strings.CutPrefix(user, "system:serviceaccount:kube-system:")
	if !(ok && workloadControllers[sa]) && user != "system:kube-controller-manager" {
		return nil
	}
	ref := metav1.GetControllerOfNoCopy(meta)
	if ref == nil {
		return nil
	}
	owners := []policy.Owner{{Kind: ref.Kind, Name: ref.Name}}
	if hash := meta.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ref.Kind == "ReplicaSet" && hash != "" {
		if d, ok := strings.CutSuffix(ref.Name, "-"+hash); ok && d != "" {
			owners = append(owners, policy.Owner{Kind: "Deployment", Name: d})
		}
	}
	return owners
}
