// Package admission adapts the engine to Kubernetes admission: the validating and mutating
// handlers served by `bulwark serve`. Decisions are made by pkg/checks and pkg/mutate; this
// package only decides what to evaluate and how to answer.
package admission

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// Options configure both handlers.
type Options struct {
	Policy  policy.Source
	Metrics metrics.Recorder
	Log     logr.Logger
}

func (o *Options) recorder() metrics.Recorder {
	if o.Metrics == nil {
		return metrics.Nop{}
	}
	return o.Metrics
}

// subject is what a request asks the engine to look at, or why it should not.
type subject struct {
	gk          schema.GroupKind
	resource    string // metrics label: "pods", "deployments", "pods/ephemeralcontainers"
	operation   string
	ephemeral   bool         // the pods/ephemeralcontainers subresource
	pod, oldPod *podspec.Pod // oldPod only on UPDATE
	skip        string       // non-empty: admit without evaluation, for this reason
}

// inspect applies the short-cuts shared by both webhooks and decodes the pod template.
func inspect(req *admission.Request) (*subject, error) {
	s := &subject{
		gk:        schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind},
		resource:  req.Resource.Resource,
		operation: strings.ToLower(string(req.Operation)),
	}
	if req.SubResource != "" {
		s.resource += "/" + req.SubResource
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
	if _, ok := podspec.ShapeOf(s.gk); !ok {
		s.skip = "kind " + s.gk.String() + " carries no pod template Bulwark knows"
		return s, nil
	}
	if len(req.Object.Raw) == 0 {
		return nil, fmt.Errorf("the AdmissionReview request has no object")
	}
	pod, _, err := podspec.Decode(s.gk, req.Object.Raw)
	if err != nil {
		return nil, err
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

// templateUnchanged compares what the checks read: the pod template's spec and metadata
// annotations (AppArmor annotations are checked).
func templateUnchanged(a, b *podspec.Pod) bool {
	if a.HasTemplate != b.HasTemplate {
		return false
	}
	return apiequality.Semantic.DeepEqual(a.Spec, b.Spec) &&
		apiequality.Semantic.DeepEqual(a.Meta.Annotations, b.Meta.Annotations)
}

// objectName names the object of a request for messages: `Deployment "web"`.
func objectName(req *admission.Request, pod *podspec.Pod) string {
	if pod != nil {
		if pod.Object.Name == "" && pod.Object.GenerateName == "" && req.Name != "" {
			pod.Object.Name = req.Name
		}
		return pod.Name()
	}
	if req.Name != "" {
		return req.Kind.Kind + " " + `"` + req.Name + `"`
	}
	return req.Kind.Kind
}

// warningBudget keeps the warnings of one response under the apiserver's limit (4096
// characters in all, each at most 256), keeping the first ones and counting the rest.
type warningBudget struct {
	out     []string
	used    int
	dropped int
}

const (
	maxWarning      = 256
	maxWarningTotal = 3800
)

func (w *warningBudget) add(s string) {
	if len(s) > maxWarning {
		s = s[:maxWarning-3] + "..."
	}
	if w.used+len(s) > maxWarningTotal {
		w.dropped++
		return
	}
	w.out = append(w.out, s)
	w.used += len(s)
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
