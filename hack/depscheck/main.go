// Command depscheck lists the direct dependencies of the module that are behind their newest
// patch release: same major and minor version, higher patch, from `go list -m -versions`
// (the module proxy). It exits 1 when one is, 2 when it cannot tell.
//
// Dependencies the project holds at a version on purpose are listed in a held file (default
// hack/deps-held.txt, one "MODULE-OR-PREFIX/ VERSION REASON" per line); they are printed with
// their reason and do not fail the check, unless the held version is not the one in go.mod.
// Untagged dependencies (pseudo-versions) have no patch releases; they are printed as such.
//
//	go run ./hack/depscheck            # as `make deps-check` runs it
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

type module struct {
	Path     string
	Version  string
	Versions []string
	Main     bool
	Indirect bool
}

type held struct {
	prefix, version, reason string
	line                    int
}

func main() {
	heldFile := flag.String("held", "hack/deps-held.txt", "file of dependencies held at a version on purpose")
	flag.Parse()
	behind, err := run(os.Stdout, *heldFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deps-check:", err)
		os.Exit(2)
	}
	if behind > 0 {
		os.Exit(1)
	}
}

func run(w io.Writer, heldFile string) (int, error) {
	holds, err := readHeld(heldFile)
	if err != nil {
		return 0, err
	}
	direct, err := goList("-m", "-json", "all")
	if err != nil {
		return 0, err
	}
	var paths []string
	for _, m := range direct {
		if !m.Main && !m.Indirect {
			paths = append(paths, m.Path)
		}
	}
	mods, err := goList(append([]string{"-m", "-versions", "-json"}, paths...)...)
	if err != nil {
		return 0, err
	}
	var behind, heldLines, untagged []string
	for _, m := range mods {
		cur, ok := parse(m.Version)
		if !ok {
			untagged = append(untagged, fmt.Sprintf("  %s %s", m.Path, m.Version))
			continue
		}
		newest := m.Version
		for _, v := range m.Versions {
			if p, ok := parse(v); ok && p[0] == cur[0] && p[1] == cur[1] && p[2] > mustParse(newest)[2] {
				newest = v
			}
		}
		if h := holdFor(holds, m.Path); h != nil {
			if h.version != m.Version {
				return 0, fmt.Errorf("%s:%d: %s is held at %s but go.mod requires %s", heldFile, h.line, m.Path, h.version, m.Version)
			}
			note := "newest patch"
			if newest != m.Version {
				note = "newest patch " + newest
			}
			heldLines = append(heldLines, fmt.Sprintf("  %s %s (%s): %s", m.Path, m.Version, note, h.reason))
			continue
		}
		if newest != m.Version {
			behind = append(behind, fmt.Sprintf("  %s %s -> %s", m.Path, m.Version, newest))
		}
	}
	fmt.Fprintf(w, "direct dependencies behind their newest patch release: %d\n", len(behind))
	for _, l := range behind {
		fmt.Fprintln(w, l)
	}
	if len(heldLines) > 0 {
		fmt.Fprintf(w, "held on purpose (%s):\n", heldFile)
		for _, l := range heldLines {
			fmt.Fprintln(w, l)
		}
	}
	if len(untagged) > 0 {
		fmt.Fprintln(w, "untagged (pseudo-versions, no patch releases to compare):")
		for _, l := range untagged {
			fmt.Fprintln(w, l)
		}
	}
	return len(behind), nil
}

// goList runs go list and decodes its stream of JSON objects.
func goList(args ...string) ([]module, error) {
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %v: %s", strings.Join(args[:min(len(args), 3)], " "), err, strings.TrimSpace(stderr.String()))
	}
	var mods []module
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var m module
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return mods, nil
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		mods = append(mods, m)
	}
}

// parse reads a release version vMAJOR.MINOR.PATCH; pre-releases, pseudo-versions and
// +incompatible builds are not releases to compare.
func parse(v string) ([3]int, bool) {
	var p [3]int
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if !strings.HasPrefix(v, "v") || len(parts) != 3 {
		return p, false
	}
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, false
		}
		p[i] = n
	}
	return p, true
}

func mustParse(v string) [3]int {
	p, _ := parse(v)
	return p
}

func readHeld(path string) ([]held, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hs []held
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s:%d: want MODULE VERSION REASON, got %q", path, n, line)
		}
		if _, ok := parse(fields[1]); !ok {
			return nil, fmt.Errorf("%s:%d: %q is not a release version vX.Y.Z", path, n, fields[1])
		}
		hs = append(hs, held{prefix: fields[0], version: fields[1], reason: strings.Join(fields[2:], " "), line: n})
	}
	return hs, sc.Err()
}

// holdFor is the hold that names path exactly, or a prefix of it ending in "/".
func holdFor(hs []held, path string) *held {
	for i, h := range hs {
		if h.prefix == path || (strings.HasSuffix(h.prefix, "/") && strings.HasPrefix(path, h.prefix)) {
			return &hs[i]
		}
	}
	return nil
}
