package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"

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

// parseCommand parses the flags of a scan-like command that takes at least one PATH. It
// returns done with the exit code when the command should stop (help, or a usage error).
func parseCommand(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "%s: no PATH given (a file, a directory, or - for stdin)\n", fs.Name())
		return exitUsage, true
	}
	return 0, false
}

func scanCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var pf policyFlags
	var output string
	fs := flag.NewFlagSet("bulwark scan", flag.ContinueOnError)
	pf.register(fs)
	fs.StringVar(&output, "o", "text", "output format: text, json or sarif")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: bulwark scan [--profile P | --policy FILE] [-o text|json|sarif] PATH...\n\n"+
			"Reports what the webhook would deny (exit 1) or warn about (exit 0). Exit 2 on bad input.\n\n")
		fs.PrintDefaults()
	}
	if code, done := parseCommand(fs, args, stderr); done {
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
	docs, err := scan.Read(fs.Args(), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "bulwark %v\n", err)
		return exitUsage
	}
	results, err := scan.Evaluate(docs, snap.Checks)
	if err != nil {
		fmt.Fprintf(stderr, "bulwark %v\n", err)
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
