package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
)

// APIVersion and Kind of a policy document.
const (
	APIVersion = "bulwark.dev/v1alpha1"
	Kind       = "Policy"
	// ConfigMapKey is the key of a ConfigMap's data that holds the policy document.
	ConfigMapKey = "policy.yaml"
)

// Snapshot is one immutable, compiled policy. It is safe for concurrent use and never
// changes after it is built; a new policy is a new Snapshot.
type Snapshot struct {
	// Source says where the policy came from: "profile nsa", a file path.
	Source string
	// Profile is the profile the policy starts from.
	Profile string
	// Mode lowers every action in every namespace, as the namespace mode label does: warn or
	// audit; "" is enforce (nothing lowered).
	Mode checks.Action
	// Checks holds the action of every check and the check parameters.
	Checks *checks.Settings
	// Mutation holds the mutation defaults, nil when mutation is off, or while Mode is audit
	// (the roll-out's first step changes nothing).
	Mutation *mutate.Options
	// Hash identifies the effective policy (sha256 of the document it was built from).
	Hash string

	// mutationOn and mutation are the mutation section: Mutation points at mutation when on.
	mutationOn bool
	mutation   mutate.Options
	// exempt holds the exempt namespaces of the document (default: kube-system), exemptList
	// the same in the document's order.
	exempt     map[string]bool
	exemptList []string
	rules      []rule
	exemptions []exemption
	guardrails Guardrails
	// document is the document the policy was built from, as JSON.
	document []byte
	// narrowed holds the settings of the policy (base 0) and of each rule (base i+1) with
	// the checks of one exemption turned off, for every exemption that names checks.
	narrowed map[narrowKey]*checks.Settings
	// combined caches the settings for requests that several exemptions with checks match
	// at once (string key: base and check IDs), filled on first use.
	combined *sync.Map
}

// Document is the policy file format (apiVersion bulwark.dev/v1alpha1, kind Policy).
type Document struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Profile is the starting point: baseline, restricted or nsa (default).
	Profile string `json:"profile,omitempty"`
	// Mode is how far the policy is rolled out: enforce (default), warn or audit. warn and
	// audit lower every action as the namespace mode label does.
	Mode string `json:"mode,omitempty"`
	// Checks overrides the profile per check ID.
	Checks map[string]CheckOverride `json:"checks,omitempty"`
	// Mutation overrides the profile's mutation defaults.
	Mutation *MutationSpec `json:"mutation,omitempty"`
	// Namespaces lists the exempt namespaces and the namespace rules.
	Namespaces *NamespacesSpec `json:"namespaces,omitempty"`
	// Exemptions exempt users and workloads from every check or from some.
	Exemptions []Exemption `json:"exemptions,omitempty"`
	// Guardrails are the LimitRange, ResourceQuota and NetworkPolicy Bulwark creates in the
	// namespaces.
	Guardrails *GuardrailsSpec `json:"guardrails,omitempty"`
}

// CheckOverride changes one check: its action, and the parameters the check declares
// (checks.Check.Params), written beside the action: checks.image-registry.allowedRegistries.
type CheckOverride struct {
	Action ActionValue
	// Params holds the parameters by name.
	Params map[string][]string
}

// MarshalJSON writes the action and the non-empty parameters as one object.
func (o CheckOverride) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 1+len(o.Params))
	if o.Action != "" {
		m["action"] = o.Action
	}
	for name, values := range o.Params {
		if len(values) > 0 {
			m[name] = values
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the action and every other key as a parameter (a list of strings).
// Which keys a check takes is checked with the document's types (typeCheck) and when the
// policy is compiled.
func (o *CheckOverride) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*o = CheckOverride{}
	for key, raw := range m {
		if key == "action" {
			if err := json.Unmarshal(raw, &o.Action); err != nil {
				return err
			}
			continue
		}
		var values []string
		if err := json.Unmarshal(raw, &values); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if o.Params == nil {
			o.Params = map[string][]string{}
		}
		o.Params[key] = values
	}
	return nil
}

// fields gives the keys a check override may hold and their types, for typeCheck: the
// action, and the parameters any check declares.
func (CheckOverride) fields() map[string]reflect.Type {
	out := map[string]reflect.Type{"action": reflect.TypeFor[ActionValue]()}
	for _, name := range checks.ParamNames() {
		out[name] = reflect.TypeFor[[]string]()
	}
	return out
}

// ActionValue is a check action as the document spells it. The document is read as YAML 1.2,
// where an unquoted off is the string "off"; Kubernetes tooling reads YAML 1.1, where it is the
// boolean false, so false (from JSON, or written as such) is taken as "off" too, since it is
// what the author meant. Any other non-string value is kept as written and reported as an
// unknown action, with its field path, together with the document's other errors.
type ActionValue checks.Action

// UnmarshalJSON accepts a string, or false for "off".
func (a *ActionValue) UnmarshalJSON(data []byte) error {
	if string(data) == "false" {
		*a = ActionValue(checks.Off)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		s = string(data)
	}
	*a = ActionValue(s)
	return nil
}

// MutationSpec overrides the mutation defaults.
type MutationSpec struct {
	// Enabled turns mutation on or off as a whole (on in the nsa profile).
	Enabled *bool `json:"enabled,omitempty"`
	// Defaults turns single defaults on or off by name.
	Defaults map[string]bool `json:"defaults,omitempty"`
	// Resources sets the values the resources default fills in.
	Resources *ResourceDefaults `json:"resources,omitempty"`
	// RunAsUser is the uid run-as-non-root gives a pod whose images (looked up with
	// bulwark serve --resolve-images) would not start under runAsNonRoot alone; unset: such
	// a pod is left without runAsNonRoot.
	RunAsUser *int64 `json:"runAsUser,omitempty"`
}

// ResourceDefaults are the requests and limits given to containers that lack them.
type ResourceDefaults struct {
	Requests *CPUMemory `json:"requests,omitempty"`
	Limits   *CPUMemory `json:"limits,omitempty"`
}

// CPUMemory holds two quantities, e.g. cpu: 100m, memory: 128Mi.
type CPUMemory struct {
	CPU    Quantity `json:"cpu,omitempty"`
	Memory Quantity `json:"memory,omitempty"`
}

// Quantity is a resource quantity as the document spells it: a string ("500m", "1Gi") or, as
// in Kubernetes manifests, a plain number (cpu: 1, cpu: 0.5). It is validated when the
// policy is compiled.
type Quantity string

// UnmarshalJSON accepts a JSON string or number.
func (q *Quantity) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*q = Quantity(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("a quantity must be a string such as \"500m\" or a number, not %s", data)
	}
	*q = Quantity(n.String())
	return nil
}

// FromProfile builds the snapshot of a built-in profile.
func FromProfile(name string) (*Snapshot, error) {
	if name == "" {
		name = NSA
	}
	doc := &Document{APIVersion: APIVersion, Kind: Kind, Profile: name}
	var ps problems
	s := doc.compile("profile "+name, &ps)
	if len(ps.list) > 0 {
		return nil, &Error{Source: "profile " + name, Problems: ps.list}
	}
	return s, nil
}

// LoadFile reads a policy document, or a ConfigMap manifest holding one under policy.yaml.
func LoadFile(path string) (*Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes and compiles a policy document (YAML or JSON), or a ConfigMap manifest that
// holds one under the key policy.yaml. Unknown fields, values of the wrong type, unknown
// check IDs and actions, bad quantities, patterns, selectors and dates are errors; all of
// them are reported together, each with its line and field path, as an *Error.
func Parse(data []byte, source string) (*Snapshot, error) {
	p, perr := parseYAML(data)
	if perr != nil {
		return nil, &Error{Source: source, Problems: []Problem{*perr}}
	}
	if m, ok := p.value.(map[string]any); ok && m["kind"] == "ConfigMap" {
		return parseConfigMap(p, m, source)
	}
	return parseDocument(p, source, "")
}

// parseConfigMap parses the policy held in a ConfigMap manifest's data.policy.yaml. Its
// problems are reported with lines counted from the first line of that text.
func parseConfigMap(p *parsed, m map[string]any, source string) (*Snapshot, error) {
	fail := func(field, msg string) error {
		return &Error{Source: source, Problems: []Problem{{Line: p.lineOf(field), Field: field, Message: field + ": " + msg}}}
	}
	data, ok := m["data"]
	if !ok || data == nil {
		return nil, fail("data", fmt.Sprintf("the ConfigMap has no data key %q", ConfigMapKey))
	}
	dm, ok := data.(map[string]any)
	if !ok {
		return nil, fail("data", "expected a mapping, found "+describe(data))
	}
	inner, ok := dm[ConfigMapKey]
	if !ok {
		return nil, fail("data", fmt.Sprintf("the ConfigMap has no data key %q", ConfigMapKey))
	}
	text, ok := inner.(string)
	if !ok {
		return nil, fail(join("data", ConfigMapKey), "expected a string (the policy document), found "+describe(inner))
	}
	source += ": data." + ConfigMapKey
	embedded := "data." + ConfigMapKey
	ip, perr := parseYAML([]byte(text))
	if perr != nil {
		return nil, &Error{Source: source, Embedded: embedded, Problems: []Problem{*perr}}
	}
	return parseDocument(ip, source, embedded)
}

// parseDocument decodes, validates and compiles one policy document.
func parseDocument(p *parsed, source, embedded string) (*Snapshot, error) {
	var ps problems
	doc, bad := decodeDocument(p, &ps)
	decodeProblems := len(ps.list)
	var s *Snapshot
	if doc != nil {
		if doc.APIVersion != APIVersion {
			ps.add("apiVersion", "got %q, want %q", doc.APIVersion, APIVersion)
		}
		if doc.Kind != Kind {
			ps.add("kind", "got %q, want %q", doc.Kind, Kind)
		}
		s = doc.compile(source, &ps)
	}
	if list := finish(p, &ps, decodeProblems, bad); len(list) > 0 {
		return nil, &Error{Source: source, Embedded: embedded, Problems: list}
	}
	return s, nil
}

// compile builds the snapshot, recording every problem of the document's content in ps. It
// returns nil when there was one (in ps, or recorded before).
func (d *Document) compile(source string, ps *problems) *Snapshot {
	actions, params, mutationOn, err := profileSpec(d.Profile)
	if err != nil {
		// Keep going with no actions, so the rest of the document is checked too.
		ps.add("profile", "%v", err)
		actions = map[string]checks.Action{}
	}
	for _, id := range sortedKeys(d.Checks) {
		o := d.Checks[id]
		field := join("checks", id)
		if _, ok := checks.Get(id); !ok {
			ps.add(field, "unknown check ID (known: %s)", strings.Join(checks.IDs(), ", "))
			continue
		}
		if a := checks.Action(o.Action); a != "" {
			if !a.Valid() {
				ps.add(field+".action", "unknown action %q (want enforce, warn, audit or off)", a)
			} else {
				actions[id] = a
			}
		}
		c, _ := checks.Get(id)
		for _, name := range sortedKeys(o.Params) {
			if len(o.Params[name]) == 0 {
				continue
			}
			p, ok := c.Param(name)
			if !ok {
				owner, _ := checks.ParamOwner(name)
				ps.add(field+"."+name, "only the %s check takes this parameter", owner)
				continue
			}
			values := p.Values(&params)
			*values = append(*values, o.Params[name]...)
		}
	}
	mode := compileMode(d.Mode, ps)
	if m := d.Mutation; m != nil && m.Enabled != nil {
		mutationOn = *m.Enabled
	}
	// The mutation section is validated even while mutation is off, so a mistake in it does
	// not wait for the day mutation is turned on.
	opts := mutate.NSADefaults()
	if m := d.Mutation; m != nil {
		applyMutationSpec(&opts, m, ps)
	}
	settings, err := checks.Compile(actions, params)
	if err != nil {
		ps.add("checks", "%v", err)
	}
	guardrails := compileGuardrails(d.Guardrails, &opts, ps)
	if settings != nil {
		guardrails.checkServed(settings, d.Profile, ps)
	}
	ns := d.compileNamespaces(actions, params, ps)
	exemptions := d.compileExemptions(ps)
	if len(ps.list) > 0 {
		return nil
	}
	canonical, _ := json.Marshal(d)
	sum := sha256.Sum256(canonical)
	profile := d.Profile
	if profile == "" {
		profile = NSA
	}
	s := &Snapshot{
		Source: source, Profile: profile, Mode: mode, Checks: settings, Hash: hex.EncodeToString(sum[:8]),
		mutationOn: mutationOn, mutation: opts,
		exempt: ns.exempt, exemptList: ns.exemptList, rules: ns.rules, exemptions: exemptions,
		guardrails: guardrails, document: canonical,
	}
	s.setMutation()
	s.precompile()
	return s
}

// WithMode returns the policy with its mode replaced (enforce, warn or audit): what the same
// policy does at another step of its roll-out. The copy keeps the Hash of the document.
func (s *Snapshot) WithMode(mode string) (*Snapshot, error) {
	m, err := parseMode(mode)
	if err != nil {
		return nil, err
	}
	c := *s
	c.Mode = m
	c.setMutation()
	return &c, nil
}

// setMutation points Mutation at the mutation section when mutation is on and the mode is
// not audit.
func (s *Snapshot) setMutation() {
	s.Mutation = nil
	if s.mutationOn && s.Mode != checks.Audit {
		s.Mutation = &s.mutation
	}
}

// compileMode returns the action the document's mode lowers to, "" for enforce.
func compileMode(mode string, ps *problems) checks.Action {
	m, err := parseMode(mode)
	if err != nil {
		ps.add("mode", "%v", err)
	}
	return m
}

// parseMode returns the action a mode lowers to, "" for enforce (or no mode).
func parseMode(mode string) (checks.Action, error) {
	switch a := checks.Action(mode); a {
	case "", checks.Enforce:
		return "", nil
	case checks.Warn, checks.Audit:
		return a, nil
	case checks.Off:
		return "", fmt.Errorf("%q is not a mode: nothing would be checked; want enforce, warn or audit (to stop checking one namespace, label it %s=off)", mode, ModeLabel)
	default:
		return "", fmt.Errorf("unknown mode %q (want enforce, warn or audit)", mode)
	}
}

func applyMutationSpec(o *mutate.Options, m *MutationSpec, ps *problems) {
	for _, name := range sortedKeys(m.Defaults) {
		if err := o.Set(name, m.Defaults[name]); err != nil {
			ps.add(join("mutation.defaults", name), "unknown default (known: %s)", strings.Join(slices.Sorted(slices.Values(mutate.Names())), ", "))
		}
	}
	if u := m.RunAsUser; u != nil {
		if *u <= 0 || *u > math.MaxInt32 {
			ps.add("mutation.runAsUser", "%d is not a non-root uid (want 1 to %d)", *u, math.MaxInt32)
		} else {
			o.RunAsUser = *u
		}
	}
	if r := m.Resources; r != nil {
		set := func(field string, value Quantity, dst *resource.Quantity) {
			if value == "" {
				return
			}
			q, err := resource.ParseQuantity(string(value))
			if err != nil || q.Sign() <= 0 {
				ps.add("mutation.resources."+field, "%q is not a positive quantity", value)
				return
			}
			*dst = q
		}
		if r.Requests != nil {
			set("requests.cpu", r.Requests.CPU, &o.Requests.CPU)
			set("requests.memory", r.Requests.Memory, &o.Requests.Memory)
		}
		if r.Limits != nil {
			set("limits.cpu", r.Limits.CPU, &o.Limits.CPU)
			set("limits.memory", r.Limits.Memory, &o.Limits.Memory)
		}
		if o.Requests.CPU.Cmp(o.Limits.CPU) > 0 {
			ps.add("mutation.resources", "requests.cpu %s is above limits.cpu %s", o.Requests.CPU.String(), o.Limits.CPU.String())
		}
		if o.Requests.Memory.Cmp(o.Limits.Memory) > 0 {
			ps.add("mutation.resources", "requests.memory %s is above limits.memory %s", o.Requests.Memory.String(), o.Limits.Memory.String())
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
