package mutate

import (
	"bytes"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func applyYAMLString(t *testing.T, in string, ops []Operation) (string, error) {
	t.Helper()
	var doc yaml.Node
	must(t, yaml.Unmarshal([]byte(in), &doc))
	if err := ApplyYAML(&doc, ops); err != nil {
		return "", err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	must(t, enc.Encode(&doc))
	must(t, enc.Close())
	return out.String(), nil
}

func TestApplyYAML(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		ops  []Operation
		want string
	}{
		{
			name: "comments and key order kept, new keys last",
			in: `# head
spec: # line
  # before z
  z: 1
  a: 2 # two
  # foot of a
`,
			ops: []Operation{
				{Operation: "add", Path: "/spec/m", Value: map[string]any{"y": true, "b": "2"}},
				{Operation: "add", Path: "/top", Value: "x"},
			},
			want: `# head
spec: # line
  # before z
  z: 1
  a: 2 # two
  # foot of a

  m:
    b: "2"
    y: true
top: x
`,
		},
		{
			name: "null replaced, its comment kept",
			in:   "a:\n  sc: # fill me\n  b: null\n",
			ops: []Operation{
				{Operation: "add", Path: "/a/sc", Value: map[string]any{"k": false}},
				{Operation: "add", Path: "/a/b", Value: []any{"ALL"}},
			},
			want: "a:\n  sc: # fill me\n    k: false\n  b:\n    - ALL\n",
		},
		{
			name: "empty flow mapping becomes block, non-empty flow stays flow",
			in:   "a: {}\nb: {x: 1}\nc: []\n",
			ops: []Operation{
				{Operation: "add", Path: "/a/k", Value: "v"},
				{Operation: "add", Path: "/b/y", Value: map[string]any{"z": "1"}},
				{Operation: "add", Path: "/c/-", Value: "e"},
			},
			want: "a:\n  k: v\nb: {x: 1, y: {z: \"1\"}}\nc:\n  - e\n",
		},
		{
			name: "sequence index insert and append",
			in:   "l: [a, c]\n",
			ops: []Operation{
				{Operation: "add", Path: "/l/1", Value: "b"},
				{Operation: "add", Path: "/l/-", Value: "d"},
				{Operation: "add", Path: "/l/4", Value: "e"},
			},
			want: "l: [a, b, c, d, e]\n",
		},
		{
			name: "escaped keys",
			in:   "m:\n  a/b:\n    c~d: {}\n",
			ops:  []Operation{{Operation: "add", Path: "/m/a~1b/c~0d/e", Value: "1"}},
			want: "m:\n  a/b:\n    c~d:\n      e: \"1\"\n",
		},
		{
			name: "key supplied by a merge key is copied before it changes",
			in:   "base: &b\n  sc:\n    x: 1\nuse:\n  <<: *b\n  y: 2\n",
			ops:  []Operation{{Operation: "add", Path: "/use/sc/z", Value: "3"}},
			want: "base: &b\n  sc:\n    x: 1\nuse:\n  <<: *b\n  y: 2\n  sc:\n    x: 1\n    z: \"3\"\n",
		},
		{
			name: "replace keeps the scalar's style and comments",
			in:   "c:\n  - image: \"nginx:1.27\" # web\n  - image: app:1\nl: [x]\n",
			ops: []Operation{
				{Operation: "replace", Path: "/c/0/image", Value: "nginx:1.27@sha256:ab"},
				{Operation: "replace", Path: "/c/1/image", Value: "app:1@sha256:cd"},
				{Operation: "replace", Path: "/l/0", Value: "y"},
			},
			want: "c:\n  - image: \"nginx:1.27@sha256:ab\" # web\n  - image: app:1@sha256:cd\nl: [y]\n",
		},
		{
			name: "replace of an anchored value leaves its aliases as they were",
			in:   "a:\n  image: &img app:1\nb:\n  image: *img\n",
			ops:  []Operation{{Operation: "replace", Path: "/a/image", Value: "app:1@sha256:ab"}},
			want: "a:\n  image: app:1@sha256:ab\nb:\n  image: app:1\n",
		},
		{
			name: "replace of an alias leaves its anchor as it was",
			in:   "a:\n  image: &img app:1\nb:\n  image: *img\n",
			ops:  []Operation{{Operation: "replace", Path: "/b/image", Value: "app:1@sha256:ab"}},
			want: "a:\n  image: &img app:1\nb:\n  image: app:1@sha256:ab\n",
		},
		{
			name: "strings that look like other types are quoted",
			in:   "a: {}\n",
			ops:  []Operation{{Operation: "add", Path: "/a/b", Value: []any{"true", "1", "500m", "null", "~"}}},
			want: "a:\n  b:\n    - \"true\"\n    - \"1\"\n    - 500m\n    - \"null\"\n    - \"~\"\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyYAMLString(t, tc.in, tc.ops)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestApplyYAMLErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		op   Operation
		want string
	}{
		{"a: 1\n", Operation{Operation: "remove", Path: "/a"}, `unsupported operation "remove"`},
		{"a: 1\n", Operation{Operation: "replace", Path: "/b", Value: 2}, "b does not exist"},
		{"l: [a]\n", Operation{Operation: "replace", Path: "/l/1", Value: 2}, `index "1" out of range`},
		{"a: 1\n", Operation{Operation: "add", Path: "/b/c", Value: 2}, "/b does not exist"},
		{"a: null\n", Operation{Operation: "add", Path: "/a/c", Value: 2}, "/a does not exist"},
		{"a: 1\n", Operation{Operation: "add", Path: "/a/c", Value: 2}, "parent is not a mapping or a sequence"},
		{"l: [a]\n", Operation{Operation: "add", Path: "/l/5", Value: 2}, `index "5" out of range`},
		{"l: [a]\n", Operation{Operation: "add", Path: "/l/01", Value: 2}, `index "01" out of range`},
		{"a: 1\n", Operation{Operation: "add", Path: "", Value: 2}, "cannot replace the whole document"},
		{"a: 1\n", Operation{Operation: "add", Path: "a", Value: 2}, "does not start with /"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := applyYAMLString(t, tc.in, []Operation{tc.op})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := ApplyYAML(nil, nil); err == nil {
		t.Error("nil document accepted")
	}
	if err := ApplyYAML(&yaml.Node{Kind: yaml.DocumentNode}, nil); err == nil {
		t.Error("empty document accepted")
	}
}
