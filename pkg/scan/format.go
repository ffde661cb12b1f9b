package scan

import (
	"io"
	"strings"
)

// Format is a report format, as `bulwark scan -o NAME` names it.
type Format struct {
	Name string
	// Write writes the report.
	Write func(w io.Writer, rep Report) error
}

// Report is what a scan found, for a Format to write.
type Report struct {
	Results []Result
	// Unread are the files, documents and List items that held no object to evaluate.
	Unread []Unread
	// FailuresOnly leaves out of the text and JSON reports the objects that are neither
	// denied nor warned; the summary still counts them.
	FailuresOnly bool
	// Cluster is the cluster the results were read from, nil for files.
	Cluster *Cluster
	// Version is Bulwark's, for formats that name the tool.
	Version string
}

// shown is the results the report lists.
func (rep *Report) shown() []Result {
	if !rep.FailuresOnly {
		return rep.Results
	}
	var out []Result
	for _, r := range rep.Results {
		if d := r.Decision(); d == DecisionDenied || d == DecisionWarned {
			out = append(out, r)
		}
	}
	return out
}

// Formats lists the report formats, the default first. For a cluster scan each writes what it
// writes for files, with the cluster in place of the file and line. Text then ends with a
// summary that counts what was read:
//
//	prod: Deployment "shop/web": denied
//	  enforce [host-network] spec.template.spec.hostNetwork: <message>
//	      fix: <fix>
//	prod: Pod "kube-system/kube-proxy-x2x": exempt: namespace "kube-system" is exempt
//	9 objects read from context "prod" (https://10.0.0.1:6443): 1 evaluated (1 denied, 0 with warnings), 1 exempt, 7 counted against their owner
//
// JSON gives each result's source as the cluster (document, item and line 0) with the object's
// uid, and a "cluster" object after the summary: context, server, namespace (when one), read,
// evaluated, exempt, owned. SARIF locates each result at the object's URL on the apiserver (no
// region), and its message names the object.
var Formats = []Format{
	{Name: "text", Write: writeText},
	{Name: "json", Write: writeJSON},
	{Name: "sarif", Write: writeSARIF},
}

// FormatNamed returns the format called name.
func FormatNamed(name string) (Format, bool) {
	for _, f := range Formats {
		if f.Name == name {
			return f, true
		}
	}
	return Format{}, false
}

// FormatNames lists the formats for messages and help: "text, json or sarif".
func FormatNames() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = f.Name
	}
	last := len(names) - 1
	return strings.Join(names[:last], ", ") + " or " + names[last]
}
