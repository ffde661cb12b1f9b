package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

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
	if len(paths) == 0 {
		fmt.Fprintf(stderr, "%s: no PATH given (a file, a directory, or - for stdin)\n", fs.Name())
		return nil, exitUsage, true
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
	var output string
	fs := flag.NewFlagSet("bulwark scan", flag.ContinueOnError)
	pf.register(fs)
	fs.StringVar(&output, "o", "text", "output format: text, json or sarif")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bulwark scan [--profile P | --policy FILE] [-o text|json|sarif] PATH...

Evaluates the Kubernetes objects in each PATH with the webhook's checks and reports every
violation with its action, check ID, field and fix. PATH is a file, a directory (searched
recursively for *.yaml, *.yml and *.json, skipping names that start with ".") or - for stdin.
Lists are expanded into their items; kinds without a pod template are reported as skipped.

Objects are evaluated as written, before mutation, so the report also lists what the mutating
webhook would add. To check objects as the validating webhook receives them:
  bulwark mutate deploy.yaml | bulwark scan -

Exit status: 0 when no object would be denied (warnings and audits do not count), 1 when one
would be (an enforced violation), 2 on a usage error or bad input; nothing is written to
stdout then.

Flags (before or after the PATHs):
`)
		fs.PrintDefaults()
	}
	paths, code, done := parseCommand(fs, args, stderr)
	if done {
		return code
	}
	var write func(io.Writer, []scan.Result) error
	switch output {
	case "text":
		write = scan.WriteText
	case "json":
		write = scan.WriteJSON
	case "sarif":
		write = func(w io.Writer, rs []scan.Result) error { return scan.WriteSARIF(w, rs, version) }
	default:
		fmt.Fprintf(stderr, "bulwark scan: -o: want text, json or sarif, got %q\n", output)
		return exitUsage
	}
	snap, err := pf.load()
	if err != nil {
		fmt.Fprintf(stderr, "bulwark scan: policy: %v\n", err)
		return exitUsage
	}
	docs, err := scan.Read(paths, stdin)
	if err != nil {
		inputError(stderr, fs.Name(), err)
		return exitUsage
	}
	results, err := scan.EvaluatePolicy(docs, snap, time.Now())
	if err != nil {
		inputError(stderr, fs.Name(), err)
		return exitUsage
	}
	// The report is written only once it is complete, so a failure never leaves half of one.
	var out bytes.Buffer
	if err := write(&out, results); err != nil {
		fmt.Fprintf(stderr, "bulwark scan: writing the report: %v\n", err)
		return exitUsage
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		fmt.Fprintf(stderr, "bulwark scan: writing the report: %v\n", err)
		return exitUsage
	}
	if scan.Denied(results) {
		return exitDenied
	}
	return exitOK
}
