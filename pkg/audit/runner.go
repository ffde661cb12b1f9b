package audit

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/metrics"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

// RunnerOptions configure the audit loop of `bulwark serve`.
type RunnerOptions struct {
	// Reader lists the objects, and the metadata of Bulwark's PolicyReports (the manager's API
	// reader: paged reads from the apiserver).
	Reader client.Reader
	// Client writes PolicyReports; nil writes none.
	Client client.Client
	// ReportScope is what one PolicyReport covers (default ScopeResource).
	ReportScope ReportScope
	// Policy is the policy in force; a change starts an audit PolicyChangeDelay later.
	Policy       policy.Source
	OwnNamespace string
	// Interval between audits (the first one runs at start).
	Interval time.Duration
	// PolicyChangeDelay is how long after a policy change the audit starts (default 5s), so
	// that a burst of edits causes one audit.
	PolicyChangeDelay time.Duration
	// NamespaceLabels returns a namespace's labels (the manager's namespace cache).
	NamespaceLabels func(ctx context.Context, name string) (map[string]string, error)
	// MaxNamespaces caps the namespaces named in bulwark_audit_violations (default 50); the
	// others are summed under "_other".
	MaxNamespaces int
	Metrics       metrics.AuditRecorder
	// Events, when set, records a Warning Event on each violating object (deduplicated, and
	// at most MaxEvents per audit).
	Events recorder.EventRecorder
	// MaxEvents bounds the Events of one audit (default 100).
	MaxEvents int
	// PageSize is the list page size (default 500).
	PageSize int64
	Log      logr.Logger
}

// Runner audits the cluster on a schedule. It is a controller-runtime Runnable that runs on
// the elected leader only.
type Runner struct {
	o      RunnerOptions
	events *eventDeduper
	// reportsMissing remembers that the PolicyReport CRD was absent, to say so once.
	reportsMissing bool
}

// NewRunner returns a Runner; Start runs it.
func NewRunner(o RunnerOptions) *Runner {
	if o.PolicyChangeDelay <= 0 {
		o.PolicyChangeDelay = 5 * time.Second
	}
	if o.MaxNamespaces <= 0 {
		o.MaxNamespaces = 50
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 100
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NopAudit{}
	}
	if o.ReportScope == "" {
		o.ReportScope = ScopeResource
	}
	return &Runner{o: o, events: newEventDeduper()}
}

// NeedLeaderElection makes the audit run on one replica at a time.
func (r *Runner) NeedLeaderElection() bool { return true }

// Start audits at once, then every Interval and PolicyChangeDelay after each policy change,
// until ctx ends. A failed audit is logged and counted, and retried after a minute (or the
// interval, if shorter).
func (r *Runner) Start(ctx context.Context) error {
	const policyPoll = time.Second
	poll := time.NewTicker(policyPoll)
	defer poll.Stop()
	next := time.NewTimer(0)
	defer next.Stop()
	var audited *policy.Snapshot
	changePending := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			if cur := r.o.Policy.Current(); audited != nil && cur != audited && !changePending {
				changePending = true
				r.o.Log.Info("policy changed; auditing soon", "hash", cur.Hash, "in", r.o.PolicyChangeDelay.String())
				resetTimer(next, r.o.PolicyChangeDelay)
			}
		case <-next.C:
			snap := r.o.Policy.Current()
			changePending = false
			_, err := r.RunOnce(ctx, snap)
			wait := r.o.Interval
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				wait = min(wait, time.Minute)
			}
			audited = snap
			resetTimer(next, wait)
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

// Summary is what one audit found.
type Summary struct {
	Stats Stats
	// Violations counts violating objects by namespace (before the metric's cap).
	Violations map[string]int
	// Reports is the number of PolicyReports up to date after the audit (written, or left
	// alone because their content did not change); -1 when the CRD is not installed or reports
	// are off.
	Reports int
	// Events is the number of Events recorded.
	Events int
	Took   time.Duration
}

// RunOnce audits the cluster with snap and publishes the results.
func (r *Runner) RunOnce(ctx context.Context, snap *policy.Snapshot) (Summary, error) {
	start := time.Now()
	log := r.o.Log.WithValues("policyHash", snap.Hash)
	c := newCollector(start, r.o.ReportScope)
	budget := r.o.MaxEvents
	stats, err := Run(ctx, Options{
		Reader: r.o.Reader, Policy: snap, OwnNamespace: r.o.OwnNamespace, PageSize: r.o.PageSize,
		NamespaceLabels: r.o.NamespaceLabels,
	}, func(o *Object) error {
		c.add(o)
		if r.o.Events != nil && len(o.Violations) > 0 && r.events.due(o, start, budget > 0) {
			budget--
			r.o.Events.Eventf(objectRef(o), nil, "Warning", ReasonPolicyViolation, "Audit", "%s", eventNote(o))
		}
		return nil
	})
	sum := Summary{Stats: stats, Violations: c.violatingObjects, Reports: -1, Events: r.o.MaxEvents - budget}
	if err != nil {
		sum.Took = time.Since(start)
		r.o.Metrics.AuditFinished(metrics.AuditError, sum.Took)
		log.Error(err, "audit failed", "objectsRead", stats.Total(), "took", sum.Took.String())
		return sum, err
	}
	r.events.forgetUnseen(start)
	r.o.Metrics.AuditPublished(time.Now(), objectCounts(stats), capNamespaces(c.violations, c.violatingObjects, r.o.MaxNamespaces))
	if r.o.Client != nil {
		n, err := r.writeReports(ctx, c)
		if err != nil {
			// The audit itself completed: its metrics are published; the reports are retried
			// at the next audit.
			log.Error(err, "writing PolicyReports")
		}
		sum.Reports = n
	}
	sum.Took = time.Since(start)
	r.o.Metrics.AuditFinished(metrics.AuditSuccess, sum.Took)
	t := stats.Totals()
	log.Info("audit completed", "objectsRead", stats.Total(), "evaluated", t.Evaluated,
		"violating", t.Violating, "exempt", t.Exempt, "owned", t.Owned,
		"reports", sum.Reports, "events", sum.Events, "took", sum.Took.String())
	return sum, nil
}

func objectCounts(s Stats) map[metrics.AuditObjects]int {
	out := map[metrics.AuditObjects]int{}
	kinds := []string{NamespaceKind.Kind}
	for _, k := range Kinds() {
		kinds = append(kinds, k.Kind)
	}
	for _, k := range rbacspec.All() {
		kinds = append(kinds, k.Kind)
	}
	for _, k := range kinds {
		pass := s.Evaluated[k] - s.Violating[k]
		for result, n := range map[string]int{
			metrics.ObjectPass: pass, metrics.ObjectFail: s.Violating[k],
			metrics.ObjectExempt: s.Exempt[k], metrics.ObjectOwned: s.Owned[k],
		} {
			out[metrics.AuditObjects{Kind: k, Result: result}] = n
		}
	}
	return out
}

// checkAction keys violation counts.
type checkAction struct {
	check  string
	action checks.Action
}

// collector gathers what the metrics and the reports need while the audit streams objects:
// counts per namespace, and the reports of the scope (at most maxReportResults results each).
type collector struct {
	at               time.Time
	scope            ReportScope
	violations       map[string]map[checkAction]int // namespace -> (check, action) -> violating objects
	violatingObjects map[string]int                 // namespace -> violating objects
	reports          map[reportKey]*policyReport
}

func newCollector(at time.Time, scope ReportScope) *collector {
	return &collector{
		at: at, scope: scope, violations: map[string]map[checkAction]int{}, violatingObjects: map[string]int{},
		reports: map[reportKey]*policyReport{},
	}
}

func (c *collector) add(o *Object) {
	if o.Exempt != "" {
		return
	}
	home := o.home()
	switch {
	case c.scope == ScopeNamespace:
		key := reportKey{home, ReportName}
		rep := c.reports[key]
		if rep == nil {
			rep = &policyReport{}
			c.reports[key] = rep
		}
		rep.add(o)
	case len(o.Violations) > 0:
		// The scope keeps the object's identity only: the Object itself is the audit's.
		rep := &policyReport{scope: idOf(o)}
		c.reports[reportKey{home, ResourceReportName(o)}] = rep
		rep.add(o)
	}
	if len(o.Violations) == 0 {
		return
	}
	c.violatingObjects[home]++
	byCheck := c.violations[home]
	if byCheck == nil {
		byCheck = map[checkAction]int{}
		c.violations[home] = byCheck
	}
	// An object counts once per check and action, however many fields violate it.
	seen := make(map[checkAction]bool, len(o.Violations))
	for _, v := range o.Violations {
		k := checkAction{v.Check, v.Action}
		if !seen[k] {
			seen[k] = true
			byCheck[k]++
		}
	}
}

// capNamespaces turns the per-namespace counts into metric series, naming the max namespaces
// with the most violating objects (ties by name) and summing the rest under "_other".
func capNamespaces(perNS map[string]map[checkAction]int, objects map[string]int, max int) map[metrics.AuditViolations]int {
	names := make([]string, 0, len(perNS))
	for ns := range perNS {
		names = append(names, ns)
	}
	sort.Slice(names, func(i, j int) bool {
		if objects[names[i]] != objects[names[j]] {
			return objects[names[i]] > objects[names[j]]
		}
		return names[i] < names[j]
	})
	out := map[metrics.AuditViolations]int{}
	for i, ns := range names {
		label := ns
		if i >= max {
			label = metrics.OtherNamespaces
		}
		for k, n := range perNS[ns] {
			out[metrics.AuditViolations{Namespace: label, Check: k.check, Action: string(k.action)}] += n
		}
	}
	return out
}

// String renders a Summary for logs and tests.
func (s Summary) String() string {
	t := s.Stats.Totals()
	return fmt.Sprintf("%d objects read (%d evaluated, %d violating, %d exempt, %d owned), %d reports, %d events, %s",
		s.Stats.Total(), t.Evaluated, t.Violating, t.Exempt, t.Owned, s.Reports, s.Events, s.Took)
}
