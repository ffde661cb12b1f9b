// Command bulwark is the Bulwark admission webhook and its offline tools.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Set at build time with -ldflags "-X main.version=..." (make build, the image). A binary
// built without it (go install ...@v1.2.3) reports the module version it was built from.
var version = "dev"

func init() { version = buildVersion(version, debug.ReadBuildInfo) }

// buildVersion is set unless it is "dev", and otherwise the main module's version from the
// build information, when the go command recorded one ("(devel)" is a build from a checkout).
func buildVersion(set string, read func() (*debug.BuildInfo, bool)) string {
	if set != "dev" {
		return set
	}
	if info, ok := read(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return set
}

const versionUsage = `Usage: bulwark version

Print Bulwark's version: the release it was built as (make build sets it), or the Go module
version when installed with go install.
`

const usage = `bulwark enforces the NSA/CISA Kubernetes hardening guidance at admission time.

Usage:
  bulwark serve   [flags]                                   run the admission webhook
  bulwark scan    [--profile P | --policy FILE] [--skip-check ID]... [--failures-only] [--strict]
                  [-o text|json|sarif] PATH...              check manifests; exit 1 if the webhook would deny one
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
		if len(args) > 1 {
			if args[1] == "-h" || args[1] == "--help" || args[1] == "-help" {
				fmt.Fprint(stdout, versionUsage)
				return exitOK
			}
			fmt.Fprintf(stderr, "bulwark version: unexpected argument %q\n\n%s", args[1], versionUsage)
			return exitUsage
		}
		fmt.Fprintf(stdout, "bulwark %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "bulwark: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
