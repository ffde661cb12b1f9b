// Package image checks the container image's build without a Docker engine: the Dockerfile's
// builder runs the same `go build` as `make build`, copies everything that build needs, and
// ends on a non-root distroless stage; and `make build` produces the static binary the image
// would contain.
package image

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const repoRoot = "../.."

// testVersion is the version both builds are given; it must reach main.version.
const testVersion = "v0.0.0-imagetest"

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	line int    // of its first line
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		} else if strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile: instruction at line %d never ends (trailing backslash)", start)
	}
	return out
}

// stage is one FROM and the instructions up to the next.
type stage struct {
	from, name string
	ins        []instruction
}

func stages(t *testing.T, ins []instruction) []stage {
	t.Helper()
	var out []stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
		}
		out[len(out)-1].ins = append(out[len(out)-1].ins, in)
	}
	return out
}

// words splits a shell command line into words as sh would for simple commands: single and
// double quotes, backslash escapes, and ${NAME} or $NAME expanded from vars (unknown names are
// an error).
func words(s string, vars map[string]string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord := false
	expand := func(i int) (int, error) { // s[i] == '$'
		rest := s[i+1:]
		var name string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("unterminated ${ in %q", s)
			}
			name = rest[1:end]
			i += end + 2
		default:
			m := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`).FindString(rest)
			if m == "" {
				return 0, fmt.Errorf("bare $ in %q", s)
			}
			name = m
			i += len(m) + 1
		}
		v, ok := vars[name]
		if !ok {
			return 0, fmt.Errorf("unknown variable %s in %q", name, s)
		}
		w.WriteString(v)
		return i, nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
			i++
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case c == '"':
			inWord = true
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated \" in %q", s)
				}
				if s[i] == '"' {
					i++
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`, s[i+1]) >= 0 {
					w.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '$' {
					var err error
					if i, err = expand(i); err != nil {
						return nil, err
					}
					continue
				}
				w.WriteByte(s[i])
				i++
			}
		case c == '\\' && i+1 < len(s):
			w.WriteByte(s[i+1])
			inWord = true
			i += 2
		case c == '$':
			inWord = true
			var err error
			if i, err = expand(i); err != nil {
				return nil, err
			}
		case strings.IndexByte(";&|<>`()", c) >= 0:
			return nil, fmt.Errorf("%q is not a simple command (%c)", s, c)
		default:
			w.WriteByte(c)
			inWord = true
			i++
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out, nil
}

// goBuild is a `go build` command line taken apart.
type goBuild struct {
	env    map[string]string // NAME=VALUE assignments before the command
	args   []string          // after `go build`, without -o and its value
	output string            // the -o value
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func parseGoBuild(argv []string) (goBuild, error) {
	b := goBuild{env: map[string]string{}}
	i := 0
	for ; i < len(argv) && assignment.MatchString(argv[i]); i++ {
		name, value, _ := strings.Cut(argv[i], "=")
		b.env[name] = value
	}
	if len(argv) < i+2 || argv[i] != "go" || argv[i+1] != "build" {
		return b, fmt.Errorf("not a `go build` command: %q", argv)
	}
	rest := argv[i+2:]
	for j := 0; j < len(rest); j++ {
		switch {
		case rest[j] == "-o" && j+1 < len(rest):
			b.output = rest[j+1]
			j++
		case strings.HasPrefix(rest[j], "-o="):
			b.output = strings.TrimPrefix(rest[j], "-o=")
		default:
			b.args = append(b.args, rest[j])
		}
	}
	if b.output == "" {
		return b, fmt.Errorf("no -o in %q", argv)
	}
	return b, nil
}

// makeCommand runs make in the repository root with a clean make environment (no flags or
// variables inherited from an outer `make test`).
func makeCommand(args ...string) *exec.Cmd {
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = repoRoot
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GO", "BIN", "VERSION", "LDFLAGS", "GO_BUILD_ENV", "GO_BUILD_FLAGS":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	return cmd
}

// dockerBuild is the builder stage's `go build`, with ARG VERSION set to version.
func dockerBuild(t *testing.T, st []stage, version string) (goBuild, stage) {
	t.Helper()
	for _, s := range st {
		vars := map[string]string{}
		for _, in := range s.ins {
			switch in.cmd {
			case "ARG":
				name, _, _ := strings.Cut(in.args, "=")
				vars[name] = version // only VERSION is expected; any ARG takes the test's value
			case "ENV":
				t.Fatalf("Dockerfile:%d: ENV in a build stage changes the build's environment; set it on the go build line as the Makefile does", in.line)
			case "RUN":
				if !strings.Contains(in.args, "go build") {
					continue
				}
				argv, err := words(in.args, vars)
				if err != nil {
					t.Fatalf("Dockerfile:%d: %v", in.line, err)
				}
				b, err := parseGoBuild(argv)
				if err != nil {
					t.Fatalf("Dockerfile:%d: %v", in.line, err)
				}
				if vars["VERSION"] == "" {
					t.Fatalf("Dockerfile:%d: the go build runs before ARG VERSION", in.line)
				}
				return b, s
			}
		}
	}
	t.Fatal("Dockerfile: no RUN with `go build`")
	return goBuild{}, stage{}
}

func makeBuild(t *testing.T, bin, version string) goBuild {
	t.Helper()
	out, err := makeCommand("-n", "build", "GO=go", "BIN="+bin, "VERSION="+version).CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("make -n build: want one command, got:\n%s", out)
	}
	argv, err := words(lines[0], nil)
	if err != nil {
		t.Fatalf("make -n build: %v", err)
	}
	b, err := parseGoBuild(argv)
	if err != nil {
		t.Fatalf("make -n build: %v", err)
	}
	return b
}

// TestDockerfileBuildsAsMake: the builder stage's go build has the same environment, flags
// and package as `make build`, and the image ships exactly that output.
func TestDockerfileBuildsAsMake(t *testing.T) {
	st := stages(t, readDockerfile(t))
	docker, builder := dockerBuild(t, st, testVersion)
	mk := makeBuild(t, "bin/bulwark", testVersion)
	if !reflect.DeepEqual(docker.env, mk.env) {
		t.Errorf("environment of go build:\n  Dockerfile: %v\n  Makefile:   %v", docker.env, mk.env)
	}
	if !slices.Equal(docker.args, mk.args) {
		t.Errorf("go build arguments (without -o):\n  Dockerfile: %q\n  Makefile:   %q", docker.args, mk.args)
	}
	// What the image build promises, spelled out (the comparison above would also pass if
	// both lost them).
	if docker.env["CGO_ENABLED"] != "0" {
		t.Errorf("the Dockerfile's go build must set CGO_ENABLED=0, has %v", docker.env)
	}
	want := []string{"-trimpath", "-ldflags", "-s -w -X main.version=" + testVersion, "./cmd/bulwark"}
	if !slices.Equal(docker.args, want) {
		t.Errorf("Dockerfile go build arguments = %q, want %q", docker.args, want)
	}

	// The final stage: distroless static, non-root, no shell, the binary as entrypoint.
	final := st[len(st)-1]
	if final.from != "gcr.io/distroless/static:nonroot" {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static:nonroot", final.from)
	}
	var user, entrypoint, copied string
	for _, in := range final.ins {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			copied = in.args
		case "RUN", "SHELL":
			t.Errorf("Dockerfile:%d: %s in the final stage: the distroless image has no shell", in.line, in.cmd)
		}
	}
	if user != "65532:65532" {
		t.Errorf("final stage USER %q, want 65532:65532", user)
	}
	if entrypoint != `["/bulwark"]` {
		t.Errorf("final stage ENTRYPOINT %s, want the exec form [\"/bulwark\"]", entrypoint)
	}
	if want := "--from=" + builder.name + " " + docker.output + " /bulwark"; builder.name == "" || copied != want {
		t.Errorf("final stage COPY %q, want %q (the builder stage's go build output)", copied, want)
	}

	// The builder's Go matches go.mod's go directive, by a plain tag (no digest).
	goMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod: no go directive")
	}
	if want := "golang:" + string(m[1]); builder.from != want {
		t.Errorf("builder stage FROM %s, want %s (go.mod says go %s)", builder.from, want, m[1])
	}
}

// TestDockerfileCopiesWhatTheBuildNeeds: every package of this module that cmd/bulwark
// imports, and every file it embeds, is under a directory the builder stage copies and not
// excluded by .dockerignore.
func TestDockerfileCopiesWhatTheBuildNeeds(t *testing.T) {
	st := stages(t, readDockerfile(t))
	_, builder := dockerBuild(t, st, testVersion)
	copied := map[string]bool{}
	for _, in := range builder.ins {
		if in.cmd != "COPY" {
			continue
		}
		f := strings.Fields(in.args)
		for _, src := range f[:len(f)-1] {
			if strings.HasPrefix(src, "--") {
				continue
			}
			copied[strings.TrimSuffix(src, "/")] = true
		}
	}
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignored := map[string]bool{}
	for _, line := range strings.Split(string(ignore), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			ignored[strings.Trim(line, "/")] = true
		}
	}
	for _, f := range []string{".git", "bin", ".local"} {
		if !ignored[f] {
			t.Errorf(".dockerignore does not exclude %s", f)
		}
	}

	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`, "./cmd/bulwark")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/bulwark-k8s/bulwark/"
	needed := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		dir := strings.TrimPrefix(f[0], module)
		needed = append(needed, dir)
		for _, e := range f[1:] {
			needed = append(needed, dir+"/"+e)
		}
	}
	for _, p := range needed {
		top, _, _ := strings.Cut(p, "/")
		if !copied[top] && !copied[p] {
			t.Errorf("the build needs %s, but the builder stage does not COPY it (copies %v)", p, slices.Sorted(maps.Keys(copied)))
		}
		if ignored[top] || ignored[p] {
			t.Errorf("the build needs %s, but .dockerignore excludes it", p)
		}
	}
}

// TestMakeBuildIsStatic: `make build` produces the binary the image would hold: statically
// linked (no program interpreter, no dynamic section), stripped, built with -trimpath and
// CGO_ENABLED=0, carrying the version.
func TestMakeBuildIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "bulwark")
	out, err := makeCommand("build", "GO=go", "BIN="+bin, "VERSION="+testVersion).CombinedOutput()
	if err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkStatic(t, "the binary", f)
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("the binary has a symbol table (%v): -s was not applied", err)
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("the binary has DWARF (%s): -w was not applied", s.Name)
		}
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// (-ldflags is not recorded with -trimpath; the version below and the missing symbol
	// table and DWARF show that it was applied.)
	for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[k] != v {
			t.Errorf("build setting %s = %q, want %q", k, settings[k], v)
		}
	}
	if info.Path != "github.com/bulwark-k8s/bulwark/cmd/bulwark" {
		t.Errorf("main package %s", info.Path)
	}

	got, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("bulwark version: %v\n%s", err, got)
	}
	if want := "bulwark " + testVersion + "\n"; string(got) != want {
		t.Errorf("bulwark version printed %q, want %q", got, want)
	}
}

// checkStatic fails unless f is statically linked: no program interpreter, no dynamic section,
// no shared libraries, as a binary must be to run on distroless/static.
func checkStatic(t *testing.T, what string, f *elf.File) {
	t.Helper()
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			t.Errorf("%s has a program interpreter (PT_INTERP): it is dynamically linked and would not run on distroless/static", what)
		case elf.PT_DYNAMIC:
			t.Errorf("%s has a PT_DYNAMIC segment: it is dynamically linked", what)
		}
	}
	for _, name := range []string{".interp", ".dynamic", ".dynsym"} {
		if f.Section(name) != nil {
			t.Errorf("%s has a %s section: it is dynamically linked", what, name)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s imports libraries: %v (%v), want none", what, libs, err)
	}
}
