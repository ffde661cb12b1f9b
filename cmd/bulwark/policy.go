package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

const policyUsage = `Usage:
  bulwark policy validate FILE...                      check policy documents; exit 1 if one is invalid
  bulwark policy show [--profile P | --policy FILE]    print the full effective policy as YAML

FILE is a policy document (bulwark.dev/v1alpha1 Policy), a ConfigMap manifest holding one
under policy.yaml, or - for stdin. The format is described in docs/policy.md.
`

func policyCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return exitUsage
	}
	switch args[0] {
	case "validate":
		return policyValidate(args[1:], stdin, stdout, stderr)
	case "show":
		return policyShow(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, policyUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "bulwark policy: unknown command %q\n\n%s", args[0], policyUsage)
	return exitUsage
}

// policyValidate parses every FILE and reports each: "FILE: valid (...)" on stdout, or every
// problem (line and field path) on stderr. Exit 0 when all are valid, 1 when one is not (or
// cannot be read), 2 on a usage error.
func policyValidate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bulwark policy validate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bulwark policy validate FILE...

Checks each policy document (bulwark.dev/v1alpha1 Policy, or a ConfigMap manifest holding one
under policy.yaml; - for stdin) as the webhook would load it, and lists every problem with its
line and field path. For a ConfigMap, lines count from the first line of its policy.yaml text.
Exemptions that have already expired are reported as warnings.

Exit status: 0 when every FILE is valid, 1 when one is invalid or unreadable, 2 on a usage error.
`)
	}
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		fmt.Fprintln(stderr, "bulwark policy validate: no FILE given (a policy document, a ConfigMap manifest, or - for stdin)")
		return exitUsage
	}
	exit := exitOK
	now := time.Now()
	for _, f := range files {
		var data []byte
		var err error
		name := f
		if f == "-" {
			name = "<stdin>"
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, unwrapPath(err))
			exit = exitDenied
			continue
		}
		snap, err := policy.Parse(data, name)
		if err != nil {
			fmt.Fprintln(stderr, err)
			exit = exitDenied
			continue
		}
		rules, exemptions := len(snap.RuleNames()), len(snap.ExemptionNames())
		fmt.Fprintf(stdout, "%s: valid (profile %s, mode %s, %d %s, %d %s, hash %s)\n", name, snap.Profile,
			snap.Effective().Mode, rules, plural(rules, "rule", "rules"), exemptions, plural(exemptions, "exemption", "exemptions"), snap.Hash)
		expiry := map[string]string{}
		for _, e := range snap.Effective().Exemptions {
			expiry[e.Name] = e.Expires
		}
		for _, e := range snap.ExpiredExemptions(now) {
			fmt.Fprintf(stderr, "%s: warning: exemption %q expired on %s and no longer applies\n", name, e.Name, expiry[e.Name])
		}
	}
	return exit
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// policyShow prints the effective policy of a profile or a policy file.
func policyShow(args []string, stdout, stderr io.Writer) int {
	var pf policyFlags
	fs := flag.NewFlagSet("bulwark policy show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pf.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bulwark policy show [--profile P | --policy FILE]

Prints the full effective policy as YAML: the profile, every check with its action, the
mutation defaults and resource values, the exempt namespaces, the rules and exemptions of
FILE, and the guardrails. It is a documented starting point for a policy of your own, and parses back to the same
policy.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bulwark policy show: unexpected argument %q (use --policy FILE)\n", fs.Arg(0))
		return exitUsage
	}
	snap, err := pf.load()
	if err != nil {
		fmt.Fprintf(stderr, "bulwark policy show: %v\n", err)
		if pf.file != "" && pf.profile == "" {
			return exitDenied // the policy file is invalid or unreadable
		}
		return exitUsage
	}
	out, err := renderPolicy(snap)
	if err != nil {
		fmt.Fprintf(stderr, "bulwark policy show: %v\n", err)
		return exitDenied
	}
	_, _ = stdout.Write(out)
	return exitOK
}

// mutationHelp describes each mutation default (docs/checks.md, mutation defaults).
var mutationHelp = map[string]string{
	mutate.Seccomp:                      "pod securityContext.seccompProfile.type: RuntimeDefault",
	mutate.PrivilegeEscalation:          "container securityContext.allowPrivilegeEscalation: false (not on Windows pods)",
	mutate.DropCapabilities:             "container securityContext.capabilities.drop: [ALL] (added capabilities kept)",
	mutate.RunAsNonRoot:                 "pod securityContext.runAsNonRoot: true",
	mutate.ReadOnlyRootFilesystem:       "container securityContext.readOnlyRootFilesystem: true (breaks images that write to their root file system)",
	mutate.Resources:                    "missing cpu/memory requests and limits, with the values under resources",
	mutate.AutomountServiceAccountToken: "pod automountServiceAccountToken: false",
	mutate.PinDigests:                   "container image repo:tag becomes repo:tag@sha256:<digest>, looked up at admission (needs image lookups; left as is, with a warning, when a lookup fails)",
}

// renderPolicy writes the effective policy of snap as commented YAML.
func renderPolicy(snap *policy.Snapshot) ([]byte, error) {
	doc := snap.Effective()
	root := mapping()
	root.HeadComment = fmt.Sprintf(`Bulwark policy: the effective policy of %s (hash %s), every field spelled out.
Reference: docs/policy.md. Check it with "bulwark policy validate FILE"; load it with
"bulwark serve --policy-file FILE", "bulwark scan --policy FILE", or as the policy.yaml key
of the ConfigMap named by "bulwark serve --policy-configmap NAMESPACE/NAME".`, snap.Source, snap.Hash)
	add(root, "apiVersion", str(doc.APIVersion))
	add(root, "kind", str(doc.Kind))
	add(root, "profile", str(doc.Profile)).HeadComment = "The starting point: nsa (default), baseline or restricted. Everything below overrides it."
	add(root, "mode", str(doc.Mode)).HeadComment = `How far the policy is rolled out: enforce (deny what the checks enforce), warn (deny
nothing; enforced violations are warnings) or audit (deny and warn nothing; only record).`

	addChecks(root, doc)
	addMutation(root, doc.Mutation)
	if err := addNamespaces(root, doc.Namespaces); err != nil {
		return nil, err
	}
	exemptions, err := fromJSON(doc.Exemptions)
	if err != nil {
		return nil, err
	}
	add(root, "exemptions", exemptions).HeadComment = `Exemptions by user, group or service account and by workload, from every check or from
some, with a reason and an optional expiry. For example:
  - name: legacy-billing
    reason: needs hostPath until the Q1 migration, TICKET-123
    expires: "2026-12-31"
    namespace: billing
    kinds: [Deployment]
    names: ["legacy-*"]
    checks: [host-path, volume-types]`

	guardrails, err := fromJSON(doc.Guardrails)
	if err != nil {
		return nil, err
	}
	add(root, "guardrails", guardrails).HeadComment = `The LimitRange (bulwark-limits), ResourceQuota (bulwark-quota) and default-deny
NetworkPolicy (bulwark-default-deny) the leader creates in every namespace where the check
each serves (namespace-limit-range, namespace-quota, namespace-network-policy) is not off,
the namespace is not exempt and no mode lowers the policy, with create: true (and bulwark
serve --guardrails). onDelete: recreate or report. Off, the checks only report.`

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// addChecks writes every check with its action and parameters, each below its summary.
func addChecks(root *yaml.Node, doc *policy.Document) {
	cs := mapping()
	add(root, "checks", cs).HeadComment = `Every check and its action: enforce (deny), warn (admit with a warning), audit (admit
and record), "off" (skip). "off" is quoted for YAML 1.1 tools, which read a bare off as
false; Bulwark accepts both.`
	for _, c := range checks.All() {
		o := doc.Checks[c.ID]
		entry := mapping()
		add(entry, "action", str(string(o.Action)))
		for _, p := range c.Params {
			l := strList(o.Params[p.Name])
			l.LineComment = p.Help
			add(entry, p.Name, l)
		}
		if len(c.Params) == 0 {
			entry.Style = yaml.FlowStyle
		}
		add(cs, c.ID, entry).HeadComment = c.Summary
	}
}

// addMutation writes the mutation section: every default, and the resource values.
func addMutation(root *yaml.Node, m *policy.MutationSpec) {
	mn := mapping()
	add(root, "mutation", mn).HeadComment = `Mutation defaults: added by the mutating webhook before validation, only where a field
is missing (pin-digests appends a digest to an image that has none). A workload exempt from
a check is not given the defaults that serve it.`
	add(mn, "enabled", boolNode(*m.Enabled))
	defs := mapping()
	add(mn, "defaults", defs)
	for _, name := range mutate.Names() {
		b := boolNode(m.Defaults[name])
		b.LineComment = mutationHelp[name]
		add(defs, name, b)
	}
	res := mapping()
	add(mn, "resources", res).HeadComment = "What the resources default sets on containers that lack them."
	cpuMem := func(v *policy.CPUMemory) *yaml.Node {
		n := mapping()
		n.Style = yaml.FlowStyle
		add(n, "cpu", str(string(v.CPU)))
		add(n, "memory", str(string(v.Memory)))
		return n
	}
	add(res, "requests", cpuMem(m.Resources.Requests))
	add(res, "limits", cpuMem(m.Resources.Limits))
	if m.RunAsUser != nil {
		add(mn, "runAsUser", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(*m.RunAsUser, 10)}).HeadComment = "The uid given to pods whose images would not start under runAsNonRoot alone (with image lookups)."
	}
}

// addNamespaces writes the exempt namespaces and the namespace rules as written.
func addNamespaces(root *yaml.Node, spec *policy.NamespacesSpec) error {
	ns := mapping()
	add(root, "namespaces", ns)
	add(ns, "exempt", strList(spec.Exempt)).HeadComment = `Nothing is evaluated or mutated in these namespaces (default: [kube-system]). Bulwark's
own namespace is always exempt as well. An admin can also lower one namespace with its label
bulwark.dev/mode: warn, audit or "off".`
	rules, err := fromJSON(spec.Rules)
	if err != nil {
		return err
	}
	add(ns, "rules", rules).HeadComment = `Rules change the actions per namespace; the first rule that matches wins. For example:
  - name: payments-strict
    selector: {matchLabels: {team: payments}}
    action: enforce
  - name: sandboxes
    names: ["sandbox-*"]
    action: warn
    checks:
      privileged: {action: enforce}`
	return nil
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

// add appends key: value to mapping m and returns the key node, which carries comments.
func add(m *yaml.Node, key string, value *yaml.Node) *yaml.Node {
	k := str(key)
	m.Content = append(m.Content, k, value)
	return k
}

// str is a string scalar, quoted where YAML 1.1 (which Kubernetes tooling reads) would take it
// for something else: off, yes, no, on, y, n.
func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if yaml11Special(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func yaml11Special(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~", "":
		return true
	}
	return false
}

func boolNode(b bool) *yaml.Node {
	v := "false"
	if b {
		v = "true"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v}
}

func strList(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, s := range items {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// fromJSON turns v into a YAML node in block style, an empty list as [].
func fromJSON(v any) (*yaml.Node, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(js) == "null" {
		js = []byte("[]")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(js, &doc); err != nil {
		return nil, err
	}
	n := doc.Content[0]
	restyle(n)
	if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		n.Style = yaml.FlowStyle
	}
	return n, nil
}

// restyle drops the flow and quoting styles of a node parsed from JSON.
func restyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && yaml11Special(n.Value) {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		restyle(c)
	}
	// Empty collections and lists of scalars on one line: kinds: [Deployment].
	if (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && len(n.Content) == 0 {
		n.Style = yaml.FlowStyle
	}
	if n.Kind == yaml.SequenceNode && !slices.ContainsFunc(n.Content, func(c *yaml.Node) bool { return c.Kind != yaml.ScalarNode }) {
		n.Style = yaml.FlowStyle
	}
}
