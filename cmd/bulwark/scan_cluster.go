package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bulwark-k8s/bulwark/pkg/audit"
	"github.com/bulwark-k8s/bulwark/pkg/images"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/scan"
)

// defaultBulwarkNamespace is the namespace the Helm chart and the kustomize install use. A
// laptop cannot know where Bulwark runs, so `bulwark scan --cluster` assumes it, as the webhook
// exempts its own namespace.
const defaultBulwarkNamespace = "bulwark-system"

// clusterFlags are the flags of bulwark scan --cluster.
type clusterFlags struct {
	enabled          bool
	kubeconfig       string
	context          string
	namespace        string
	bulwarkNamespace string

	// Set by bulwark scan from the flags the cluster scan shares with the file scan.
	skip         map[string]bool // --skip-check
	failuresOnly bool            // --failures-only
}

// clusterOnly are the flags that mean something with --cluster only.
var clusterOnly = []string{"kubeconfig", "context", "namespace", "n", "bulwark-namespace"}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "cluster", false, "scan what runs in the cluster of the kubeconfig instead of files")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "with --cluster: the kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&c.context, "context", "", "with --cluster: the kubeconfig context (default the current context)")
	fs.StringVar(&c.namespace, "namespace", "", "with --cluster: scan this namespace only (default every namespace)")
	fs.StringVar(&c.namespace, "n", "", "with --cluster: short for --namespace")
	fs.StringVar(&c.bulwarkNamespace, "bulwark-namespace", defaultBulwarkNamespace, "with --cluster: the namespace Bulwark is installed in, exempt as the webhook exempts its own; empty for none")
}

// misused returns the first flag set that needs --cluster when --cluster is not given.
func (c *clusterFlags) misused(fs *flag.FlagSet) string {
	if c.enabled {
		return ""
	}
	var name string
	fs.Visit(func(f *flag.Flag) {
		for _, n := range clusterOnly {
			if f.Name == n && name == "" {
				name = f.Name
			}
		}
	})
	return name
}

// target is the cluster a scan reads, as the kubeconfig names it.
type target struct {
	reader client.Reader
	// context and server name the cluster; kubeconfig names the files the configuration came
	// from, for messages.
	context, server, kubeconfig string
}

// describe names the cluster in messages: `context "prod" (server https://10.0.0.1:6443,
// kubeconfig /home/me/.kube/config)`.
func (t *target) describe() string {
	var parts []string
	if t.server != "" {
		parts = append(parts, "server "+t.server)
	}
	if t.kubeconfig != "" {
		parts = append(parts, "kubeconfig "+t.kubeconfig)
	}
	s := "context " + fmt.Sprintf("%q", t.context)
	if t.context == "" {
		s = "the cluster"
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}

// connect builds a client from the kubeconfig with the standard loading rules: --kubeconfig,
// else $KUBECONFIG, else ~/.kube/config (or the in-cluster configuration when there is none).
// Nothing is asked of the apiserver yet. Warnings the apiserver sends go to warn.
func (c *clusterFlags) connect(warn func(string)) (*target, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.kubeconfig
	t := &target{kubeconfig: strings.Join(rules.GetLoadingPrecedence(), string(filepath.ListSeparator))}
	if c.kubeconfig != "" {
		t.kubeconfig = c.kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			raw, rerr := cc.RawConfig()
			switch {
			case rerr == nil && len(raw.Contexts) > 0 && c.context == "":
				names := slices.Sorted(maps.Keys(raw.Contexts))
				return t, fmt.Errorf("kubeconfig %s sets no current context: pick one with --context (%s)", t.kubeconfig, strings.Join(names, ", "))
			case rerr != nil || len(raw.Clusters) == 0:
				return t, fmt.Errorf("no kubeconfig found at %s: give one with --kubeconfig", t.kubeconfig)
			}
		}
		if c.context != "" {
			return t, fmt.Errorf("kubeconfig %s, context %q: %w", t.kubeconfig, c.context, err)
		}
		return t, fmt.Errorf("kubeconfig %s: %w", t.kubeconfig, err)
	}
	t.context, t.server = c.context, cfg.Host
	if raw, err := cc.RawConfig(); err == nil && t.context == "" {
		t.context = raw.CurrentContext
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "bulwark-scan/" + version
	if cfg.QPS == 0 {
		// A namespace is read for each namespace that holds an object; client-go's default of
		// 5 requests a second would make that the slowest part of the scan.
		cfg.QPS, cfg.Burst = 50, 100
	}
	cfg.WarningHandler = warningHandler(warn)
	cl, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return t, fmt.Errorf("%s: %w", t.describe(), err)
	}
	t.reader = cl
	return t, nil
}

// warningHandler passes the apiserver's warnings (deprecations) to a function.
type warningHandler func(string)

func (w warningHandler) HandleWarningHeader(code int, _ string, text string) {
	if code == 299 && text != "" {
		w("bulwark scan: warning from the apiserver: " + text)
	}
}

// namespaceLabels reads each namespace's labels once. When the user may not get namespaces,
// it warns once and carries on without labels: the namespace rules that select by label and
// the bulwark.dev/mode label then do not apply.
func namespaceLabels(r client.Reader, warn func(string)) func(context.Context, string) (map[string]string, error) {
	seen := map[string]map[string]string{}
	forbidden := false
	return func(ctx context.Context, name string) (map[string]string, error) {
		if l, ok := seen[name]; ok || forbidden {
			return l, nil
		}
		var ns corev1.Namespace
		err := r.Get(ctx, types.NamespacedName{Name: name}, &ns)
		switch {
		case apierrors.IsForbidden(err):
			forbidden = true
			warn(fmt.Sprintf("bulwark scan: warning: namespace labels unknown, namespace rules that select namespaces by label and the %s label were not applied: %v", policy.ModeLabel, err))
			return nil, nil
		case err != nil && !apierrors.IsNotFound(err):
			return nil, err
		}
		seen[name] = ns.Labels
		return ns.Labels, nil
	}
}

// scanCluster runs `bulwark scan --cluster`: the audit the webhook runs, once, from a
// kubeconfig, with the report written only when every kind was read.
// With lookups (--resolve-images), each object's notes say what the mutating webhook would
// say of its images, looked up with the local Docker configuration's credentials only.
func scanCluster(c *clusterFlags, snap *policy.Snapshot, lookups *images.Resolver, format scan.Format, stdout, stderr io.Writer) int {
	return scanClusterWith(c, snap, lookups, format, stdout, stderr, newProgress(stderr, isTerminal(stderr)))
}

func scanClusterWith(c *clusterFlags, snap *policy.Snapshot, lookups *images.Resolver, format scan.Format, stdout, stderr io.Writer, prog *progress) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// controller-runtime logs nothing the user needs (errors come back from the calls); a
	// logger is set so that it does not complain that none was.
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logr.Discard()) })

	// Warnings come from the client's goroutines as well as this one.
	var mu sync.Mutex
	warn := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		prog.warn(msg)
	}
	t, err := c.connect(warn)
	if err != nil {
		fmt.Fprintf(stderr, "bulwark scan: %v\n", err)
		return exitUsage
	}
	var results []scan.Result
	cl := &scan.Cluster{Context: t.context, Server: t.server, Namespace: c.namespace}
	// The results of one kind share their Document, which says only where and what they are.
	docs := map[schema.GroupKind]*scan.Document{}
	stats, err := audit.Run(ctx, audit.Options{
		Reader:          t.reader,
		Policy:          snap,
		OwnNamespace:    c.bulwarkNamespace,
		Namespace:       c.namespace,
		NamespaceLabels: namespaceLabels(t.reader, warn),
		Progress: func(p audit.Progress) {
			mu.Lock()
			defer mu.Unlock()
			prog.update(p)
		},
	}, func(o *audit.Object) error {
		notes := o.Notes
		if lookups != nil && o.Pod != nil {
			more, err := imageNotes(ctx, lookups, o.Pod, o.Mutation)
			if err != nil {
				return fmt.Errorf("%s %s/%s: %w", o.GroupKind.Kind, o.Namespace, o.Name, err)
			}
			notes = append(slices.Clip(notes), more...)
		}
		doc := docs[o.GroupKind]
		if doc == nil || doc.APIVersion != o.APIVersion {
			doc = cl.Document(o.APIVersion, o.GroupKind.Kind)
			docs[o.GroupKind] = doc
		}
		results = append(results, scan.Result{
			Doc:  doc,
			Name: o.Name, Namespace: o.Namespace, UID: string(o.UID),
			Violations: withoutChecks(o.Violations, c.skip), Exempt: o.Exempt, Notes: notes,
		})
		return nil
	})
	mu.Lock()
	if err != nil {
		prog.abort()
	} else {
		prog.finish()
	}
	mu.Unlock()
	if err != nil {
		fmt.Fprintf(stderr, "bulwark scan: %s: %v\n", t.describe(), err)
		if apierrors.IsForbidden(err) {
			fmt.Fprintf(stderr, "bulwark scan: the scan lists %s %s; get on namespaces is optional\n",
				strings.Join(auditResources(), ", "), scope(c.namespace))
		}
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "bulwark scan: interrupted")
		}
		fmt.Fprintln(stderr, "bulwark scan: no report: the scan did not read every object")
		return exitUsage
	}
	if stats.RBACSkipped != "" {
		fmt.Fprintf(stderr, "bulwark scan: the access-control checks did not run (they list roles, clusterroles, rolebindings and clusterrolebindings): %s\n", stats.RBACSkipped)
	}
	if stats.NamespacesSkipped != "" {
		fmt.Fprintf(stderr, "bulwark scan: the namespace checks did not run (they list namespaces, resourcequotas, limitranges and networkpolicies): %s\n", stats.NamespacesSkipped)
	}
	totals := stats.Totals()
	cl.Read, cl.Evaluated, cl.Exempt, cl.Owned = stats.Total(), totals.Evaluated, totals.Exempt, totals.Owned
	return writeReport(stdout, stderr, results, func(w io.Writer) error {
		return format.Write(w, scan.Report{Results: results, Cluster: cl, Version: version, FailuresOnly: c.failuresOnly})
	})
}

var setLoggerOnce sync.Once

// auditResources are the resources a scan lists, in the order it lists them.
func auditResources() []string {
	var out []string
	for _, k := range audit.Kinds() {
		out = append(out, k.Resource)
	}
	return out
}

func scope(namespace string) string {
	if namespace == "" {
		return "in every namespace"
	}
	return fmt.Sprintf("in namespace %q", namespace)
}
