package scan

import (
	"io"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
)

// SARIF 2.1.0, the subset GitHub code scanning reads.
const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations,omitempty"`
	Results     []sarifResult     `json:"results"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool                `json:"executionSuccessful"`
	Notifications       []sarifNotification `json:"toolExecutionNotifications"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name    string      `json:"name"`
	Version string      `json:"version,omitempty"`
	Rules   []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string              `json:"id"`
	ShortDescription     sarifText           `json:"shortDescription"`
	FullDescription      sarifText           `json:"fullDescription"`
	HelpURI              string              `json:"helpUri"`
	Help                 sarifHelp           `json:"help"`
	DefaultConfiguration sarifRuleConfig     `json:"defaultConfiguration"`
	Properties           sarifRuleProperties `json:"properties"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifRuleProperties struct {
	Tags []string `json:"tags"`
	// SecuritySeverity is the score GitHub code scanning ranks security alerts by.
	SecuritySeverity string `json:"security-severity"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex *int            `json:"ruleIndex,omitempty"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation  `json:"physicalLocation"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations,omitempty"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	// Region is nil for an object of a cluster, which has no lines.
	Region *sarifRegion `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogicalLocation struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind,omitempty"`
}

// WriteSARIF writes the report as SARIF 2.1.0 for GitHub code scanning: one run of the tool
// "bulwark" (at version, omitted when empty) whose rules are every registered check, and one
// result per violation, located at the field's line in its source file and named by its
// object (in the message, and as a logical location beside the field's). Objects without
// violations produce no result.
func WriteSARIF(w io.Writer, results []Result, version string) error {
	return writeSARIF(w, Report{Results: results, Version: version})
}

// writeSARIF writes the SARIF log. What was not read is told as tool execution
// notifications of the run's invocation, warnings but for Known files (notes).
func writeSARIF(w io.Writer, rep Report) error {
	results, c, version := rep.Results, rep.Cluster, rep.Version
	all := checks.All()
	index := make(map[string]int, len(all))
	rules := make([]sarifRule, 0, len(all))
	for i, c := range all {
		index[c.ID] = i
		rules = append(rules, newSARIFRule(c))
	}
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "bulwark", Version: version, Rules: rules}},
		Results: []sarifResult{},
	}
	if len(rep.Unread) > 0 {
		inv := sarifInvocation{ExecutionSuccessful: true}
		for _, u := range rep.Unread {
			n := sarifNotification{Level: "warning", Message: sarifText{Text: u.Err.Error()}}
			if u.Known {
				n.Level = "note"
			}
			loc := sarifLocation{PhysicalLocation: sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: sarifURI(u.Source)}}}
			if u.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: u.Line}
			}
			n.Locations = []sarifLocation{loc}
			inv.Notifications = append(inv.Notifications, n)
		}
		run.Invocations = []sarifInvocation{inv}
	}
	return writeIndentedArray(w, sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}, "      ", "results", func(yield func(any) error) error {
		for _, r := range results {
			if err := sarifResults(r, c, index, yield); err != nil {
				return err
			}
		}
		return nil
	})
}

// sarifResults yields the SARIF results of r, one per violation; c is the cluster r was read
// from (nil for files), index the place of each check among the rules.
func sarifResults(r Result, c *Cluster, index map[string]int, yield func(any) error) error {
	uri := sarifURI(r.Doc.Source)
	if c != nil {
		uri = c.objectURI(r)
	}
	object := sarifLogicalLocation{FullyQualifiedName: sarifObjectName(r), Kind: "object"}
	for _, v := range r.Violations {
		res := sarifResult{
			RuleID:  v.Check,
			Level:   sarifLevel(v.Action),
			Message: sarifText{Text: r.Object() + ": " + strings.TrimSuffix(v.Message, ".") + ". Fix: " + v.Fix},
			Locations: []sarifLocation{{
				PhysicalLocation: sarifPhysicalLocation{
					ArtifactLocation: sarifArtifactLocation{URI: uri},
				},
				LogicalLocations: []sarifLogicalLocation{{FullyQualifiedName: v.Field}, object},
			}},
		}
		if c == nil {
			res.Locations[0].PhysicalLocation.Region = &sarifRegion{StartLine: max(LineOf(r.Doc, v.Field), 1)}
		}
		if i, ok := index[v.Check]; ok {
			res.RuleIndex = &i
		}
		if err := yield(res); err != nil {
			return err
		}
	}
	return nil
}

// sarifObjectName names the object of r as a logical location: kind, namespace when set, and
// name ("Deployment/shop/web", "Pod/job-*" for a generateName, "Pod/(no name)").
func sarifObjectName(r Result) string {
	name := r.Name
	if name == "" {
		name = "(no name)"
	}
	if r.Namespace != "" {
		return r.Doc.Kind + "/" + r.Namespace + "/" + name
	}
	return r.Doc.Kind + "/" + name
}

// checksDocURL is docs/checks.md, where each check's table row carries an anchor named by
// its ID.
const checksDocURL = "https://github.com/bulwark-k8s/bulwark/blob/main/docs/checks.md"

// newSARIFRule describes check c: its summary, its entry in docs/checks.md, its level in the
// default profile (nsa), and its security severity.
func newSARIFRule(c checks.Check) sarifRule {
	uri := checksDocURL + "#" + c.ID
	level := sarifLevel(c.Profiles.NSA)
	if c.Profiles.NSA == "" || c.Profiles.NSA == checks.Off {
		level = "none"
	}
	return sarifRule{
		ID:               c.ID,
		ShortDescription: sarifText{Text: c.Summary},
		FullDescription:  sarifText{Text: c.Summary},
		HelpURI:          uri,
		Help: sarifHelp{
			Text:     c.Summary + " See " + uri,
			Markdown: c.Summary + "\n\nSee [" + c.ID + "](" + uri + ") in the Bulwark check catalog.",
		},
		DefaultConfiguration: sarifRuleConfig{Level: level},
		Properties: sarifRuleProperties{
			Tags:             []string{"security", "kubernetes", string(c.Category)},
			SecuritySeverity: securitySeverity(c),
		},
	}
}

// securitySeverity is the score GitHub code scanning ranks check c's alerts by
// (docs/checks.md, "In code scanning"): its severity (checks.Check.Severity) as 8.0 (high),
// 5.5 (medium) or 3.5 (low).
func securitySeverity(c checks.Check) string {
	switch c.Severity() {
	case checks.High:
		return "8.0"
	case checks.Medium:
		return "5.5"
	}
	return "3.5"
}

func sarifLevel(a checks.Action) string {
	switch a {
	case checks.Enforce:
		return "error"
	case checks.Warn:
		return "warning"
	}
	return "note"
}

// sarifURI turns a source path into a URI reference: relative paths stay relative (GitHub
// resolves them against the repository root), slash-separated and percent-encoded; absolute
// paths become file URIs.
func sarifURI(source string) string {
	p := filepath.ToSlash(source)
	if filepath.IsAbs(source) {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // a Windows drive path, C:/x -> /C:/x
		}
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: path.Clean(p)}).String()
}
