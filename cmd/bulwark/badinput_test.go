package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputCLI completes TestScanBadInput and TestMutateErrors with the inputs they do not
// cover: unreadable paths, no apiVersion, binary input and a directory loop. Each ends mutate
// and scan --strict with exit 2, a message naming the source (and line where there is one) on
// stderr, and nothing on stdout: no partial report presented as complete. A good manifest is
// always read first, so that its result would show if anything were printed. Without --strict,
// scan reports the good manifest and notes the bad input in the report, unless the PATH
// itself is wrong (hard).
func TestBadInputCLI(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)

	// A directory that reaches itself again through a symbolic link.
	loop := filepath.Join(dir, "loop")
	writeFile(t, loop, "a/cm.yaml", compliantPod)
	if err := os.Symlink("..", filepath.Join(loop, "a/up")); err != nil {
		t.Fatal(err)
	}
	// A dangling link with a manifest name inside a directory.
	dangling := filepath.Join(dir, "dangling")
	if err := os.MkdirAll(dangling, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("gone.yaml", filepath.Join(dangling, "pod.yaml")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		path  string // read as a path; empty: stdin
		stdin string
		want  []string
		note  string // in the report without --strict
		hard  bool   // a usage error with or without --strict
	}{
		{
			name: "path below a file",
			path: filepath.Join(good, "pod.yaml"),
			want: []string{filepath.Join(good, "pod.yaml") + ": not a directory"},
			hard: true,
		},
		{
			name: "dangling symbolic link in a directory",
			path: dangling,
			want: []string{filepath.Join(dangling, "pod.yaml") + ": no such file or directory"},
			note: filepath.Join(dangling, "pod.yaml") + ": not read: no such file or directory",
		},
		{
			name: "directory loop through a symbolic link",
			path: loop,
			want: []string{filepath.Join(loop, "a/up") + ": directory loop: it is " + loop + " again (through a symbolic link)"},
			note: filepath.Join(loop, "a/up") + ": not read: directory loop: it is " + loop + " again (through a symbolic link)",
		},
		{
			name:  "no apiVersion",
			stdin: service + "---\nkind: Pod\nmetadata:\n  name: p\n",
			want:  []string{"<stdin>: document 2 (line 9): not a Kubernetes object: apiVersion is missing"},
			note:  "<stdin>:9: document 2 not read: not a Kubernetes object: apiVersion is missing",
		},
		{
			name:  "neither apiVersion nor kind",
			stdin: "metadata:\n  name: p\nspec: {}\n",
			want:  []string{"<stdin>: document 1 (line 1): not a Kubernetes object: apiVersion and kind are missing"},
			note:  "<stdin>:1: document 1 not read: not a Kubernetes object: apiVersion and kind are missing",
		},
		{
			name:  "invalid YAML in a later document",
			stdin: compliantPod + "---\napiVersion: v1\nkind: Pod\nspec: [\n",
			want:  []string{"<stdin>: document 2 (line 2", "yaml: "},
			note:  "document 2 not read: yaml: ",
		},
		{
			name:  "binary: NUL byte",
			stdin: "apiVersion: v1\nkind: Pod\n\x00\x01\x02\x7fELF",
			want:  []string{"<stdin>: not a text file (NUL byte on line 3)"},
			note:  "<stdin>: not read: not a text file (NUL byte on line 3)",
		},
		{
			name:  "binary: invalid UTF-8",
			stdin: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \xff\xfe\n",
			want:  []string{"<stdin>: not a text file (invalid UTF-8 on line 4)"},
			note:  "<stdin>: not read: not a text file (invalid UTF-8 on line 4)",
		},
		{
			name:  "binary: gzip",
			stdin: "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\x07\x00",
			want:  []string{"<stdin>: not a text file"},
			note:  "<stdin>: not read: not a text file",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.path
			if src == "" {
				src = "-"
			}
			for _, args := range [][]string{
				{"scan", "--strict", good, src},
				{"scan", "--strict", "-o", "json", good, src},
				{"scan", "--strict", "-o", "sarif", good, src},
				{"mutate", good, src},
			} {
				code, out, errOut := runCLI(t, tc.stdin, args...)
				if code != exitUsage {
					t.Errorf("%v: exit %d, want 2\n%s", args, code, errOut)
				}
				if out != "" {
					t.Errorf("%v: stdout not empty (partial report):\n%s", args, out)
				}
				if prefix := "bulwark " + args[0] + ": "; !strings.HasPrefix(errOut, prefix) {
					t.Errorf("%v: stderr does not start with %q:\n%s", args, prefix, errOut)
				}
				for _, w := range tc.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("%v: stderr lacks %q:\n%s", args, w, errOut)
					}
				}
				if strings.Count(strings.TrimRight(errOut, "\n"), "\n") > 0 {
					t.Errorf("%v: more than one line on stderr:\n%s", args, errOut)
				}
			}
			code, out, errOut := runCLI(t, tc.stdin, "scan", good, src)
			if tc.hard {
				if code != exitUsage || out != "" {
					t.Errorf("scan without --strict: exit %d, stdout %q; want 2 and nothing", code, out)
				}
				return
			}
			if code != exitOK || errOut != "" {
				t.Errorf("scan without --strict: exit %d, want 0 and nothing on stderr\n%s", code, errOut)
			}
			for _, w := range []string{good + `:1: Pod "good": ok`, "1 not read", tc.note} {
				if !strings.Contains(out, w) {
					t.Errorf("scan without --strict: report lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestUnreadableFile: a file that opens but cannot be read (/proc/self/mem at offset 0: an
// I/O error, even for root), and a file without read permission (which root reads anyway).
func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	if _, err := os.Stat("/proc/self/mem"); err == nil {
		for _, args := range [][]string{{"scan", "--strict"}, {"mutate"}} {
			code, out, errOut := runCLI(t, "", append(args, good, "/proc/self/mem")...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, "bulwark "+args[0]+": /proc/self/mem: ") ||
				!strings.Contains(errOut, "input/output error") {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2, nothing, an I/O error", args, code, out, errOut)
			}
		}
		code, out, _ := runCLI(t, "", "scan", good, "/proc/self/mem")
		if code != exitOK || !strings.Contains(out, "/proc/self/mem: not read: read /proc/self/mem: input/output error") &&
			!strings.Contains(out, "/proc/self/mem: not read: input/output error") {
			t.Errorf("scan: exit %d, want 0 with a note on /proc/self/mem:\n%s", code, out)
		}
	}
	if os.Geteuid() == 0 {
		t.Skip("running as root: permissions do not stop reading")
	}
	p := writeFile(t, dir, "secret.yaml", compliantPod)
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"scan", "--strict"}, {"mutate"}} {
		code, out, errOut := runCLI(t, "", append(args, good, p)...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, p+": permission denied") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2, nothing, permission denied", args, code, out, errOut)
		}
	}
}
