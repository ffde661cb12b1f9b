package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/bulwark-k8s/bulwark/internal/textlines"
)

// FuzzRead reads arbitrary bytes as standard input ("-"). Properties: Read never panics; it
// returns documents or an *Error, never both; the error names the source ("scan: <stdin>")
// and a line within the text; every document comes from <stdin>, is numbered and placed
// (index, item, a line within the text) in reading order, has an apiVersion and a kind, and
// its JSON is an object holding those two and its node a mapping; LineOf on it stays within
// the text. Seeds: every manifest under test/testdata and config/samples, and odd inputs.
//
//	go test ./pkg/scan -run '^$' -fuzz '^FuzzRead$' -fuzztime 60s
func FuzzRead(f *testing.F) {
	for _, dir := range []string{"../../test/testdata", "../../config/samples"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isManifestName(p) {
				return err
			}
			data, err := os.ReadFile(p)
			if err == nil && len(data) < 64<<10 {
				f.Add(data)
			}
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	for _, s := range []string{
		"", "---", "--- \n---\n", "# only a comment\n", "null", "[]", "- a\n", "a: b\n", "5",
		"apiVersion: v1\nkind: List\nitems: null\n",
		"apiVersion: v1\nkind: List\nitems: [5]\n",
		"apiVersion: v1\nkind: PodList\nitems:\n- &p {apiVersion: v1, kind: Pod}\n- *p\n",
		"apiVersion: v1\nkind: List\nitems: {a: 1}\n",
		"apiVersion: v1\nkind: ConfigMapList\nitems:\n- {kind: ConfigMap}\n",
		"apiVersion: 1\nkind: Pod\n",
		"apiVersion: v1\nkind: \"\"\n",
		"{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"spec\": {\"containers\": []}}",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n",
		"a: &a [*a]\n",
		"apiVersion: v1\r\nkind: Pod\r\nspec: [\r\n",
		"apiVersion: v1\nkind: Pod\nx: .inf\n",
		"\xff\xfe", "a\x00b",
		"apiVersion: v1\nkind: Pod\n<<: {spec: {}}\n",
		"? [a]\n: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Read([]string{"-"}, bytes.NewReader(data))
		lines := textlines.Count(data)
		if err != nil {
			if docs != nil {
				t.Fatalf("documents and an error: %v", err)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *scan.Error: %v", err, err)
			}
			if se.Source != StdinName || !strings.HasPrefix(err.Error(), "scan: "+StdinName) {
				t.Fatalf("the error does not name the source %s: %v", StdinName, err)
			}
			if se.Document < 0 || se.Item < 0 || se.Line < 0 || se.Line > lines {
				t.Fatalf("error placed at document %d, item %d, line %d of %d lines: %v\ninput %.300q", se.Document, se.Item, se.Line, lines, err, data)
			}
			if se.Err == nil || se.Err.Error() == "" {
				t.Fatalf("an error without a problem: %#v", se)
			}
			return
		}
		for i, d := range docs {
			switch {
			case d.Source != StdinName:
				t.Fatalf("document %d from %q", i, d.Source)
			case d.Index < 1 || d.Item < 0 || d.Line < 1 || d.Line > lines:
				t.Fatalf("document %d placed at index %d, item %d, line %d of %d lines", i, d.Index, d.Item, d.Line, lines)
			case i > 0 && (d.Index < docs[i-1].Index || d.Index == docs[i-1].Index && d.Item <= docs[i-1].Item):
				t.Fatalf("documents out of order: %s after %s", d.Where(), docs[i-1].Where())
			case d.APIVersion == "" || d.Kind == "":
				t.Fatalf("%s: apiVersion %q, kind %q", d.Where(), d.APIVersion, d.Kind)
			case d.Node == nil || d.Node.Kind != yaml.MappingNode || d.Root == nil:
				t.Fatalf("%s: no mapping node", d.Where())
			}
			var tm map[string]any
			if err := json.Unmarshal(d.JSON, &tm); err != nil {
				t.Fatalf("%s: JSON is not an object: %v: %s", d.Where(), err, d.JSON)
			}
			if tm["apiVersion"] != d.APIVersion || tm["kind"] != d.Kind {
				t.Fatalf("%s: JSON says %v %v, the document %q %q", d.Where(), tm["apiVersion"], tm["kind"], d.APIVersion, d.Kind)
			}
			for _, field := range []string{"spec.template.spec.containers[0].image", "metadata.annotations[example.com/x]", "items[1]", "x.y.z"} {
				if l := LineOf(d, field); l < 1 || l > lines {
					t.Fatalf("%s: LineOf(%q) = %d of %d lines", d.Where(), field, l, lines)
				}
			}
		}
	})
}
