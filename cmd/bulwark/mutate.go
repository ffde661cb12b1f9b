package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/images"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/scan"
)

// mutateUsage is the help of bulwark mutate, before its flags.
const mutateUsage = `Usage: bulwark mutate [--profile P | --policy FILE] PATH...

Prints the Kubernetes objects in each PATH as the mutating webhook would admit them: the
defaults the policy turns on are added where a field is missing, and a value that is set is
never changed. PATH is a file, a directory (searched recursively for *.yaml, *.yml and *.json)
or - for stdin.

The output is YAML on stdout, one document per input document that holds an object, separated
by ---. A List keeps its shape, with its items mutated. Other kinds, and every object when
mutation is off (profiles baseline and restricted), are printed unchanged. Comments, key order
and fields unknown to Bulwark are kept; the YAML is re-indented by two spaces, and documents
without an object (only comments, an empty List) are left out. Mutating the output again
changes nothing. The defaults set are listed on stderr.

With --resolve-images, each pod's images are looked up in their registries (with the
credentials of the local Docker configuration, as docker login leaves them), and runAsNonRoot
is left out, with a note on stderr, where an image runs as root, as a name, or cannot be looked
up: the kubelet would refuse to start the container. When the policy turns pin-digests on, each
image without a digest is pinned to the one its tag points at (repo:tag@sha256:...); without
--resolve-images, or where a lookup fails, the image is left as it is, with a note saying why.
As the webhook with --resolve-images.

Exit status: 0, or 2 on a usage error or bad input; nothing is written to stdout then.

Flags (before or after the PATHs):
`

func mutateCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var pf policyFlags
	var imf imageFlags
	fs := flag.NewFlagSet("bulwark mutate", flag.ContinueOnError)
	pf.register(fs)
	imf.register(fs, "look up each pod's images in their registries: leave runAsNonRoot out where the kubelet would refuse it, and pin images to their digests when the policy turns pin-digests on")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), mutateUsage)
		fs.PrintDefaults()
	}
	paths, code, done := parseCommand(fs, args, stderr)
	if done {
		return code
	}
	snap, err := pf.load()
	if err != nil {
		fmt.Fprintf(stderr, "bulwark mutate: policy: %v\n", err)
		return exitUsage
	}
	docs, err := scan.Read(paths, stdin)
	if err != nil {
		inputError(stderr, fs.Name(), err)
		return exitUsage
	}
	lookups := imf.resolver()
	// The items of a List share their Root: each Root is printed once, after all its items
	// have been mutated in place.
	var roots []*yaml.Node
	seen := map[*yaml.Node]bool{}
	var notes bytes.Buffer
	for _, d := range docs {
		if !seen[d.Root] {
			seen[d.Root] = true
			roots = append(roots, d.Root)
		}
		if err := mutateDocument(d, snap, lookups, &notes); err != nil {
			inputError(stderr, fs.Name(), err)
			return exitUsage
		}
	}
	out, err := encodeDocuments(roots)
	if err != nil {
		fmt.Fprintf(stderr, "bulwark mutate: encoding the output: %v\n", err)
		return exitUsage
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "bulwark mutate: writing the output: %v\n", err)
		return exitUsage
	}
	_, _ = stderr.Write(notes.Bytes())
	return exitOK
}

// mutateDocument adds the defaults to the object of d in place, as the webhook would, and
// notes what it set (or why it set nothing) in notes. With lookups, the images are consulted.
func mutateDocument(d *scan.Document, snap *policy.Snapshot, lookups *images.Resolver, notes io.Writer) error {
	if snap.Mutation == nil {
		return nil
	}
	// As the webhook: exempt objects are left alone, and an exemption from a check turns
	// off the defaults that serve it.
	var meta struct {
		Metadata struct{ Name, Namespace string }
	}
	_ = json.Unmarshal(d.JSON, &meta) // a malformed object fails in Patch, with its location
	dec := snap.Resolve(policy.Request{
		Namespace: meta.Metadata.Namespace, Kind: d.Kind, Name: meta.Metadata.Name, Now: time.Now(),
	})
	if dec.Exempt {
		fmt.Fprintf(notes, "%s: not mutated: %s\n", d.Where(), dec.Reason)
		return nil
	}
	if dec.Mutation == nil {
		return nil
	}
	gk := schema.FromAPIVersionAndKind(d.APIVersion, d.Kind).GroupKind()
	if _, ok := podspec.ShapeOf(gk); !ok {
		return nil // no pod template: nothing to add
	}
	pod, _, err := podspec.Decode(gk, d.JSON)
	if err != nil {
		return scan.DecodeError(d, err)
	}
	var target mutate.Target
	if lookups != nil {
		target.Images = localImageUsers(context.Background(), lookups, pod)
	}
	res, err := mutate.PatchPod(pod, dec.Mutation, target)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Where(), err)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(notes, "%s: %s\n", d.Where(), n)
	}
	if len(res.Patch) == 0 {
		return nil
	}
	if err := mutate.ApplyYAML(d.Node, res.Patch); err != nil {
		return fmt.Errorf("%s: %w", d.Where(), err)
	}
	fmt.Fprintf(notes, "%s: set %d defaults\n", d.Where(), len(res.Changes))
	for _, c := range res.Changes {
		fmt.Fprintf(notes, "  %s\n", c)
	}
	return nil
}

// encodeDocuments writes the documents as YAML indented by two spaces, separated by ---.
func encodeDocuments(roots []*yaml.Node) ([]byte, error) {
	var out bytes.Buffer
	for i, root := range roots {
		if i > 0 {
			out.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(root); err != nil {
			return nil, err
		}
		_ = enc.Close()
	}
	return out.Bytes(), nil
}
