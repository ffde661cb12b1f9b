package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

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
	// Checks holds the action of every check and the check parameters.
	Checks *checks.Settings
	// Mutation holds the mutation defaults, nil when mutation is off.
	Mutation *mutate.Options
	// Hash identifies the effective policy (sha256 of the document it was built from).
	Hash string
}

// Document is the policy file format (apiVersion bulwark.dev/v1alpha1, kind Policy).
type Document struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Profile is the starting point: baseline, restricted or nsa (default).
	Profile string `json:"profile,omitempty"`
	// Checks overrides the profile per check ID.
	Checks map[string]CheckOverride `json:"checks,omitempty"`
	// Mutation overrides the profile's mutation defaults.
	Mutation *MutationSpec `json:"mutation,omitempty"`
}

// CheckOverride changes one check.
type CheckOverride struct {
	Action ActionValue `json:"action,omitempty"`
	// AllowedCapabilities (capabilities only) extends the baseline allow-list.
	AllowedCapabilities []string `json:"allowedCapabilities,omitempty"`
	// AllowedRegistries (image-registry only) lists the registries images may come from.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
}

// ActionValue is a check action as the document spells it. YAML 1.1, which Kubernetes
// manifests follow, reads an unquoted off as the boolean false; that is taken as "off", since
// it is what the author wrote. Any other non-string value is kept as written and reported as
// an unknown action, with its field path, together with the document's other errors.
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
	return doc.compile("profile "+name, nil)
}

// LoadFile reads a policy document, or a ConfigMap manifest holding one under policy.yaml.
func LoadFile(path string) (*Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes and compiles a policy document (YAML or JSON). Unknown fields, unknown check
// IDs and actions, and bad quantities are errors; all of them are reported together.
func Parse(data []byte, source string) (*Snapshot, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Data       map[string]string `json:"data"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if head.Kind == "ConfigMap" {
		inner, ok := head.Data[ConfigMapKey]
		if !ok {
			return nil, fmt.Errorf("%s: ConfigMap has no data key %q", source, ConfigMapKey)
		}
		return Parse([]byte(inner), source+": data."+ConfigMapKey)
	}
	var doc Document
	strictErrs, err := kjson.UnmarshalStrict(js, &doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var errs []error
	for _, e := range strictErrs {
		errs = append(errs, e)
	}
	if doc.APIVersion != APIVersion {
		errs = append(errs, fmt.Errorf("apiVersion: got %q, want %q", doc.APIVersion, APIVersion))
	}
	if doc.Kind != Kind {
		errs = append(errs, fmt.Errorf("kind: got %q, want %q", doc.Kind, Kind))
	}
	return doc.compile(source, errs)
}

// compile builds the snapshot, or reports errs (the errors found while decoding) together
// with every error of the document's content.
func (d *Document) compile(source string, errs []error) (*Snapshot, error) {
	actions, params, mutationOn, err := profileSpec(d.Profile)
	if err != nil {
		// Keep going with no actions, so the rest of the document is checked too.
		errs = append(errs, fmt.Errorf("profile: %w", err))
		actions = map[string]checks.Action{}
	}
	for _, id := range sortedKeys(d.Checks) {
		o := d.Checks[id]
		if _, ok := checks.Get(id); !ok {
			errs = append(errs, fmt.Errorf("checks.%s: unknown check ID (known: %s)", id, strings.Join(checks.IDs(), ", ")))
			continue
		}
		if a := checks.Action(o.Action); a != "" {
			if !a.Valid() {
				errs = append(errs, fmt.Errorf("checks.%s.action: unknown action %q (want enforce, warn, audit or off)", id, a))
			} else {
				actions[id] = a
			}
		}
		if len(o.AllowedCapabilities) > 0 {
			if id != "capabilities" {
				errs = append(errs, fmt.Errorf("checks.%s.allowedCapabilities: only the capabilities check takes this parameter", id))
			}
			params.AllowedCapabilities = append(params.AllowedCapabilities, o.AllowedCapabilities...)
		}
		if len(o.AllowedRegistries) > 0 {
			if id != "image-registry" {
				errs = append(errs, fmt.Errorf("checks.%s.allowedRegistries: only the image-registry check takes this parameter", id))
			}
			params.AllowedRegistries = append(params.AllowedRegistries, o.AllowedRegistries...)
		}
	}
	var mut *mutate.Options
	if m := d.Mutation; m != nil && m.Enabled != nil {
		mutationOn = *m.Enabled
	}
	// The mutation section is validated even while mutation is off, so a mistake in it does
	// not wait for the day mutation is turned on.
	opts := mutate.NSADefaults()
	if m := d.Mutation; m != nil {
		errs = append(errs, applyMutationSpec(&opts, m)...)
	}
	if mutationOn {
		mut = &opts
	}
	settings, err := checks.Compile(actions, params)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, joinErrors(source, errs)
	}
	canonical, _ := json.Marshal(d)
	sum := sha256.Sum256(canonical)
	profile := d.Profile
	if profile == "" {
		profile = NSA
	}
	return &Snapshot{Source: source, Profile: profile, Checks: settings, Mutation: mut, Hash: hex.EncodeToString(sum[:8])}, nil
}

// mutationDefaults maps each default's name to its switch in mutate.Options.
func mutationDefaults(o *mutate.Options) map[string]*bool {
	return map[string]*bool{
		"seccomp":                         &o.Seccomp,
		"privilege-escalation":            &o.PrivilegeEscalation,
		"drop-capabilities":               &o.DropCapabilities,
		"run-as-non-root":                 &o.RunAsNonRoot,
		"read-only-root-filesystem":       &o.ReadOnlyRootFilesystem,
		"resources":                       &o.Resources,
		"automount-service-account-token": &o.AutomountServiceAccountToken,
	}
}

func applyMutationSpec(o *mutate.Options, m *MutationSpec) []error {
	var errs []error
	switches := mutationDefaults(o)
	for _, name := range sortedKeys(m.Defaults) {
		p, ok := switches[name]
		if !ok {
			errs = append(errs, fmt.Errorf("mutation.defaults.%s: unknown default (known: %s)", name, strings.Join(sortedKeys(switches), ", ")))
			continue
		}
		*p = m.Defaults[name]
	}
	if r := m.Resources; r != nil {
		set := func(field string, value Quantity, dst *resource.Quantity) {
			if value == "" {
				return
			}
			q, err := resource.ParseQuantity(string(value))
			if err != nil || q.Sign() <= 0 {
				errs = append(errs, fmt.Errorf("mutation.resources.%s: %q is not a positive quantity", field, value))
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
			errs = append(errs, fmt.Errorf("mutation.resources: requests.cpu %s is above limits.cpu %s", o.Requests.CPU.String(), o.Limits.CPU.String()))
		}
		if o.Requests.Memory.Cmp(o.Limits.Memory) > 0 {
			errs = append(errs, fmt.Errorf("mutation.resources: requests.memory %s is above limits.memory %s", o.Requests.Memory.String(), o.Limits.Memory.String()))
		}
	}
	return errs
}

// joinErrors renders every error on its own line under the source.
func joinErrors(source string, errs []error) error {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = "  " + e.Error()
	}
	return errors.New(fmt.Sprintf("invalid policy %s (%d %s):\n%s", source, len(errs), plural(len(errs), "error", "errors"), strings.Join(lines, "\n")))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
