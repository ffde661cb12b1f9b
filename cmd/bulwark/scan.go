package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/images"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/scan"
)

// policyFlags are the flags scan and mutate share.
type policyFlags struct {
	profile string
	file    string
}

func (p *policyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.profile, "profile", "", "policy profile: nsa (default), baseline or restricted")
	fs.StringVar(&p.file, "policy", "", "policy document (bulwark.dev/v1alpha1 Policy, or a ConfigMap holding one under policy.yaml)")
}

func (p *policyFlags) load() (*policy.Snapshot, error) {
	if p.profile != "" && p.file != "" {
		return nil, errors.New("--profile and --policy are mutually exclusive")
	}
	if p.file != "" {
		return policy.LoadFile(p.file)
	}
	return policy.FromProfile(p.profile)
}

// parseCommand parses the flags of a scan-like command that takes at least one PATH and
// returns the PATHs. Flags may also follow a PATH (bulwark scan deploy.yaml -o json); after
// "--" every argument is a PATH. It returns done with the exit code when the command should
// stop (help, or a usage error).
func parseCommand(fs *flag.FlagSet, args []string, stderr io.Writer) (paths []string, code int, done bool) {
	if paths, code, done = parseArgs(fs, args, stderr); done {
		return nil, code, true
	}
	if len(paths) == 0 {
		return nil, noPath(fs, stderr), true
	}
	return paths, 0, false
}

// noPath reports a command given no PATH and returns the exit code.
func noPath(fs *flag.FlagSet, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: no PATH given (a file, a directory, or - for stdin)\n", fs.Name())
	return exitUsage
}

// parseArgs is parseCommand without the need for a PATH: it returns the PATHs given, maybe none.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (paths []string, code int, done bool) {
	fs.SetOutput(stderr)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, true
			}
			return nil, exitUsage, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// Parse stops at the first argument that is not a flag ("-" included), or after "--",
		// which it consumes.
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" {
			paths = append(paths, rest...)
			break
		}
		paths = append(paths, rest[0])
		args = rest[1:]
	}
	return paths, 0, false
}

// inputError prints an error about the input (a *scan.Error names the source, document and
// line) as "bulwark scan: deploy.yaml: document 2 (line 14): problem".
func inputError(stderr io.Writer, cmd string, err error) {
	var se *scan.Error
	msg := err.Error()
	if errors.As(err, &se) {
		msg = strings.TrimPrefix(se.Error(), "scan: ")
	}
	fmt.Fprintf(stderr, "%s: %s\n", cmd, msg)
}

func scanCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var pf policyFlags
	var cf clusterFlags
	var imf imageFlags
	var output, mode, stdinName string
	var strict, failuresOnly bool
	var skipChecks stringList
	fs := flag.NewFlagSet("bulwark scan", flag.ContinueOnError)
	pf.register(fs)
	cf.register(fs)
	imf.register(fs, "look up each pod's images in their registries and note where the mutating webhook would leave runAsNonRoot out because the kubelet would refuse it")
	fs.StringVar(&mode, "mode", "", "evaluate as if the policy's mode were enforce, warn or audit (default: the policy's own); --mode enforce shows what a policy still in audit or warn would deny once enforced")
	fs.StringVar(&output, "o", scan.Formats[0].Name, "output format: "+scan.FormatNames())
	fs.StringVar(&output, "output", scan.Formats[0].Name, "output format: "+scan.FormatNames()+" (same as -o)")
	fs.BoolVar(&strict, "strict", false, "exit 2 when a file or document is not read (not YAML, not a Kubernetes object, not valid for its kind), as if every file had to be a manifest; files recognisably of Helm, kustomize or Compose do not count")
	fs.Var(&skipChecks, "skip-check", "leave out the violations of check `ID` (repeatable): they neither show nor deny")
	fs.StringVar(&stdinName, "stdin-name", "", "name the documents read from - `NAME` in every report instead of <stdin>: the path in the repository of what is piped in, for code scanning to link to")
	fs.BoolVar(&failuresOnly, "failures-only", false, "list only the objects that would be denied or warned (text and json); the summary still counts every object")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bulwark scan [--profile P | --policy FILE] [--mode M] [--resolve-images]
                    [--skip-check ID]... [--failures-only] [--strict]
                    [--stdin-name NAME] [-o text|json|sarif] PATH...
       bulwark scan --cluster [--namespace NS] [--kubeconfig PATH] [--context NAME]
                    [--bulwark-namespace NS] [--profile P | --policy FILE] [--mode M]
                    [--resolve-images] [--skip-check ID]... [--failures-only]
                    [-o text|json|sarif]

Evaluates the Kubernetes objects in each PATH with the webhook's checks and reports every
violation with its action, check ID, field and fix. PATH is a file, a directory (searched
recursively for *.yaml, *.yml and *.json, skipping names that start with ".") or - for stdin.
Lists are expanded into their items; kinds without a pod template are reported as skipped.
Manifests are read as kubectl reads them: a plain yes, on, no or off is a boolean (YAML 1.1),
and a volume without a source is an emptyDir, as the apiserver defaults it.

A repository holds more than manifests. What is not a Kubernetes object gets a note in the
report ("not read") naming the file, the document and why, and the scan goes on: a Helm
chart's Chart.yaml and values, a kustomization, a Compose file, a document without kind, a
YAML syntax error (the rest of that file is not read), an object that is not valid for its
kind, a kind under the wrong apiVersion (a Deployment of apiVersion v1). A Helm template (a
file with {{ in a chart's templates directory, or one that is not YAML) is not read: render
it first, then scan the rendering:
  helm template RELEASE CHART | bulwark scan -
  kubectl kustomize DIR | bulwark scan -
What is read from - is named <stdin> in the reports; --stdin-name names it after the file in
the repository it comes from, so that code scanning (-o sarif) shows its alerts on that file
(the lines stay those of what was read):
  kubectl kustomize deploy/prod | bulwark scan -o sarif --stdin-name deploy/prod/kustomization.yaml -
A field the object's kind does not have (a misspelt runAsNonroot) gets a note too: kubectl
apply rejects it, and without validation the apiserver drops it, silently.

The policy's mode lowers the actions as the webhook does: with mode audit nothing is denied.
--mode evaluates the same policy at another step of its roll-out (audit, warn, enforce):
  bulwark scan --cluster --policy policy.yaml --mode enforce   # what enforcing would deny

Objects are evaluated as written, before mutation, so the report also lists what the mutating
webhook would add. To check objects as the validating webhook receives them:
  bulwark mutate deploy.yaml | bulwark scan -

With --resolve-images, each pod's images are looked up in their registries, as the webhook
with --resolve-images does, and a note on the object says where the mutating webhook would
leave runAsNonRoot out, in the words of its warning: where an image runs as root or as a
name, which the kubelet refuses under runAsNonRoot, or cannot be looked up within
--image-lookup-budget (the lookups of one object together), which it might. Lookups use the
credentials of the local Docker configuration (~/.docker/config.json or $DOCKER_CONFIG, with
the credential helpers it names, as docker login leaves them), with --cluster too: the pods'
imagePullSecrets are not read (that takes get on Secrets), so a private image that
configuration cannot pull counts as not looked up. Off by default: a scan needs no registry.

With --cluster, evaluates what already runs in a cluster instead, as the webhook's audit does:
what would break if the policy were applied there. It reads every Pod and every object with
a pod template (CronJobs, Deployments, StatefulSets, DaemonSets, ReplicationControllers,
PodTemplates, Jobs, ReplicaSets) page by page, with the credentials of the kubeconfig
(--kubeconfig, else $KUBECONFIG, else ~/.kube/config; --context picks a context), which need
list on those kinds. Each object is named Kind "namespace/name" and located at the context.
Objects controlled by one already read (the ReplicaSets and pods of a Deployment, the Jobs of
a CronJob) are not listed: the summary counts them against their owner, with the objects
read, evaluated and exempt. Namespace rules that select namespaces by label and the
bulwark.dev/mode label apply when the user may get namespaces; when not, a warning says so
and the scan goes on without them. Exemptions by user or group do not apply: the scan judges
objects, not requests. The webhook always exempts its own namespace, which a kubeconfig does
not tell: --bulwark-namespace names it (default bulwark-system, where the Helm chart and the
kustomize install put it). Progress goes to stderr: on a terminal one line redrawn per page
and cleared before the report, elsewhere one line per kind once it is read ("read 3000 Pods").

Exit status: 0 when no object would be denied (warnings and audits do not count), 1 when one
would be (an enforced violation), 2 on a usage error (a PATH that does not exist, an unknown
--skip-check ID), when nothing at all could be read (so also for a single file that holds no
Kubernetes object, a Chart.yaml included), with --strict when anything was not read but the
files that are recognisably a chart's Chart.yaml or values, a kustomization or a Compose
file, or when a cluster could not be read completely (unreachable, a bad kubeconfig,
a list forbidden). Nothing is written to stdout then; the notes go to stderr.

Flags (before or after the PATHs):
`)
		fs.PrintDefaults()
	}
	paths, code, done := parseArgs(fs, args, stderr)
	if done {
		return code
	}
	switch {
	case cf.enabled && len(paths) > 0:
		fmt.Fprintf(stderr, "bulwark scan: --cluster scans the cluster and takes no PATH, got %q: scan files or the cluster, not both\n", paths[0])
		return exitUsage
	case cf.misused(fs) != "":
		name := "-" + cf.misused(fs)
		if len(name) > 2 {
			name = "-" + name
		}
		fmt.Fprintf(stderr, "bulwark scan: %s is a flag of --cluster: add --cluster to scan the cluster\n", name)
		return exitUsage
	case !cf.enabled && len(paths) == 0:
		return noPath(fs, stderr)
	case cf.enabled && strict:
		fmt.Fprintln(stderr, "bulwark scan: --strict is for files: a cluster holds only objects")
		return exitUsage
	case flagSet(fs, "stdin-name") && (cf.enabled || !slices.Contains(paths, "-")):
		fmt.Fprintln(stderr, "bulwark scan: --stdin-name names what is read from -: give - as a PATH")
		return exitUsage
	case flagSet(fs, "stdin-name") && strings.TrimSpace(stdinName) == "":
		fmt.Fprintln(stderr, "bulwark scan: --stdin-name: empty name")
		return exitUsage
	}
	if stdinName != "" {
		stdin = scan.NamedStdin(stdin, stdinName)
	}
	format, ok := scan.FormatNamed(output)
	if !ok {
		fmt.Fprintf(stderr, "bulwark scan: -o: want %s, got %q\n", scan.FormatNames(), output)
		return exitUsage
	}
	snap, err := pf.load()
	if err != nil {
		fmt.Fprintf(stderr, "bulwark scan: policy: %v\n", err)
		return exitUsage
	}
	if mode != "" {
		if snap, err = snap.WithMode(mode); err != nil {
			fmt.Fprintf(stderr, "bulwark scan: --mode: %v\n", err)
			return exitUsage
		}
	}
	skip, err := skipSet(skipChecks)
	if err != nil {
		fmt.Fprintf(stderr, "bulwark scan: --skip-check: %v\n", err)
		return exitUsage
	}
	if cf.enabled {
		cf.skip, cf.failuresOnly = skip, failuresOnly
		return scanCluster(&cf, snap, imf.resolver(), format, stdout, stderr)
	}
	results, unread, imageErr, err := scanFiles(paths, stdin, snap, skip, imf.resolver())
	if err != nil {
		inputError(stderr, fs.Name(), err)
		return exitUsage
	}
	switch {
	case len(results) == 0 && len(unread) > 0:
		for _, u := range unread {
			inputError(stderr, fs.Name(), u.Error)
		}
		fmt.Fprintf(stderr, "%s: no Kubernetes object read\n", fs.Name())
		return exitUsage
	case strict && countInvalid(unread) > 0:
		for _, u := range unread {
			if !u.Known {
				inputError(stderr, fs.Name(), u.Error)
			}
		}
		return exitUsage
	case imageErr != nil:
		inputError(stderr, fs.Name(), imageErr)
		return exitUsage
	}
	rep := scan.Report{Results: results, Unread: unread, FailuresOnly: failuresOnly, Version: version}
	return writeReport(stdout, stderr, results, func(w io.Writer) error { return format.Write(w, rep) })
}

// scanFiles reads the objects of paths and evaluates each as it is read: it drops the
// violations of the checks in skip, adds the notes of lookups (when not nil) and keeps only
// the compact result (scan.Result.Compact), so that memory grows with what is found, not with
// the input. It returns the results and what was not read, both in reading order; imageErr is
// the first image lookup that failed (no lookups are made after it); err is ReadEach's.
func scanFiles(paths []string, stdin io.Reader, snap *policy.Snapshot, skip map[string]bool, lookups *images.Resolver) (results []scan.Result, unread []scan.Unread, imageErr, err error) {
	now := time.Now()
	var invalid []scan.Unread
	unread, err = scan.ReadEach(paths, stdin, func(d *scan.Document) error {
		rs, un := scan.EvaluatePolicyAll([]*scan.Document{d}, snap, now)
		invalid = append(invalid, un...)
		for i := range rs {
			r := &rs[i]
			r.Violations = withoutChecks(r.Violations, skip)
			if lookups != nil && imageErr == nil {
				imageErr = addImageNotes(r, snap, lookups, now)
			}
			r.Compact()
		}
		results = append(results, rs...)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return results, scan.MergeUnread(unread, invalid), imageErr, nil
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// skipSet returns the check IDs of --skip-check as a set; an ID no check has is an error.
func skipSet(ids []string) (map[string]bool, error) {
	known := map[string]bool{}
	for _, c := range checks.All() {
		known[c.ID] = true
	}
	set := map[string]bool{}
	for _, id := range ids {
		if !known[id] {
			return nil, fmt.Errorf("no check has the ID %q (the IDs are in docs/checks.md, and bulwark policy show lists them)", id)
		}
		set[id] = true
	}
	return set, nil
}

// withoutChecks drops the violations of the checks in skip.
func withoutChecks(vs []checks.Violation, skip map[string]bool) []checks.Violation {
	if len(skip) == 0 {
		return vs
	}
	out := vs[:0:0]
	for _, v := range vs {
		if !skip[v.Check] {
			out = append(out, v)
		}
	}
	return out
}

// countInvalid counts what was not read and is not a file known to be something else.
func countInvalid(unread []scan.Unread) int {
	n := 0
	for _, u := range unread {
		if !u.Known {
			n++
		}
	}
	return n
}

// addImageNotes adds to r, when it was evaluated, what the mutating webhook would say of its
// images (imageNotes), with the policy's defaults for the object as EvaluatePolicy resolved
// them.
func addImageNotes(r *scan.Result, snap *policy.Snapshot, lookups *images.Resolver, now time.Time) error {
	if r.Skipped || r.Exempt != "" {
		return nil
	}
	d := r.Doc
	pod, _, err := podspec.Decode(schema.FromAPIVersionAndKind(d.APIVersion, d.Kind).GroupKind(), d.JSON)
	if err != nil {
		return err // EvaluatePolicy decoded it already
	}
	dec := snap.Resolve(policy.Request{
		Namespace: pod.Object.Namespace, Kind: pod.GroupKind.Kind, Name: pod.Object.Name, Now: now,
	})
	notes, err := imageNotes(context.Background(), lookups, pod, dec.Mutation)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Where(), err)
	}
	r.Notes = append(r.Notes, notes...)
	return nil
}

// writeReport writes a scan's report to stdout and returns the exit code: exitDenied when the
// webhook would deny one of results. It is called once the scan is complete, after everything
// that ends a scan with exitUsage and an empty stdout; the formats write the report as they
// go, so that it is never held whole in memory, and only an error writing stdout can cut it
// short.
func writeReport(stdout, stderr io.Writer, results []scan.Result, write func(io.Writer) error) int {
	if err := write(stdout); err != nil {
		fmt.Fprintf(stderr, "bulwark scan: writing the report: %v\n", err)
		return exitUsage
	}
	if scan.Denied(results) {
		return exitDenied
	}
	return exitOK
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
