package scan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// testdata is the fixture directory, relative to this package; tests chdir into it so that
// sources read as short relative paths, as a user would give them.
const testdata = "../../test/testdata/scan"

// doc is the part of a Document a test compares.
type doc struct {
	source     string
	index      int
	item       int
	line       int
	apiVersion string
	kind       string
}

func summarize(docs []*Document) []doc {
	out := make([]doc, len(docs))
	for i, d := range docs {
		out[i] = doc{d.Source, d.Index, d.Item, d.Line, d.APIVersion, d.Kind}
	}
	return out
}

func TestRead(t *testing.T) {
	t.Chdir(testdata)
	tests := []struct {
		name  string
		paths []string
		stdin string
		want  []doc
	}{
		{
			name:  "multi-document file, comment-only document skipped",
			paths: []string{"read/multi.yaml"},
			want: []doc{
				{"read/multi.yaml", 1, 0, 2, "apps/v1", "Deployment"},
				{"read/multi.yaml", 3, 0, 25, "v1", "Service"},
				{"read/multi.yaml", 4, 0, 33, "v1", "Pod"},
			},
		},
		{
			name:  "List expanded into its items",
			paths: []string{"read/list.yaml"},
			want: []doc{
				{"read/list.yaml", 1, 1, 4, "v1", "ConfigMap"},
				{"read/list.yaml", 1, 2, 10, "v1", "Pod"},
				{"read/list.yaml", 1, 3, 19, "batch/v1", "CronJob"},
			},
		},
		{
			name:  "JSON file",
			paths: []string{"read/pod.json"},
			want:  []doc{{"read/pod.json", 1, 0, 1, "v1", "Pod"}},
		},
		{
			name:  "directory tree: manifests in name order, other and hidden files ignored",
			paths: []string{"read/tree"},
			want: []doc{
				{filepath.FromSlash("read/tree/a.yaml"), 1, 0, 1, "v1", "ConfigMap"},
				{filepath.FromSlash("read/tree/sub/b.yml"), 1, 0, 1, "v1", "ConfigMap"},
				{filepath.FromSlash("read/tree/sub/c.json"), 1, 0, 1, "v1", "ConfigMap"},
				{filepath.FromSlash("read/tree/sub/deeper/d.YAML"), 1, 0, 1, "v1", "ConfigMap"},
			},
		},
		{
			name:  "stdin",
			paths: []string{"-"},
			stdin: "---\napiVersion: v1\nkind: ConfigMap\n---\n---\n# x\n...\n---\napiVersion: apps/v1\nkind: Deployment\n",
			want: []doc{
				{"<stdin>", 1, 0, 2, "v1", "ConfigMap"},
				{"<stdin>", 4, 0, 9, "apps/v1", "Deployment"},
			},
		},
		{
			name:  "files and stdin in the order given",
			paths: []string{"read/pod.json", "-", "read/tree/a.yaml"},
			stdin: "apiVersion: v1\nkind: Namespace\n",
			want: []doc{
				{"read/pod.json", 1, 0, 1, "v1", "Pod"},
				{"<stdin>", 1, 0, 1, "v1", "Namespace"},
				{filepath.FromSlash("read/tree/a.yaml"), 1, 0, 1, "v1", "ConfigMap"},
			},
		},
		{
			name:  "empty input and comment-only file",
			paths: []string{"-"},
			stdin: "# only a comment\n",
			want:  []doc{},
		},
		{
			name:  "List of a custom kind, items null",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: PodList\nitems:\n---\napiVersion: example.com/v1\nkind: WidgetList\nitems:\n- apiVersion: example.com/v1\n  kind: Widget\n",
			want:  []doc{{"<stdin>", 2, 1, 8, "example.com/v1", "Widget"}},
		},
		{
			name:  "a kind ending in List without items is an object",
			paths: []string{"-"},
			stdin: "apiVersion: example.com/v1\nkind: AllowList\nspec: {}\n",
			want:  []doc{{"<stdin>", 1, 0, 1, "example.com/v1", "AllowList"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read(tt.paths, strings.NewReader(tt.stdin))
			if err != nil {
				t.Fatal(err)
			}
			got := summarize(docs)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d documents %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("document %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			for _, d := range docs {
				if d.Node == nil || d.Root == nil || len(d.JSON) == 0 {
					t.Errorf("%s: Node, Root or JSON missing", d.Where())
				}
			}
		})
	}
}

func TestReadListSharesRoot(t *testing.T) {
	t.Chdir(testdata)
	docs, err := Read([]string{"read/list.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if docs[0].Root != docs[1].Root || docs[0].Node == docs[1].Node {
		t.Error("items of a List should share Root and have their own Node")
	}
	if got, want := string(docs[0].JSON), `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"mode":"strict"}}`; got != want {
		t.Errorf("item JSON:\n got %s\nwant %s", got, want)
	}
}

func TestReadErrors(t *testing.T) {
	t.Chdir(testdata)
	tests := []struct {
		name  string
		paths []string
		stdin string
		want  string
	}{
		{
			name:  "invalid YAML in the second document",
			paths: []string{"errors/invalid-yaml.yaml"},
			want:  "scan: errors/invalid-yaml.yaml: document 2 (line 10): yaml: mapping values are not allowed in this context",
		},
		{
			// yaml.v3 says the line after the last, which the text does not have.
			name:  "unclosed flow sequence on the last line: the line stays within the text",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: Pod\nspec: [\n",
			want:  "scan: <stdin>: document 1 (line 3): yaml: did not find expected node content",
		},
		{
			name:  "unclosed flow sequence: yaml.v3's parser line corrected",
			paths: []string{"errors/unclosed.yaml"},
			want:  "scan: errors/unclosed.yaml: document 1 (line 5): yaml: did not find expected ',' or ']'",
		},
		{
			name:  "document without kind",
			paths: []string{"errors/no-kind.yaml"},
			want:  "scan: errors/no-kind.yaml: document 2 (line 7): not a Kubernetes object: kind is missing",
		},
		{
			name:  "document without apiVersion",
			paths: []string{"errors/no-apiversion.yaml"},
			want:  "scan: errors/no-apiversion.yaml: document 1 (line 1): not a Kubernetes object: apiVersion is missing",
		},
		{
			name:  "document without either",
			paths: []string{"errors/no-type.yaml"},
			want:  "scan: errors/no-type.yaml: document 1 (line 1): not a Kubernetes object: apiVersion and kind are missing",
		},
		{
			name:  "List item without kind",
			paths: []string{"errors/list-item.yaml"},
			want:  "scan: errors/list-item.yaml: document 1, item 2 (line 8): not a Kubernetes object: kind is missing",
		},
		{
			name:  "non-string mapping key",
			paths: []string{"errors/non-string-key.yaml"},
			want:  "scan: errors/non-string-key.yaml: document 1 (line 6): mapping keys must be strings, found a list",
		},
		{
			name:  "duplicate key",
			paths: []string{"errors/duplicate-key.yaml"},
			want:  `scan: errors/duplicate-key.yaml: document 1 (line 5): mapping key "name" already defined at line 4`,
		},
		{
			name:  "document that is a list",
			paths: []string{"errors/not-an-object.yaml"},
			want:  "scan: errors/not-an-object.yaml: document 1 (line 1): expected a Kubernetes object (a mapping), found a list",
		},
		{
			name:  "missing file",
			paths: []string{"errors/missing.yaml"},
			want:  "scan: errors/missing.yaml: no such file or directory",
		},
		{
			name:  "first error wins, later paths unread",
			paths: []string{"read/pod.json", "errors/no-kind.yaml", "errors/missing.yaml"},
			want:  "scan: errors/no-kind.yaml: document 2 (line 7): not a Kubernetes object: kind is missing",
		},
		{
			name:  "stdin",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\ndata:\n\tkey: value\n",
			want:  "scan: <stdin>: document 1 (line 4): yaml: found character that cannot start any token",
		},
		{
			name:  "apiVersion not a string",
			paths: []string{"-"},
			stdin: "kind: ConfigMap\napiVersion: 1\n",
			want:  "scan: <stdin>: document 1 (line 2): apiVersion must be a string, found 1",
		},
		{
			name:  "scalar document",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\n---\njust text\n",
			want:  `scan: <stdin>: document 2 (line 4): expected a Kubernetes object (a mapping), found a string of 9 characters`,
		},
		{
			name:  "List items not a list",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: List\nitems:\n  a: b\n",
			want:  "scan: <stdin>: document 1 (line 4): items of a List must be a list of objects",
		},
		{
			name:  "List item not an object",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: List\nitems:\n  - 42\n",
			want:  `scan: <stdin>: document 1, item 1 (line 4): expected a Kubernetes object (a mapping), found a number`,
		},
		{
			name:  "infinity",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\nx:\n  y: .inf\n",
			want:  "scan: <stdin>: document 1 (line 4): .inf cannot be represented in JSON",
		},
		{
			name:  "alias inside its own anchor",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\nx: &loop\n  - a\n  - *loop\n",
			want:  "scan: <stdin>: document 1 (line 5): alias *loop is used inside its own anchor",
		},
		{
			name:  "unknown anchor",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\nx: *nowhere\n",
			want:  "scan: <stdin>: document 1: yaml: unknown anchor 'nowhere' referenced",
		},
		{
			name:  "non-string key through an alias",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\nn: &n [3]\ndata:\n  *n : three\n",
			want:  "scan: <stdin>: document 1 (line 5): mapping keys must be strings, found a list",
		},
		{
			name:  "merge of a scalar",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\nbase: &b hello\ndata:\n  <<: *b\n",
			want:  `scan: <stdin>: document 1 (line 3): the merge key << takes a mapping or a list of mappings, found a string of 5 characters`,
		},
		{
			name:  "merge of an alias to a list",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\na: &a {x: 1}\nl: &l [*a]\ndata:\n  <<: *l\n",
			want:  "scan: <stdin>: document 1 (line 4): the merge key << takes a mapping or a list of mappings, found a list",
		},
		{
			name:  "billion laughs",
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\n" +
				"a: &a [x, x, x, x, x, x, x, x, x, x]\n" +
				"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
				"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
				"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
				"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n" +
				"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
				"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n" +
				"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n" +
				"i: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
			want: "scan: <stdin>: document 1 (line 3): document contains excessive aliasing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read(tt.paths, strings.NewReader(tt.stdin))
			if err == nil {
				t.Fatalf("no error; read %d documents", len(docs))
			}
			if docs != nil {
				t.Errorf("partial result %v returned with the error", summarize(docs))
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *scan.Error", err)
			}
		})
	}
}

// TestReadFileSystemErrors builds what cannot live in a repository at test time.
func TestReadFileSystemErrors(t *testing.T) {
	tmp := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	manifest := []byte("apiVersion: v1\nkind: ConfigMap\n")

	// A symbolic link from loop/a/b/up back to loop.
	write("loop/a/cm.yaml", manifest)
	if err := os.MkdirAll(filepath.Join(tmp, "loop/a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../..", filepath.Join(tmp, "loop/a/b/up")); err != nil {
		t.Skipf("symbolic links unavailable: %v", err)
	}
	// Links that are no loop: to a sibling directory and to a file.
	write("links/real/cm.yaml", manifest)
	if err := os.Symlink("real", filepath.Join(tmp, "links/alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real/cm.yaml", filepath.Join(tmp, "links/linked.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(tmp, "links/dangling")); err != nil {
		t.Fatal(err)
	}

	nul := write("bin/nul.yaml", []byte("apiVersion: v1\nkind: ConfigMap\ndata:\n  x: \x00\x01\x02\n"))
	latin1 := write("bin/latin1.yaml", []byte("apiVersion: v1\nkind: ConfigMap\ndata:\n  name: caf\xe9\n"))

	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{"directory loop", []string{filepath.Join(tmp, "loop")},
			"scan: " + filepath.Join(tmp, "loop/a/b/up") + ": directory loop: it is " + filepath.Join(tmp, "loop") + " again (through a symbolic link)"},
		{"NUL bytes", []string{nul}, "scan: " + nul + ": not a text file (NUL byte on line 4)"},
		{"invalid UTF-8", []string{latin1}, "scan: " + latin1 + ": not a text file (invalid UTF-8 on line 4)"},
		{"missing directory", []string{filepath.Join(tmp, "none")}, "scan: " + filepath.Join(tmp, "none") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read(tt.paths, nil)
			if err == nil {
				t.Fatalf("no error; read %d documents", len(docs))
			}
			if docs != nil {
				t.Errorf("partial result returned with the error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}

	t.Run("links that are no loop", func(t *testing.T) {
		docs, err := Read([]string{filepath.Join(tmp, "links")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range docs {
			got = append(got, strings.TrimPrefix(filepath.ToSlash(d.Source), filepath.ToSlash(tmp)+"/"))
		}
		want := "links/alias/cm.yaml links/linked.yaml links/real/cm.yaml"
		if strings.Join(got, " ") != want {
			t.Errorf("got %v, want %s", got, want)
		}
	})

	t.Run("stdin without a reader", func(t *testing.T) {
		_, err := Read([]string{"-"}, nil)
		if err == nil || err.Error() != "scan: <stdin>: no standard input" {
			t.Errorf("got %v", err)
		}
	})

	t.Run("unreadable directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads every directory")
		}
		dir := filepath.Join(tmp, "locked")
		write("locked/cm.yaml", manifest)
		if err := os.Chmod(dir, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o755)
		_, err := Read([]string{dir}, nil)
		if want := "scan: " + dir + ": permission denied"; err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

func TestReadJSONConversion(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{
			// yes, no, on, off as YAML 1.1 (kubectl) reads them; quoted or tagged, strings.
			name: "key order and scalar types",
			yaml: "apiVersion: v1\nkind: ConfigMap\nz: 1\na: str\nhex: 0x1F\noctal: 0o17\nfloat: 1.5\nexp: 1e3\nbig: 18446744073709551615\n" +
				"yes: yes\nt: true\nnull1: null\nnull2: ~\nnull3:\nquoted: \"42\"\nstrtag: !!str 42\nint-str: !!int \"7\"\n" +
				"off: Off\nqyes: 'yes'\ntagno: !!str no\n",
			want: `{"apiVersion":"v1","kind":"ConfigMap","z":1,"a":"str","hex":31,"octal":15,"float":1.5,"exp":1000,"big":18446744073709551615,` +
				`"true":true,"t":true,"null1":null,"null2":null,"null3":null,"quoted":"42","strtag":"42","int-str":7,` +
				`"false":false,"qyes":"yes","tagno":"no"}`,
		},
		{
			name: "timestamps as written, binary decoded as kubectl does",
			yaml: "apiVersion: v1\nkind: Secret\ndate: 2001-12-14\nts: 2001-12-14t21:59:43.10-05:00\ndata:\n  key: !!binary |\n    aGVsbG8g\n    d29ybGQ=\n",
			want: `{"apiVersion":"v1","kind":"Secret","date":"2001-12-14","ts":"2001-12-14t21:59:43.10-05:00","data":{"key":"hello world"}}`,
		},
		{
			name: "aliases and merge keys",
			yaml: "apiVersion: v1\nkind: ConfigMap\nbase: &base {a: 1, b: 2}\nextra: &extra {b: 3, c: 4}\n" +
				"one:\n  <<: *base\n  b: 9\n  d: 5\nmany:\n  <<: [*base, *extra]\nlist: &l [x, z]\ncopy: *l\n" +
				"nested: &n\n  <<: *extra\n  e: 6\nouter:\n  <<: [{inline: true}, *n]\n",
			want: `{"apiVersion":"v1","kind":"ConfigMap","base":{"a":1,"b":2},"extra":{"b":3,"c":4},` +
				`"one":{"a":1,"b":9,"d":5},"many":{"a":1,"b":2,"c":4},"list":["x","z"],"copy":["x","z"],` +
				`"nested":{"b":3,"c":4,"e":6},"outer":{"inline":true,"b":3,"c":4,"e":6}}`,
		},
		{
			name: "strings escaped for JSON, not for HTML",
			yaml: "apiVersion: v1\nkind: ConfigMap\ndata:\n  s: \"<a & b>\\t\\\"q\\\" é\"\n  '<<': quoted merge key is a key\n",
			want: `{"apiVersion":"v1","kind":"ConfigMap","data":{"s":"<a & b>\t\"q\" é","<<":"quoted merge key is a key"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read([]string{"-"}, strings.NewReader(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(docs[0].JSON); got != tt.want {
				t.Errorf("JSON:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestWhere(t *testing.T) {
	tests := []struct {
		d    Document
		want string
	}{
		{Document{Source: "deploy.yaml", Index: 2, Line: 14}, "deploy.yaml: document 2 (line 14)"},
		{Document{Source: "list.yaml", Index: 1, Item: 3, Line: 20}, "list.yaml: document 1, item 3 (line 20)"},
		{Document{Source: "<stdin>", Index: 1}, "<stdin>: document 1"},
	}
	for _, tt := range tests {
		if got := tt.d.Where(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestReadAll: what Read stops at, ReadAll notes and reads past, in order; only a PATH that
// cannot be found stops it.
func TestReadAll(t *testing.T) {
	t.Chdir(testdata)
	docs, unread, err := ReadAll([]string{"errors", "read/pod.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, u := range unread {
		notes = append(notes, u.Note())
		if u.Known {
			t.Errorf("%s: Known, but no file here is recognisably something else", u.Note())
		}
	}
	want := []string{
		"errors/duplicate-key.yaml:5: document 1 not read: mapping key \"name\" already defined at line 4",
		"errors/invalid-yaml.yaml:10: document 2 not read: yaml: mapping values are not allowed in this context; the rest of the file is not read",
		"errors/list-item.yaml:8: document 1, item 2 not read: not a Kubernetes object: kind is missing",
		"errors/no-apiversion.yaml:1: document 1 not read: not a Kubernetes object: apiVersion is missing",
		"errors/no-kind.yaml:7: document 2 not read: not a Kubernetes object: kind is missing",
		"errors/no-type.yaml:1: document 1 not read: not a Kubernetes object: apiVersion and kind are missing",
		"errors/non-string-key.yaml:6: document 1 not read: mapping keys must be strings, found a list",
		"errors/not-an-object.yaml:1: document 1 not read: expected a Kubernetes object (a mapping), found a list",
		"errors/unclosed.yaml:5: document 1 not read: yaml: did not find expected ',' or ']'; the rest of the file is not read",
	}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(notes, "\n"), strings.Join(want, "\n"))
	}
	// The good documents around them are read: a document of invalid-yaml.yaml before the
	// error, the other items of the List, the document of no-kind.yaml that has one, ...
	var got []string
	for _, d := range docs {
		got = append(got, d.Where())
	}
	for _, w := range []string{"errors/invalid-yaml.yaml: document 1", "errors/list-item.yaml: document 1, item 1", "errors/no-kind.yaml: document 1", "read/pod.json: document 1"} {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w+" ")
		}
		if !found {
			t.Errorf("%s not read; read %q", w, got)
		}
	}
	if _, _, err := ReadAll([]string{"read/pod.json", "errors/missing.yaml"}, nil); err == nil || err.Error() != "scan: errors/missing.yaml: no such file or directory" {
		t.Errorf("missing PATH: %v", err)
	}
}

// TestReadEach: ReadEach hands over, one at a time and in order, the documents ReadAll
// returns, and returns what ReadAll does not read; an error of each stops it.
func TestReadEach(t *testing.T) {
	t.Chdir(testdata)
	paths := []string{"errors", "read", "-"}
	const list = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n- {apiVersion: v1, kind: Pod, metadata: {name: b}}\n"
	docs, unread, err := ReadAll(paths, strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	var got []*Document
	gotUnread, err := ReadEach(paths, strings.NewReader(list), func(d *Document) error {
		if d.Node == nil || d.Root == nil || d.JSON == nil {
			t.Errorf("%s: handed over without its tree or JSON", d.Where())
		}
		got = append(got, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(docs) || len(docs) < 10 {
		t.Fatalf("ReadEach handed over %d documents, ReadAll read %d (want 10 or more)", len(got), len(docs))
	}
	for i, d := range docs {
		if g := got[i]; g.Where() != d.Where() || g.Kind != d.Kind || !bytes.Equal(g.JSON, d.JSON) || g.seq != d.seq {
			t.Errorf("document %d: ReadEach %s (%s, seq %d), ReadAll %s (%s, seq %d)", i, g.Where(), g.JSON, g.seq, d.Where(), d.JSON, d.seq)
		}
	}
	if len(gotUnread) != len(unread) {
		t.Fatalf("ReadEach did not read %d, ReadAll %d", len(gotUnread), len(unread))
	}
	for i, u := range unread {
		if g := gotUnread[i]; g.Note() != u.Note() || g.seq != u.seq {
			t.Errorf("not read %d: ReadEach %s, ReadAll %s", i, g.Note(), u.Note())
		}
	}

	stop := errors.New("stop")
	n := 0
	if _, err := ReadEach(paths, strings.NewReader(list), func(*Document) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	}); err != stop || n != 3 {
		t.Errorf("each failing at the third document: %v after %d, want stop after 3", err, n)
	}
	if _, err := ReadEach([]string{"read/pod.json", "errors/missing.yaml"}, nil, func(*Document) error { return nil }); err == nil || err.Error() != "scan: errors/missing.yaml: no such file or directory" {
		t.Errorf("missing PATH: %v", err)
	}
}

// TestReadNamedStdin: what is read from "-" carries the name NamedStdin gives it, objects,
// what is not read and errors alike, and files keep their own.
func TestReadNamedStdin(t *testing.T) {
	t.Chdir(testdata)
	in := "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\nkind: Pod\n"
	docs, unread, err := ReadAll([]string{"-", "read/list.yaml"}, NamedStdin(strings.NewReader(in), "chart/rendered.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 2 || docs[0].Source != "chart/rendered.yaml" || docs[1].Source != "read/list.yaml" {
		t.Fatalf("sources: %v", sources(docs))
	}
	if len(unread) != 1 || unread[0].Source != "chart/rendered.yaml" || unread[0].Document != 2 {
		t.Errorf("not read: %+v, want document 2 of chart/rendered.yaml", unread)
	}
	if _, err := Read([]string{"-"}, NamedStdin(nil, "x.yaml")); err == nil || err.Error() != "scan: x.yaml: no standard input" {
		t.Errorf("no standard input: %v", err)
	}
	if _, err := Read([]string{"-"}, NamedStdin(strings.NewReader("a: [\n"), "x.yaml")); err == nil || !strings.HasPrefix(err.Error(), "scan: x.yaml:") {
		t.Errorf("YAML error: %v", err)
	}
	plain, err := Read([]string{"-"}, strings.NewReader(in[:strings.Index(in, "---")]))
	if err != nil || len(plain) != 1 || plain[0].Source != StdinName {
		t.Errorf("without a name: %v %v", sources(plain), err)
	}
}

func sources(docs []*Document) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.Source)
	}
	return out
}

// TestCheckText: reading a source line by line finds what a look at the whole text finds,
// with lines longer than the read buffer, a character or "{{" across its edge, and no final
// newline.
func TestCheckText(t *testing.T) {
	long := strings.Repeat("a", readBuffer-1)
	for _, in := range []string{
		"", "a", "a\n", "a\nb", "\n\n", "a: b\n{{ x }}\n",
		long + "é\nb\n", long + "{{\n", long + "{" + "{\n",
		long + long + long + "\nc: {{ .x }}\n\x00\n",
		"a\n" + long + "\xe2\x82\nb\n", "a\n" + long + "\xff" + long + "\nb\x00\n",
		"a\n" + long + long + "\x00", "é\xe2\x82\xac\n\xc3",
	} {
		// What the whole text says: the first NUL, else the first invalid character, at its
		// line; the line of the first "{{"; the line breaks, plus one for a last line without.
		data := []byte(in)
		lineAt := func(i int) int { return bytes.Count(data[:i], []byte("\n")) + 1 }
		want := textInfo{lines: bytes.Count(data, []byte("\n"))}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			want.lines++
		}
		if i := bytes.Index(data, []byte("{{")); i >= 0 {
			want.braces = lineAt(i)
		}
		wantErr := ""
		if i := bytes.IndexByte(data, 0); i >= 0 {
			wantErr = fmt.Sprintf("not a text file (NUL byte on line %d)", lineAt(i))
		} else if !utf8.Valid(data) {
			i := 0
			for {
				c, size := utf8.DecodeRune(data[i:])
				if c == utf8.RuneError && size <= 1 {
					break
				}
				i += size
			}
			wantErr = fmt.Sprintf("not a text file (invalid UTF-8 on line %d)", lineAt(i))
		}
		got, err := checkText(bufio.NewReaderSize(strings.NewReader(in), readBuffer))
		switch {
		case wantErr != "" && (err == nil || err.Error() != wantErr):
			t.Errorf("%.40q (%d bytes): %v, want %s", in, len(in), err, wantErr)
		case wantErr == "" && (err != nil || got != want):
			t.Errorf("%.40q (%d bytes): %+v, %v; want %+v", in, len(in), got, err, want)
		}
	}
}

// TestReadPipe: a pipe given as a path, as a shell gives bulwark scan <(helm template ...),
// is read, though it cannot be read twice.
func TestReadPipe(t *testing.T) {
	if _, err := os.Stat("/dev/fd/0"); err != nil {
		t.Skip("no /dev/fd here")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		defer pw.Close()
		pw.WriteString("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n")
	}()
	p := fmt.Sprintf("/dev/fd/%d", pr.Fd())
	var got []string
	unread, err := ReadEach([]string{p}, nil, func(d *Document) error {
		got = append(got, d.Where())
		return nil
	})
	if err != nil || len(unread) > 0 {
		t.Fatalf("%v, not read: %v", err, unread)
	}
	if want := []string{p + ": document 1 (line 1)", p + ": document 2 (line 5)"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("read %q, want %q", got, want)
	}
}
