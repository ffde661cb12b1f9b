// Package scan is the manifest side of the offline CLI (bulwark scan, bulwark mutate): it reads
// Kubernetes objects from files, directories and standard input (multi-document YAML, JSON,
// List kinds), evaluates them with the same checks as the webhook, and writes the reports:
// text for a terminal or CI log, JSON for tools, SARIF for GitHub code scanning. The same
// reports serve bulwark scan --cluster, whose objects are located at a cluster (Cluster).
package scan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/bulwark-k8s/bulwark/internal/yamljson"
)

// StdinName is the Source of documents read from standard input ("-"), unless NamedStdin
// names it.
const StdinName = "<stdin>"

// NamedStdin returns stdin for Read and ReadAll such that what they read from "-" has the
// Source name instead of StdinName: the path in the repository of what was piped in
// (helm template ... | bulwark scan --stdin-name chart/rendered.yaml -), for reports to link to.
func NamedStdin(stdin io.Reader, name string) io.Reader { return namedStdin{stdin, name} }

type namedStdin struct {
	io.Reader
	name string
}

// Document is one Kubernetes object read from a manifest.
type Document struct {
	// Source is the file path as given (joined below a directory argument), or "<stdin>" (the
	// name given to NamedStdin); for an object read from a cluster, the cluster's name
	// (Cluster.Document).
	Source string
	// Index is the 1-based number of the YAML document within the source. Empty documents
	// count, so the number matches the document separators a reader sees.
	Index int
	// Item is the 1-based number of the object inside a List, 0 for a top-level object.
	Item int
	// Line is the line where the object starts (its first key).
	Line int
	// APIVersion and Kind of the object.
	APIVersion, Kind string
	// JSON is the object as compact JSON, keys in the order written. Plain scalars YAML 1.1
	// reads as booleans (yes, no, on, off) are booleans, as kubectl reads them.
	JSON []byte
	// Node is the object's YAML mapping node, for line lookups and comment-preserving output.
	Node *yaml.Node
	// Root is the YAML document node that holds Node. The items of one List share it, so
	// changes made to their Nodes show when Root is encoded.
	Root *yaml.Node

	// seq is the place of the document in reading order, shared with Unread.
	seq int
	// lines are the lines of the fields a compacted Result's document keeps (Result.Compact).
	lines []fieldLine
}

// fieldLine is the line of a field, as LineOf finds it.
type fieldLine struct {
	field string
	line  int
}

// Where names the document for messages: "deploy.yaml: document 2 (line 14)" or
// "list.yaml: document 1, item 3 (line 20)".
func (d *Document) Where() string { return where(d.Source, d.Index, d.Item, d.Line) }

func where(source string, doc, item, line int) string {
	s := source
	if doc > 0 {
		s += ": document " + strconv.Itoa(doc)
		if item > 0 {
			s += ", item " + strconv.Itoa(item)
		}
	}
	if line > 0 {
		s += " (line " + strconv.Itoa(line) + ")"
	}
	return s
}

// Error is a problem with one source or one document in it. Document, Item and Line are 0
// when unknown or not applicable.
type Error struct {
	Source   string
	Document int
	Item     int
	Line     int
	Err      error
}

// Error renders "scan: deploy.yaml: document 2 (line 14): <problem>".
func (e *Error) Error() string {
	return "scan: " + where(e.Source, e.Document, e.Item, e.Line) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// docError is an error about d, at line (d.Line when line is 0).
func docError(d *Document, line int, err error) *Error {
	if line == 0 {
		line = d.Line
	}
	return &Error{Source: d.Source, Document: d.Index, Item: d.Item, Line: line, Err: err}
}

// kubectlYAML reads manifests as kubectl does: YAML 1.1 booleans (hostNetwork: yes) are
// booleans and number or boolean keys are strings, so that an object is judged as the
// apiserver will receive it (internal/yamljson's kubectl parity test holds the two together).
var kubectlYAML = yamljson.Options{YAML11Booleans: true, KubectlKeys: true}

// Read reads every Kubernetes object from paths, in order. A path is a file (read whatever
// its name), a directory (every *.yaml, *.yml and *.json below it, recursively, in name
// order; names starting with "." are skipped, so .git and .github stay out of a repository
// scan), or "-" for stdin. Lists (a kind ending in "List" with items) are expanded into their
// items; empty documents are skipped. Read stops at the first error and then returns no
// documents; the error is an *Error naming the file, the document and the line.
func Read(paths []string, stdin io.Reader) ([]*Document, error) {
	r := reader{stdin: stdin, charts: map[string]bool{}}
	for _, p := range paths {
		if err := r.path(p); err != nil {
			return nil, err
		}
	}
	return r.docs, nil
}

// Unread is a file, a document or a List item that holds no object to evaluate, and why.
type Unread struct {
	*Error
	// Known is set when the file is recognisably something other than manifests and holds no
	// object for the apiserver: a Helm chart's Chart.yaml or values, a kustomization, a
	// Compose file. It is noted, but it is no problem with the manifests.
	Known bool

	// seq is the place in reading order, shared with Document.
	seq int
}

// MergeUnread merges what ReadAll and EvaluatePolicyAll did not read into one list, in
// reading order.
func MergeUnread(read, evaluated []Unread) []Unread {
	out := append(append(make([]Unread, 0, len(read)+len(evaluated)), read...), evaluated...)
	slices.SortStableFunc(out, func(a, b Unread) int { return a.seq - b.seq })
	return out
}

// Note is the line the text report gives u: "Chart.yaml:1: document 1 not read: <why>", or
// "templates/x.yaml: not read: <why>" for a whole file.
func (u Unread) Note() string {
	s := u.Source
	if u.Line > 0 {
		s += ":" + strconv.Itoa(u.Line)
	}
	s += ": "
	if u.Document > 0 {
		s += "document " + strconv.Itoa(u.Document)
		if u.Item > 0 {
			s += ", item " + strconv.Itoa(u.Item)
		}
		s += " "
	}
	return s + "not read: " + u.Err.Error()
}

// ReadAll reads paths as Read does, but goes on past what is not a Kubernetes object: a
// document that is not an object or has no kind, a file that is not YAML (a Helm template),
// not text or not readable, a directory loop. Each is returned as Unread, in reading order,
// and reading goes on with the next document (after a YAML syntax error, with the next
// file: the rest of a file cannot be parsed). A Helm template is a file holding "{{" that
// is not YAML or sits in the templates directory of a chart (beside a Chart.yaml); it is
// not read, since its objects only exist once rendered. err is only for a PATH that cannot
// be found and for standard input that cannot be read: the command line is wrong then.
func ReadAll(paths []string, stdin io.Reader) (docs []*Document, unread []Unread, err error) {
	r := reader{stdin: stdin, keepGoing: true, charts: map[string]bool{}}
	for _, p := range paths {
		if err := r.path(p); err != nil {
			return nil, nil, err
		}
	}
	return r.docs, r.unread, nil
}

// ReadEach reads paths as ReadAll does, but hands each object to each as soon as it is read,
// in reading order, and keeps none: once each returns, the document's YAML tree is garbage
// unless each holds on to the Document, so that reading takes memory for one document at a
// time, not for the whole input (files are read through a buffer; what is read from standard
// input or a pipe is held whole while it is parsed). The items of a List are handed over one
// by one while their shared Root is alive. An error each returns stops reading and is
// returned as err, as are ReadAll's errors.
func ReadEach(paths []string, stdin io.Reader, each func(*Document) error) (unread []Unread, err error) {
	r := reader{stdin: stdin, keepGoing: true, charts: map[string]bool{}, each: each}
	for _, p := range paths {
		if err := r.path(p); err != nil {
			return nil, err
		}
	}
	return r.unread, nil
}

type reader struct {
	stdin io.Reader
	// each is given every document read (ReadEach); without it, they are kept in docs.
	each      func(*Document) error
	docs      []*Document
	keepGoing bool
	unread    []Unread
	// charts caches whether a file (a Chart.yaml, a kustomization.yaml) exists.
	charts map[string]bool
	// seq counts the documents and Unread in reading order.
	seq int
	// buf is the buffer sources are read through (buffered).
	buf *bufio.Reader
	// known says what the source being parsed is, when its name tells ("a Helm chart's
	// Chart.yaml"), for the notes on documents that are not objects.
	known string
}

// skip records e as an Unread and returns nil when reading goes on past problems, or
// returns e when it stops at the first.
func (r *reader) skip(e *Error, known bool) error {
	if !r.keepGoing {
		return e
	}
	r.seq++
	r.unread = append(r.unread, Unread{Error: e, Known: known, seq: r.seq})
	return nil
}

// notObject is skip for a document that is not a Kubernetes object: in a file whose name
// says what it is, the note says it too, and the document is Known.
func (r *reader) notObject(e *Error) error {
	if r.known == "" {
		return r.skip(e, false)
	}
	e.Err = fmt.Errorf("%w (%s)", e.Err, r.known)
	return r.skip(e, true)
}

func (r *reader) path(p string) error {
	if p == "-" {
		name, stdin := StdinName, r.stdin
		if n, ok := stdin.(namedStdin); ok {
			name, stdin = n.name, n.Reader
		}
		if stdin == nil {
			return &Error{Source: name, Err: errors.New("no standard input")}
		}
		data, err := io.ReadAll(stdin)
		if err != nil {
			return &Error{Source: name, Err: err}
		}
		r.known = ""
		return r.parse(name, bytes.NewReader(data), false)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return &Error{Source: p, Err: pathError(err)}
	}
	if fi.IsDir() {
		return r.dir(p, fi, nil)
	}
	return r.file(p)
}

type visitedDir struct {
	path string
	info os.FileInfo
}

// dir reads the manifests below dir. ancestors are the directories being walked above it:
// reaching one of them again (through a symbolic link) is a loop.
func (r *reader) dir(dir string, info os.FileInfo, ancestors []visitedDir) error {
	for _, a := range ancestors {
		if os.SameFile(a.info, info) {
			return r.skip(&Error{Source: dir, Err: fmt.Errorf("directory loop: it is %s again (through a symbolic link)", a.path)}, false)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return r.skip(&Error{Source: dir, Err: pathError(err)}, false)
	}
	ancestors = append(ancestors, visitedDir{path: dir, info: info})
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := e.Info()
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			fi, err = os.Stat(p)
		}
		if err != nil {
			if !isManifestName(name) {
				continue // e.g. a dangling link that would not have been read anyway
			}
			if err := r.skip(&Error{Source: p, Err: pathError(err)}, false); err != nil {
				return err
			}
			continue
		}
		switch {
		case fi.IsDir():
			if err := r.dir(p, fi, ancestors); err != nil {
				return err
			}
		case fi.Mode().IsRegular() && isManifestName(name):
			if err := r.file(p); err != nil {
				return err
			}
		}
	}
	return nil
}

func isManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// pathError drops the operation and path that os errors repeat ("open x: ..."): the Error
// names the path already.
func pathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// file reads the documents of the file p one by one, never the whole file at once; but a pipe
// (bulwark scan <(helm template ...)), which can be read only once, is held whole as standard
// input is.
func (r *reader) file(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return r.skip(&Error{Source: p, Err: pathError(err)}, false)
	}
	defer f.Close()
	var src io.ReadSeeker = f
	if _, err := f.Seek(0, io.SeekCurrent); err != nil {
		data, err := io.ReadAll(f)
		if err != nil {
			return r.skip(&Error{Source: p, Err: pathError(err)}, false)
		}
		src = bytes.NewReader(data)
	}
	chart, inTemplates := r.chartOf(p)
	r.known = r.knownFile(p, chart, inTemplates)
	return r.parse(p, src, inTemplates)
}

// chartOf returns the directory of the Helm chart p belongs to (the nearest directory above
// it that holds a Chart.yaml, looking no further up than a templates directory), or "", and
// whether p is in the chart's templates directory.
func (r *reader) chartOf(p string) (chart string, inTemplates bool) {
	dir := filepath.Dir(p)
	if r.hasChart(dir) {
		return dir, false
	}
	for d := dir; ; {
		parent := filepath.Dir(d)
		if filepath.Base(d) == "templates" && r.hasChart(parent) {
			return parent, true
		}
		if parent == d || filepath.Base(d) == ".." || filepath.Base(d) == "." {
			return "", false
		}
		d = parent
	}
}

func (r *reader) hasChart(dir string) bool { return r.hasFile(dir, "Chart.yaml") }

// hasFile reports whether dir holds a file of one of names.
func (r *reader) hasFile(dir string, names ...string) bool {
	for _, name := range names {
		p := filepath.Join(dir, name)
		has, ok := r.charts[p]
		if !ok {
			fi, err := os.Stat(p)
			has = err == nil && fi.Mode().IsRegular()
			r.charts[p] = has
		}
		if has {
			return true
		}
	}
	return false
}

// knownFile says what a file that is not made of manifests is, when its name or place tells.
func (r *reader) knownFile(p, chart string, inTemplates bool) string {
	base := strings.ToLower(filepath.Base(p))
	switch {
	case base == "chart.yaml":
		return "a Helm chart's Chart.yaml"
	case base == "kustomization.yaml" || base == "kustomization.yml":
		return "a kustomization: to scan what it builds, run kubectl kustomize " + filepath.Dir(p) + " | bulwark scan -"
	case strings.HasPrefix(base, "docker-compose") || strings.HasPrefix(base, "compose."):
		return "a Compose file"
	case chart != "" && !inTemplates:
		return "a file of the Helm chart in " + chart + ", such as its values"
	case r.hasFile(filepath.Dir(p), "kustomization.yaml", "kustomization.yml", "Kustomization"):
		return "a file of the kustomization in " + filepath.Dir(p) + ", such as a patch"
	}
	return ""
}

// helmTemplate is the note on a Helm template: what to run instead.
func helmTemplate(chart string, line int) error {
	if chart == "" {
		chart = "CHART"
	}
	return fmt.Errorf("a Helm template (\"{{\" on line %d), not a manifest: render it first: helm template RELEASE %s | bulwark scan -", line, chart)
}

// parse reads every document of one source, src, which it reads twice: once to check that it
// is text (and to find a template's braces), then to decode its documents one at a time.
// inTemplates is set for a file in the templates directory of a Helm chart.
func (r *reader) parse(source string, src io.ReadSeeker, inTemplates bool) error {
	text, err := checkText(r.buffered(src))
	if err == nil {
		_, err = src.Seek(0, io.SeekStart)
	}
	var notText *notTextError
	switch {
	case errors.As(err, &notText):
		return r.skip(&Error{Source: source, Err: err}, false)
	case err != nil:
		return r.skip(&Error{Source: source, Err: pathError(err)}, false)
	}
	// A template: only the documents of its rendering are objects.
	if text.braces > 0 && (inTemplates || !isYAML(r.buffered(src))) {
		chart := ""
		if inTemplates {
			chart, _ = r.chartOf(source)
		}
		return r.skip(&Error{Source: source, Err: helmTemplate(chart, text.braces)}, false)
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return r.skip(&Error{Source: source, Err: pathError(err)}, false)
	}
	dec := yaml.NewDecoder(r.buffered(src))
	for index := 1; ; index++ {
		root := new(yaml.Node)
		err := dec.Decode(root)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			line, msg := yamljson.ErrorLineIn(text.lines, err)
			if r.keepGoing {
				msg += "; the rest of the file is not read"
			}
			return r.skip(&Error{Source: source, Document: index, Line: line, Err: errors.New(msg)}, false)
		}
		if err := r.document(source, index, root); err != nil {
			return err
		}
	}
}

// readBuffer is the size of the buffer sources are read through.
const readBuffer = 64 << 10

// buffered returns r's read buffer, reset to read src: one buffer serves every source, and
// each pass over one.
func (r *reader) buffered(src io.Reader) *bufio.Reader {
	if r.buf == nil {
		r.buf = bufio.NewReaderSize(src, readBuffer)
	} else {
		r.buf.Reset(src)
	}
	return r.buf
}

// isYAML reports whether every document of src parses and converts to JSON: a template's
// {{ }} may parse as YAML ({{ .Release.Name }} is a mapping in a mapping) but not convert.
func isYAML(src *bufio.Reader) bool {
	dec := yaml.NewDecoder(src)
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if _, err := kubectlYAML.ToJSON(&root); err != nil {
			return false
		}
	}
}

// textInfo is what checkText finds in a source: its number of lines (the line breaks, plus one
// for a last line without a final newline) and the line of its first "{{", 0 if none.
type textInfo struct {
	lines, braces int
}

// notTextError is the error of checkText for a source that is not text.
type notTextError struct{ msg string }

func (e *notTextError) Error() string { return e.msg }

// checkText rejects input that is not UTF-8 text, before the YAML parser reports something
// obscure about it, reading it line by line. Another error is one of reading src.
func checkText(br *bufio.Reader) (textInfo, error) {
	var text textInfo
	nul, invalid := 0, 0
	var long []byte // a line longer than the buffer
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if len(long) > 0 {
			long = append(long, chunk...)
			line, long = long, long[:0]
		}
		if len(line) > 0 {
			// A line break is never part of a character: each line is valid UTF-8 on its own.
			text.lines++
			if nul == 0 && bytes.IndexByte(line, 0) >= 0 {
				nul = text.lines
			}
			if invalid == 0 && !utf8.Valid(line) {
				invalid = text.lines
			}
			if text.braces == 0 && bytes.Contains(line, []byte("{{")) {
				text.braces = text.lines
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return textInfo{}, err
		}
	}
	switch {
	case nul > 0:
		return textInfo{}, &notTextError{fmt.Sprintf("not a text file (NUL byte on line %d)", nul)}
	case invalid > 0:
		return textInfo{}, &notTextError{fmt.Sprintf("not a text file (invalid UTF-8 on line %d)", invalid)}
	}
	return text, nil
}

// document turns one decoded YAML document into Documents: none when it is empty, its items
// when it is a List, else one.
func (r *reader) document(source string, index int, root *yaml.Node) error {
	if len(root.Content) == 0 {
		return nil
	}
	obj := root.Content[0]
	fail := func(line int, format string, args ...any) *Error {
		return &Error{Source: source, Document: index, Line: line, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case obj.Kind == yaml.ScalarNode && obj.ShortTag() == "!!null":
		return nil // only comments, or nothing between two separators
	case obj.Kind != yaml.MappingNode:
		return r.notObject(fail(obj.Line, "expected a Kubernetes object (a mapping), found %s", yamljson.Describe(obj)))
	}
	data, err := kubectlYAML.ToJSON(obj)
	if err != nil {
		var le *yamljson.LineError
		if errors.As(err, &le) {
			return r.skip(fail(le.Line, "%v", le.Err), false)
		}
		return r.skip(fail(obj.Line, "%v", err), false)
	}
	top := &Document{Source: source, Index: index, Line: obj.Line, JSON: data, Node: obj, Root: root}
	fields, tmErr := typeMeta(top)
	if tmErr != nil {
		return r.notObject(tmErr)
	}
	if r.keepGoing && isKustomize(top.APIVersion) {
		return r.skip(docError(top, 0, fmt.Errorf("a kustomize %s, not an object for the apiserver: to scan what it builds, run kubectl kustomize %s | bulwark scan -",
			top.Kind, filepath.Dir(source))), true)
	}
	rawItems, isList := fields["items"]
	if !strings.HasSuffix(top.Kind, "List") || !isList {
		return r.add(top)
	}
	_, itemsNode := yamljson.Lookup(obj, "items")
	itemsNode = yamljson.Deref(itemsNode)
	if itemsNode.Kind == yaml.ScalarNode && itemsNode.ShortTag() == "!!null" {
		return nil
	}
	var items []json.RawMessage
	if itemsNode.Kind != yaml.SequenceNode || json.Unmarshal(rawItems, &items) != nil || len(items) != len(itemsNode.Content) {
		return r.skip(fail(itemsNode.Line, "items of a %s must be a list of objects", top.Kind), false)
	}
	for i, raw := range items {
		node := itemsNode.Content[i]
		d := &Document{Source: source, Index: index, Item: i + 1, Line: node.Line, Node: yamljson.Deref(node), Root: root}
		if d.Node.Kind != yaml.MappingNode {
			if err := r.skip(docError(d, 0, fmt.Errorf("expected a Kubernetes object (a mapping), found %s", yamljson.Describe(d.Node))), false); err != nil {
				return err
			}
			continue
		}
		d.JSON = append([]byte(nil), raw...)
		if _, tmErr := typeMeta(d); tmErr != nil {
			if err := r.skip(tmErr, false); err != nil {
				return err
			}
			continue
		}
		if err := r.add(d); err != nil {
			return err
		}
	}
	return nil
}

// add hands a document that holds an object to r.each, or appends it to r.docs.
func (r *reader) add(d *Document) error {
	r.seq++
	d.seq = r.seq
	if r.each != nil {
		return r.each(d)
	}
	r.docs = append(r.docs, d)
	return nil
}

// isKustomize reports an apiVersion of kustomize's own kinds (Kustomization, Component),
// which kustomize reads and the apiserver never sees.
func isKustomize(apiVersion string) bool {
	return strings.HasPrefix(apiVersion, "kustomize.config.k8s.io/")
}

// typeMeta fills d.APIVersion and d.Kind from d.JSON and returns the object's fields.
func typeMeta(d *Document) (map[string]json.RawMessage, *Error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(d.JSON, &fields); err != nil {
		return nil, docError(d, 0, err)
	}
	var missing []string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"apiVersion", &d.APIVersion}, {"kind", &d.Kind}} {
		raw, ok := fields[f.name]
		if !ok || string(raw) == "null" || string(raw) == `""` {
			missing = append(missing, f.name)
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return nil, docError(d, LineOf(d, f.name), fmt.Errorf("%s must be a string, found %s", f.name, raw))
		}
	}
	switch len(missing) {
	case 1:
		return nil, docError(d, 0, fmt.Errorf("not a Kubernetes object: %s is missing", missing[0]))
	case 2:
		return nil, docError(d, 0, errors.New("not a Kubernetes object: apiVersion and kind are missing"))
	}
	return fields, nil
}
