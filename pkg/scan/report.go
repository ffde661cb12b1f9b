package scan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	"github.com/bulwark-k8s/bulwark/internal/yamljson"
	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

// Decisions of a Result, as the JSON report spells them.
const (
	DecisionDenied   = "denied"
	DecisionWarned   = "warned"
	DecisionAdmitted = "admitted"
	DecisionOK       = "ok"
	DecisionSkipped  = "skipped"
	DecisionExempt   = "exempt"
)

// JSONFormatVersion is the version of the JSON report's format (its "formatVersion"): it
// changes when a field is removed or changes meaning, not when one is added.
const JSONFormatVersion = 1

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
	// UnknownFields are the paths of the fields of the object that its kind does not have
	// (a misspelt runAsNonroot), which the apiserver would drop.
	UnknownFields []string
}

// Decision is what the webhook would do with the object: DecisionDenied (an enforced
// violation), DecisionWarned (a warned one), DecisionAdmitted (only audited violations),
// DecisionOK (no violation at all), DecisionExempt, or DecisionSkipped (no pod template).
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
	if len(r.Violations) == 0 {
		return DecisionOK
	}
	return DecisionAdmitted
}

// Compact keeps of r's document only what the reports give: it resolves the line of each
// field its violations and unknown fields name (LineOf), then gives r a copy of the document
// without its YAML tree and JSON. A scan that evaluates each document as it is read
// (ReadEach) and keeps compact results holds what it found, not what it read. Once compact,
// r cannot be evaluated again nor its object decoded; violations added afterwards are located
// at the object's line.
func (r *Result) Compact() {
	d := *r.Doc
	if d.Node != nil {
		d.lines = make([]fieldLine, 0, len(r.Violations)+len(r.UnknownFields))
		add := func(field string) {
			for _, fl := range d.lines {
				if fl.field == field {
					return
				}
			}
			d.lines = append(d.lines, fieldLine{field, LineOf(r.Doc, field)})
		}
		for _, v := range r.Violations {
			add(v.Field)
		}
		for _, f := range r.UnknownFields {
			add(f)
		}
	}
	d.Node, d.Root, d.JSON = nil, nil, nil
	r.Doc = &d
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

// Evaluate runs the active checks of s over every document that carries a pod template or is
// an RBAC object (Role, ClusterRole and their bindings), in order. Other kinds are Skipped. A document that does not decode as its kind, or that names
// a kind the engine evaluates under an apiVersion that does not serve it (a Deployment of
// apiVersion v1), is an error (an *Error naming it); no results are returned then. A nil s
// runs no checks.
func Evaluate(docs []*Document, s *checks.Settings) ([]Result, error) {
	if s == nil {
		var err error
		if s, err = checks.Compile(nil, checks.Params{}); err != nil {
			return nil, err
		}
	}
	results, _, err := evaluate(docs, false, func(r *Result, o object) { r.Violations = o.evaluate(s) })
	return results, err
}

// object is what a document is judged as: a pod template, or an RBAC object.
type object struct {
	pod  *podspec.Pod
	rbac *rbacspec.Object
}

// evaluate runs the checks of s that judge the object.
func (o object) evaluate(s *checks.Settings) []checks.Violation {
	if o.rbac != nil {
		return s.EvaluateRBAC(o.rbac)
	}
	return s.Evaluate(o.pod)
}

// name is the object's metadata.name.
func (o object) name() string {
	if o.rbac != nil {
		return o.rbac.Meta.Name
	}
	return o.pod.Object.Name
}

// EvaluatePolicy evaluates as the webhook would under snap, as far as a manifest tells:
// exempt namespaces, namespace rules matched by name, and exemptions matched by namespace,
// kind and name apply (the object's metadata.namespace is its namespace). Namespace labels
// (rules by selector, the bulwark.dev/mode label) and the requesting user are not known
// offline, so what depends on them does not apply. Expiry is judged at now. Errors are as
// Evaluate's.
func EvaluatePolicy(docs []*Document, snap *policy.Snapshot, now time.Time) ([]Result, error) {
	results, _, err := evaluate(docs, false, policyEval(snap, now))
	return results, err
}

// EvaluatePolicyAll is EvaluatePolicy that goes on past the documents it would stop at: each
// is returned as Unread, in order, and has no Result.
func EvaluatePolicyAll(docs []*Document, snap *policy.Snapshot, now time.Time) ([]Result, []Unread) {
	results, unread, _ := evaluate(docs, true, policyEval(snap, now))
	return results, unread
}

func policyEval(snap *policy.Snapshot, now time.Time) func(*Result, object) {
	return func(r *Result, o object) {
		dec := snap.Resolve(policy.Request{Namespace: r.Namespace, Kind: r.Doc.Kind, Name: o.name(), Now: now})
		r.Notes = append(r.Notes, dec.Warnings...)
		if dec.Exempt {
			r.Exempt = dec.Reason
			return
		}
		r.Violations = dec.Apply(o.evaluate(dec.Checks))
	}
}

func evaluate(docs []*Document, keepGoing bool, eval func(*Result, object)) ([]Result, []Unread, error) {
	results := make([]Result, 0, len(docs))
	var unread []Unread
	for _, d := range docs {
		r, err := evaluateOne(d, eval)
		if err != nil {
			if !keepGoing {
				return nil, nil, err
			}
			unread = append(unread, Unread{Error: err, seq: d.seq})
			continue
		}
		results = append(results, r)
	}
	return results, unread, nil
}

func evaluateOne(d *Document, eval func(*Result, object)) (Result, *Error) {
	gv, err := schema.ParseGroupVersion(d.APIVersion)
	if err != nil {
		return Result{}, docError(d, LineOf(d, "apiVersion"), fmt.Errorf("invalid apiVersion %q", d.APIVersion))
	}
	r := Result{Doc: d}
	gk := gv.WithKind(d.Kind).GroupKind()
	if o, ok, err := rbacspec.Decode(gk, d.JSON); ok {
		if err != nil {
			return Result{}, DecodeError(d, err)
		}
		r.Name, r.Namespace = objectName(o.Meta.Name, o.Meta.GenerateName), o.Meta.Namespace
		r.UnknownFields = unknownFields(gk, d.JSON)
		eval(&r, object{rbac: o})
		return r, nil
	}
	pod, ok, err := podspec.Decode(gk, d.JSON)
	switch {
	case err != nil:
		return Result{}, DecodeError(d, err)
	case !ok:
		if err := unservedKind(gv, d.Kind); err != nil {
			return Result{}, docError(d, LineOf(d, "apiVersion"), err)
		}
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
		r.UnknownFields = unknownFields(gk, d.JSON)
		applyDefaults(pod)
		eval(&r, object{pod: pod})
	}
	return r, nil
}

// unservedKind explains an object whose kind the engine evaluates, written with an
// apiVersion of Kubernetes that does not serve it or in the wrong case ("apiVersion v1 has no
// kind Deployment; did you mean apps/v1?"): kubectl would find no such kind, and the scan
// would otherwise pass it over as an object without a pod template. nil for anything else,
// custom resources included.
func unservedKind(gv schema.GroupVersion, kind string) error {
	if !builtinGroup(gv.Group) {
		return nil
	}
	var known []schema.GroupVersionKind
	for _, k := range podspec.All() {
		known = append(known, k.GroupVersion().WithKind(k.Kind))
	}
	for _, k := range rbacspec.All() {
		known = append(known, schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind})
	}
	for _, k := range known {
		switch {
		case k.Kind == kind:
			return fmt.Errorf("apiVersion %s has no kind %s; did you mean %s?", gv, kind, k.GroupVersion())
		case strings.EqualFold(k.Kind, kind) && k.Group == gv.Group:
			return fmt.Errorf("apiVersion %s has no kind %s; did you mean %s?", gv, kind, k.Kind)
		}
	}
	return nil
}

// builtinGroup reports an API group of Kubernetes itself, where no custom resource lives.
func builtinGroup(group string) bool {
	switch group {
	case "", "apps", "batch", "extensions", "policy", "autoscaling":
		return true
	}
	return strings.HasSuffix(group, ".k8s.io") && !strings.HasSuffix(group, ".x-k8s.io")
}

// unknownFields lists the fields of obj, an object of the kind gk, that its type does not
// have: the misspelt field (runAsNonroot) that kubectl apply rejects with its default
// validation, and that the apiserver drops without it. The paths are as kubectl prints them.
func unknownFields(gk schema.GroupKind, obj []byte) []string {
	var typed any
	if k, ok := podspec.Lookup(gk); ok {
		typed = k.NewObject()
	} else if k, ok := rbacspec.Lookup(gk); ok {
		typed = k.NewObject()
	} else {
		return nil
	}
	strict, _ := kjson.UnmarshalStrict(obj, typed, kjson.DisallowUnknownFields)
	var out []string
	for _, e := range strict {
		var fe kjson.FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.FieldPath())
		}
	}
	return out
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
// names (the object's line when it names none). A boolean where a string belongs is most
// often a plain yes or on that YAML 1.1 reads as one: the error says to quote it.
func DecodeError(d *Document, err error) *Error {
	var de *podspec.DecodeError
	if errors.As(err, &de) && de.Err.Error() == "got true or false, want a string" {
		err = fmt.Errorf("%w (quote the value: kubectl reads a plain true, yes, on, false, no or off as a boolean)", err)
	}
	return docError(d, decodeErrorLine(d, err), err)
}

// decodeErrorLine finds the line of the field a decoding error names, or 0. The decoder's
// path has no list indexes ("spec.containers.env.value"): where it crosses a list, the line
// is that of the first such field holding the kind of value the error got; when none does,
// that of the field's nearest ancestor (LineOf).
func decodeErrorLine(d *Document, err error) int {
	var de *podspec.DecodeError
	if !errors.As(err, &de) || de.Field == "" || de.Field == "the object" {
		return 0
	}
	if got, _, ok := strings.Cut(strings.TrimPrefix(de.Err.Error(), "got "), ", want "); ok && d.Node != nil {
		if line := findValue(d.Node, d.Line, strings.Split(de.Field, "."), got); line > 0 {
			return line
		}
	}
	return LineOf(d, de.Field)
}

// findValue returns the line of the first field at path below n (crossing lists item by
// item) whose value, or one item of it, is of the kind got ("a string", "true or false", as
// podspec.DecodeError says), or 0. line is the line of n's key.
func findValue(n *yaml.Node, line int, path []string, got string) int {
	n = yamljson.Deref(n)
	if n == nil {
		return 0
	}
	if len(path) == 0 {
		if jsonKind(n) == got {
			return line
		}
		if n.Kind == yaml.SequenceNode {
			for _, item := range n.Content {
				if jsonKind(yamljson.Deref(item)) == got {
					return item.Line
				}
			}
		}
		return 0
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if l := findValue(item, item.Line, path, got); l > 0 {
				return l
			}
		}
	case yaml.MappingNode:
		if k, v := yamljson.Lookup(n, path[0]); k != nil {
			return findValue(v, k.Line, path[1:], got)
		}
	}
	return 0
}

// jsonKind names the JSON value n reads as, in the words of podspec.DecodeError.
func jsonKind(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return "an array"
	case yaml.MappingNode:
		return "an object"
	}
	js, err := kubectlYAML.ToJSON(n)
	if err != nil || len(js) == 0 {
		return ""
	}
	switch js[0] {
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "a null"
	}
	return "a number"
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
	Objects int `json:"objects"`
	Denied  int `json:"denied"`
	Warned  int `json:"warned"`
	// Admitted counts objects admitted with audited violations only, OK those without any.
	Admitted int `json:"admitted"`
	OK       int `json:"ok"`
	Skipped  int `json:"skipped"`
	Exempt   int `json:"exempt,omitempty"`
	// NotRead counts what held no object to evaluate (Unread); set by the JSON report.
	NotRead int `json:"notRead,omitempty"`
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
		case DecisionOK:
			s.OK++
		case DecisionSkipped:
			s.Skipped++
		case DecisionExempt:
			s.Exempt++
		}
	}
	return s
}

// WriteText writes the report for a terminal or a CI log: per object a header line with its
// location and decision, then one line per violation with the field's location, the notes on
// what was not read, and a summary.
//
//	deploy.yaml:3: Deployment "web": denied
//	  deploy.yaml:21: enforce [host-network] spec.template.spec.hostNetwork: <message>
//	      fix: <fix>
//	deploy.yaml:30: Service "web": skipped (no pod template)
//	Chart.yaml:1: document 1 not read: not a Kubernetes object: kind is missing (a Helm chart's Chart.yaml)
//	2 objects scanned: 1 denied, 0 with warnings, 1 skipped (no pod template), 1 not read
func WriteText(w io.Writer, results []Result) error {
	return writeText(w, Report{Results: results})
}

// writeText writes the text report.
func writeText(w io.Writer, rep Report) error {
	b := bufio.NewWriterSize(w, writeBuffer)
	c := rep.Cluster
	for _, r := range rep.shown() {
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
		case DecisionOK:
			decision = "ok"
		default:
			decision = "admitted"
		}
		if c != nil {
			// The cluster is the location; its objects have no lines.
			fmt.Fprintf(b, "%s: %s: %s\n", d.Source, r.Object(), decision)
		} else {
			fmt.Fprintf(b, "%s:%d: %s: %s\n", d.Source, d.Line, r.Object(), decision)
		}
		for _, n := range r.Notes {
			if c != nil {
				fmt.Fprintf(b, "  note: %s\n", n)
			} else {
				fmt.Fprintf(b, "  %s:%d: note: %s\n", d.Source, d.Line, n)
			}
		}
		for _, f := range r.UnknownFields {
			if c != nil {
				fmt.Fprintf(b, "  note: %s\n", unknownFieldNote(f))
			} else {
				fmt.Fprintf(b, "  %s:%d: note: %s\n", d.Source, LineOf(d, f), unknownFieldNote(f))
			}
		}
		for _, v := range r.Violations {
			if c != nil {
				fmt.Fprintf(b, "  %s [%s] %s: %s\n", v.Action, v.Check, v.Field, v.Message)
			} else {
				fmt.Fprintf(b, "  %s:%d: %s [%s] %s: %s\n", d.Source, LineOf(d, v.Field), v.Action, v.Check, v.Field, v.Message)
			}
			if v.Fix != "" {
				fmt.Fprintf(b, "      fix: %s\n", v.Fix)
			}
		}
	}
	for _, u := range rep.Unread {
		b.WriteString(u.Note())
		b.WriteByte('\n')
	}
	s := Summarize(rep.Results)
	if c != nil {
		fmt.Fprintf(b, "%s read from %s: %d evaluated (%d denied, %d with warnings), %d exempt, %d counted against their owner\n",
			plural(c.Read, "object"), c.Where(), c.Evaluated, s.Denied, s.Warned, c.Exempt, c.Owned)
		return b.Flush()
	}
	fmt.Fprintf(b, "%s scanned: %d denied, %d with warnings, %d skipped (no pod template)",
		plural(s.Objects, "object"), s.Denied, s.Warned, s.Skipped)
	if s.Exempt > 0 {
		fmt.Fprintf(b, ", %d exempt", s.Exempt)
	}
	if len(rep.Unread) > 0 {
		fmt.Fprintf(b, ", %d not read", len(rep.Unread))
	}
	b.WriteByte('\n')
	return b.Flush()
}

// unknownFieldNote is the note on a field the object's kind does not have.
func unknownFieldNote(field string) string {
	return fmt.Sprintf("unknown field %q: kubectl apply rejects it, and without validation the apiserver drops it", field)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

type jsonReport struct {
	FormatVersion int          `json:"formatVersion"`
	Results       []jsonResult `json:"results"`
	Summary       Summary      `json:"summary"`
	NotRead       []jsonUnread `json:"notRead,omitempty"`
	Cluster       *jsonCluster `json:"cluster,omitempty"`
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

// WriteJSON writes the report as one indented JSON object: "formatVersion"
// (JSONFormatVersion), "results" (one per object, in
// input order, item 0 outside a List), "summary" (counts by decision), and "notRead" (what
// held no object to evaluate, when anything did).
func WriteJSON(w io.Writer, results []Result) error {
	return writeJSON(w, Report{Results: results})
}

// writeJSON writes the JSON report.
func writeJSON(w io.Writer, rep Report) error {
	shown := rep.shown()
	out := jsonReport{FormatVersion: JSONFormatVersion, Results: []jsonResult{}, Summary: Summarize(rep.Results)}
	out.Summary.NotRead = len(rep.Unread)
	if c := rep.Cluster; c != nil {
		out.Cluster = &jsonCluster{
			Context: c.Context, Server: c.Server, Namespace: c.Namespace,
			Read: c.Read, Evaluated: c.Evaluated, Exempt: c.Exempt, Owned: c.Owned,
		}
	}
	for _, u := range rep.Unread {
		out.NotRead = append(out.NotRead, jsonUnread{
			Source: u.Source, Document: u.Document, Item: u.Item, Line: u.Line, Reason: u.Err.Error(), Known: u.Known,
		})
	}
	return writeIndentedArray(w, out, "  ", "results", func(yield func(any) error) error {
		for _, r := range shown {
			if err := yield(newJSONResult(r)); err != nil {
				return err
			}
		}
		return nil
	})
}

// newJSONResult is r as the JSON report gives it.
func newJSONResult(r Result) jsonResult {
	d := r.Doc
	jr := jsonResult{
		Source: d.Source, Document: d.Index, Item: d.Item, Line: d.Line,
		APIVersion: d.APIVersion, Kind: d.Kind, Name: r.Name, Namespace: r.Namespace, UID: r.UID,
		Decision: r.Decision(), Exempt: r.Exempt, Notes: r.Notes, Violations: make([]jsonViolation, 0, len(r.Violations)),
	}
	for _, f := range r.UnknownFields {
		jr.Notes = append(jr.Notes[:len(jr.Notes):len(jr.Notes)], unknownFieldNote(f))
	}
	for _, v := range r.Violations {
		jr.Violations = append(jr.Violations, jsonViolation{
			Check: v.Check, Field: v.Field, Message: v.Message, Fix: v.Fix, Action: v.Action,
			Line: LineOf(d, v.Field),
		})
	}
	return jr
}

type jsonUnread struct {
	Source   string `json:"source"`
	Document int    `json:"document"`
	Item     int    `json:"item"`
	Line     int    `json:"line"`
	Reason   string `json:"reason"`
	Known    bool   `json:"known"`
}

func writeIndented(w io.Writer, v any) error {
	var b bytes.Buffer
	if err := newIndentEncoder(&b, "").Encode(v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeBuffer is the size of the buffer the reports are written through.
const writeBuffer = 64 << 10

// newIndentEncoder returns the JSON encoder of the reports: indented by two spaces after
// prefix, HTML characters as they are.
func newIndentEncoder(w io.Writer, prefix string) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	return enc
}

// writeIndentedArray writes v as writeIndented does, except for its member key, an empty
// array whose key is indented by indent: there it writes the items that items yields, each
// encoded as it comes, so that a report's results are never all encoded in memory at once.
// The output is the same as writeIndented's of v with the items in that array.
func writeIndentedArray(w io.Writer, v any, indent, key string, items func(yield func(any) error) error) error {
	var doc bytes.Buffer
	if err := newIndentEncoder(&doc, "").Encode(v); err != nil {
		return err
	}
	marker := []byte("\n" + indent + strconv.Quote(key) + ": []")
	at := bytes.Index(doc.Bytes(), marker)
	if at < 0 {
		return fmt.Errorf("no empty %q array in the report", key)
	}
	split := at + len(marker) - 1 // before the closing bracket
	bw := bufio.NewWriterSize(w, writeBuffer)
	bw.Write(doc.Bytes()[:split])
	var item bytes.Buffer
	enc := newIndentEncoder(&item, indent+"  ")
	n := 0
	err := items(func(x any) error {
		item.Reset()
		if err := enc.Encode(x); err != nil {
			return err
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		bw.WriteString("\n" + indent + "  ")
		_, err := bw.Write(bytes.TrimSuffix(item.Bytes(), []byte("\n")))
		return err
	})
	if err != nil {
		return err
	}
	if n > 0 {
		bw.WriteString("\n" + indent)
	}
	bw.Write(doc.Bytes()[split:])
	return bw.Flush()
}
