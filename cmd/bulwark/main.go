// Command bulwark is the Bulwark admission webhook and its offline tools.
package main

import (
	"fmt"
	"io"
	"os"
)

// Set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `bulwark enforces the NSA/CISA Kubernetes hardening guidance at admission time.

Usage:
  bulwark serve   [flags]                                   run the admission webhook
  bulwark scan    [--profile P | --policy FILE] [-o text|json|sarif] PATH...
                                                            check manifests; exit 1 if the webhook would deny one
  bulwark scan    --cluster [--namespace NS] [--kubeconfig PATH] [--context NAME] [-o ...]
                                                            check what runs in a cluster, from a kubeconfig
  bulwark mutate  [--profile P | --policy FILE] PATH...     print manifests with the mutation defaults added
  bulwark policy  validate FILE...                          check policy documents; exit 1 if one is invalid
  bulwark policy  show [--profile P | --policy FILE]        print the full effective policy as YAML
  bulwark version                                           print the version

PATH is a file, a directory (searched recursively for *.yaml, *.yml, *.json) or - for stdin.
Run "bulwark COMMAND -h" for the flags of a command.
`

// Exit codes of scan, mutate and policy.
const (
	exitOK     = 0
	exitDenied = 1 // scan: an object would be denied; policy validate: a policy is invalid
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "scan":
		return scanCmd(args[1:], stdin, stdout, stderr)
	case "mutate":
		return mutateCmd(args[1:], stdin, stdout, stderr)
	case "policy":
		return policyCmd(args[1:], stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "bulwark %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "bulwark: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
