package scan

import (
	"io"
	"strings"
)

// Format is a report format, as `bulwark scan -o NAME` names it.
type Format struct {
	Name string
	// Write writes the report of results. c is the cluster they were read from, nil for
	// files; version is Bulwark's, for formats that name the tool.
	Write func(w io.Writer, results []Result, c *Cluster, version string) error
}

// Formats lists the report formats, the default first.
var Formats = []Format{
	{Name: "text", Write: func(w io.Writer, rs []Result, c *Cluster, _ string) error { return writeText(w, rs, c) }},
	{Name: "json", Write: func(w io.Writer, rs []Result, c *Cluster, _ string) error { return writeJSON(w, rs, c) }},
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
