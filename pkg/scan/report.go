package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// Decisions of a Result, as the JSON report spells them.
const (
	DecisionDenied   = "denied"
	DecisionWarned   = "warned"
	DecisionAdmitted = "admitted"
	DecisionSkipped  = "skipped"
	DecisionExempt   = "exempt"
)

// Result is the evaluation of one Document.
type Result struct {
	Doc *Document
	// Name is metadata.name, or metadata.generateName followed by "*"; empty when neither is set.
	Name      string
	Namespace string
	// Violations of the active checks, ordered by check ID, each with its action.
	Violations []checks.Violation
	// Skipped is true when the kind carries no pod template the engine knows.
	Skipped bool
	// Exempt says why the policy exempts the object (an exempt namespace, an exemption); it
	// is then not evaluated.
	Exempt string
	// Notes are what the webhook would tell the developer besides violations, such as an
	// exemption that has expired.
	Notes []string
	// UID is the object's uid when it was read from a cluster.
	UID string
}

// Decision is what the webhook would do with the object: DecisionDenied (an enforced
// violation), DecisionWarned (a warned one), DecisionAdmitted, or DecisionSkipped (no pod template).
func (r Result) Decision() string {
	switch {
	case r.Skipped:
		return DecisionSkipped
	case r.Exempt != "":
		return DecisionExempt
	case checks.Denied(r.Violations):
		return DecisionDenied
	}
	for _, v := range r.Violations {
		if v.Action == checks.Warn {
			return DecisionWarned
		}
	}
	return DecisionAdmitted
}

// Object names the object for people: `Deployment "web"`, `Deployment "prod/web"` with a
// namespace, `Deployment (no name)`.
func (r Result) Object() string {
	switch {
	case r.Name == "":
		return r.Doc.Kind + " (no name)"
	case r.Namespace != "":
		return fmt.Sprintf("%s %q", r.Doc.Kind, r.Namespace+"/"+r.Name)
	}
	return fmt.Sprintf("%s %q", r.Doc.Kind, r.Name)
}

// Evaluate runs the active checks of s over every document that carries a pod template, in
// order. Other kinds are Skipped. A document that does not decode as its kind is an error
// (an *Error naming it); no results are returned then. A nil s runs no checks.
func Evaluate(docs []*Document, s *checks.Settings) ([]Result, error) {
	if s == nil {
		var err error
		if s, err = checks.Compile(nil, checks.Params{}); err != nil {
			return nil, err
		}
	}
	return evaluate(docs, func(r *Result, pod *podspec.Pod) { r.Violations = s.Evaluate(pod) })
}

// EvaluatePolicy evaluates as the webhook would under snap, as far as a manifest tells:
// exempt namespaces, namespace rules matched by name, and exemptions matched by namespace,
// kind and name apply (the object's metadata.namespace is its namespace). Namespace labels
// (rules by selector, the bulwark.dev/mode label) and the requesting user are not known
// offline, so what depends on them does not apply. Expiry is judged at now.
func EvaluatePolicy(docs []*Document, snap *policy.Snapshot, now time.Time) ([]Result, error) {
	return evaluate(docs, func(r *Result, pod *podspec.Pod) {
		dec := snap.Resolve(policy.Request{
			Namespace: pod.Object.Namespace, Kind: pod.GroupKind.Kind, Name: pod.Object.Name, Now: now,
		})
		r.Notes = dec.Warnings
		if dec.Exempt {
			r.Exempt = dec.Reason
			return
		}
		r.Violations = dec.Apply(dec.Checks.Evaluate(pod))
	})
}

func evaluate(docs []*Document, eval func(*Result, *podspec.Pod)) ([]Result, error) {
	results := make([]Result, 0, len(docs))
	for _, d := range docs {
		gv, err := schema.ParseGroupVersion(d.APIVersion)
		if err != nil {
			return nil, docError(d, LineOf(d, "apiVersion"), fmt.Errorf("invalid apiVersion %q", d.APIVersion))
		}
		r := Result{Doc: d}
		pod, ok, err := podspec.Decode(gv.WithKind(d.Kind).GroupKind(), d.JSON)
		switch {
		case err != nil:
			return nil, DecodeError(d, err)
		case !ok:
			r.Skipped = true
			var o struct {
				Metadata struct {
					Name, GenerateName, Namespace string
				}
			}
			_ = json.Unmarshal(d.JSON, &o) // best effort: the object is not evaluated
			r.Name, r.Namespace = objectName(o.Metadata.Name, o.Metadata.GenerateName), o.Metadata.Namespace
		default:
			r.Name, r.Namespace = objectName(pod.Object.Name, pod.Object.GenerateName), pod.Object.Namespace
			applyDefaults(pod)
			eval(&r, pod)
		}
		results = append(results, r)
	}
	return results, nil
}

// applyDefaults sets what the apiserver defaults before any webhook sees the object, where a
// check's verdict depends on it: a manifest is judged as the webhook would receive it.
//   - A volume without a source is an emptyDir (SetDefaults_Volume).
func applyDefaults(pod *podspec.Pod) {
	for i := range pod.Spec.Volumes {
		if v := &pod.Spec.Volumes[i]; reflect.ValueOf(v.VolumeSource).IsZero() {
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
}

func objectName(name, generateName string) string {
	if name == "" && generateName != "" {
		return generateName + "*"
	}
	return name
}

// DecodeError locates err, an error of podspec.Decode about d, at the line of the field it
// names (the object's line when it names none).
func DecodeError(d *Document, err error) *Error { return docError(d, decodeErrorLine(d, err), err) }

// decodeErrorLine finds the line of the field a decoding error names, or 0.
func decodeErrorLine(d *Document, err error) int {
	var de *podspec.DecodeError
	if errors.As(err, &de) && de.Field != "" && de.Field != "the object" {
		return LineOf(d, de.Field)
	}
	return 0
}

// Denied reports whether any result has an enforced violation: the webhook would deny it.
func Denied(results []Result) bool {
	for _, r := range results {
		if checks.Denied(r.Violations) {
			return true
		}
	}
	return false
}

// Summary counts results by decision. Objects is the number of results.
type Summary struct {
	Objects  int `json:"objects"`
	Denied   int `json:"denied"`
	Warned   int `json:"warned"`
	Admitted int `json:"admitted"`
	Skipped  int `json:"skipped"`
	Exempt   int `json:"exempt,omitempty"`
}

// Summarize counts results by decision.
func Summarize(results []Result) Summary {
	s := Summary{Objects: len(results)}
	for _, r := range results {
		switch r.Decision() {
		case DecisionDenied:
			s.Denied++
		case DecisionWarned:
			s.Warned++
		case DecisionAdmitted:
			s.Admitted++
		case DecisionSkipped:
			s.Skipped++
		case DecisionExempt:
			s.Exempt++
		}
	}
	return s
}

// WriteText writes the report for a terminal or a CI log: per object a header line with its
// location and decision, then one line per violation with the field's location, and a summary.
//
//	deploy.yaml:3: Deployment "web": denied
//	  deploy.yaml:21: enforce [host-network] spec.template.spec.hostNetwork: <message>
//	      fix: <fix>
//	deploy.yaml:30: Service "web": skipped (no pod template)
//	2 objects scanned: 1 denied, 0 with warnings, 1 skipped (no pod template)
func WriteText(w io.Writer, results []Result) error {
	return writeText(w, results, nil)
}

// writeText writes the text report; c is the cluster the results were read from, nil for files.
func writeText(w io.Writer, results []Result, c *Cluster) error {
	var b bytes.Buffer
	for _, r := range results {
		d := r.Doc
		var decision string
		switch r.Decision() {
		case DecisionDenied:
			decision = "denied"
		case DecisionWarned:
			decision = "admitted with warnings"
		case DecisionSkipped:
			decision = "skipped (no pod template)"
		case DecisionExempt:
			decision = "exempt: " + r.Exempt
		default:
			decision = "admitted"
			if len(r.Violations) == 0 {
				decision = "ok"
			}
		}
		if c != nil {
			// The cluster is the location; its objects have no lines.
			fmt.Fprintf(&b, "%s: %s: %s\n", d.Source, r.Object(), decision)
		} else {
			fmt.Fprintf(&b, "%s:%d: %s: %s\n", d.Source, d.Line, r.Object(), decision)
		}
		for _, n := range r.Notes {
			if c != nil {
				fmt.Fprintf(&b, "  note: %s\n", n)
			} else {
				fmt.Fprintf(&b, "  %s:%d: note: %s\n", d.Source, d.Line, n)
			}
		}
		for _, v := range r.Violations {
			if c != nil {
				fmt.Fprintf(&b, "  %s [%s] %s: %s\n", v.Action, v.Check, v.Field, v.Message)
			} else {
				fmt.Fprintf(&b, "  %s:%d: %s [%s] %s: %s\n", d.Source, LineOf(d, v.Field), v.Action, v.Check, v.Field, v.Message)
			}
			if v.Fix != "" {
				fmt.Fprintf(&b, "      fix: %s\n", v.Fix)
			}
		}
	}
	s := Summarize(results)
	if c != nil {
		fmt.Fprintf(&b, "%s read from %s: %d evaluated (%d denied, %d with warnings), %d exempt, %d counted against their owner\n",
			plural(c.Read, "object"), c.Where(), c.Evaluated, s.Denied, s.Warned, c.Exempt, c.Owned)
		_, err := w.Write(b.Bytes())
		return err
	}
	fmt.Fprintf(&b, "%s scanned: %d denied, %d with warnings, %d skipped (no pod template)",
		plural(s.Objects, "object"), s.Denied, s.Warned, s.Skipped)
	if s.Exempt > 0 {
		fmt.Fprintf(&b, ", %d exempt", s.Exempt)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

type jsonReport struct {
	Results []jsonResult `json:"results"`
	Summary Summary      `json:"summary"`
	Cluster *jsonCluster `json:"cluster,omitempty"`
}

// jsonCluster is where a cluster scan read its objects and what it counted.
type jsonCluster struct {
	Context   string `json:"context"`
	Server    string `json:"server"`
	Namespace string `json:"namespace,omitempty"`
	Read      int    `json:"read"`
	Evaluated int    `json:"evaluated"`
	Exempt    int    `json:"exempt"`
	Owned     int    `json:"owned"`
}

type jsonResult struct {
	Source     string          `json:"source"`
	Document   int             `json:"document"`
	Item       int             `json:"item"`
	Line       int             `json:"line"`
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Name       string          `json:"name"`
	Namespace  string          `json:"namespace"`
	UID        string          `json:"uid,omitempty"`
	Decision   string          `json:"decision"`
	Exempt     string          `json:"exempt,omitempty"`
	Notes      []string        `json:"notes,omitempty"`
	Violations []jsonViolation `json:"violations"`
}

type jsonViolation struct {
	Check   string        `json:"check"`
	Field   string        `json:"field"`
	Message string        `json:"message"`
	Fix     string        `json:"fix"`
	Action  checks.Action `json:"action"`
	Line    int           `json:"line"`
}

// WriteJSON writes the report as one indented JSON object: "results" (one per object, in
// input order, item 0 outside a List) and "summary" (counts by decision).
func WriteJSON(w io.Writer, results []Result) error {
	return writeJSON(w, results, nil)
}

// writeJSON writes the JSON report; c is the cluster the results were read from, nil for files.
func writeJSON(w io.Writer, results []Result, c *Cluster) error {
	rep := jsonReport{Results: make([]jsonResult, 0, len(results)), Summary: Summarize(results)}
	if c != nil {
		rep.Cluster = &jsonCluster{
			Context: c.Context, Server: c.Server, Namespace: c.Namespace,
			Read: c.Read, Evaluated: c.Evaluated, Exempt: c.Exempt, Owned: c.Owned,
		}
	}
	for _, r := range results {
		d := r.Doc
		jr := jsonResult{
			Source: d.Source, Document: d.Index, Item: d.Item, Line: d.Line,
			APIVersion: d.APIVersion, Kind: d.Kind, Name: r.Name, Namespace: r.Namespace, UID: r.UID,
			Decision: r.Decision(), Exempt: r.Exempt, Notes: r.Notes, Violations: make([]jsonViolation, 0, len(r.Violations)),
		}
		for _, v := range r.Violations {
			jr.Violations = append(jr.Violations, jsonViolation{
				Check: v.Check, Field: v.Field, Message: v.Message, Fix: v.Fix, Action: v.Action,
				Line: LineOf(d, v.Field),
			})
		}
		rep.Results = append(rep.Results, jr)
	}
	return writeIndented(w, rep)
}

func writeIndented(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
