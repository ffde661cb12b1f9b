package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Back-off between two campaigns for the Lease: the first wait, doubled after each term that
// ends without having led, up to the longest.
const (
	leaderBackoff    = time.Second
	leaderMaxBackoff = 30 * time.Second
)

// leaderOptions configure the leader-only work.
type leaderOptions struct {
	RestConfig *rest.Config
	// Lease is the Lease the replicas compete for.
	Lease types.NamespacedName
	// Cache scopes the cache of each term's manager (the objects its controllers watch).
	Cache cache.Options
	// Mapper, when set, is the RESTMapper of each term's manager: the serving manager's, which
	// already knows the kinds involved. A cache scoped by namespace asks the RESTMapper at
	// creation whether each kind is namespaced: a mapper of its own would ask the apiserver,
	// and a term could not even be created while the apiserver is unreachable.
	Mapper meta.RESTMapper
	// Setup adds the leader-only work to a term's manager: controllers and runnables that
	// need leader election. It runs once per term.
	Setup func(manager.Manager) error
	// ShutdownTimeout is how long the leader-only work gets to stop when the process shuts
	// down, before the Lease is released.
	ShutdownTimeout time.Duration
	// Backoff is the first wait before campaigning again (leaderBackoff when zero).
	Backoff time.Duration
	// LeaseDuration, RenewDeadline and RetryPeriod time the election; controller-runtime's
	// defaults (15s, 10s, 2s) when zero.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       logr.Logger
}

// leaderElection runs the leader-only work in a manager of its own, apart from the manager
// that serves: controller-runtime's manager ends its Start with "leader election lost" when it
// cannot renew its Lease (the apiserver unreachable for the renew deadline), and offers no way
// to step down and campaign again. So each term is a new manager, with leader election and
// nothing else (no metrics, probes or webhook server): when it ends while the process is not
// shutting down, its work is stopped, the end is logged, and after a back-off a fresh manager
// campaigns again. The serving manager, and with it the webhook, keeps running throughout.
// A clean shutdown releases the Lease at once (LeaderElectionReleaseOnCancel).
//
// It is a Runnable of the serving manager that needs no leader election itself.
type leaderElection struct {
	o     leaderOptions
	first *term // built by newLeaderElection, so that a wrong configuration fails at start
}

func newLeaderElection(o leaderOptions) (*leaderElection, error) {
	if o.Backoff <= 0 {
		o.Backoff = leaderBackoff
	}
	l := &leaderElection{o: o}
	t, err := l.newTerm()
	if err != nil {
		return nil, err
	}
	l.first = t
	return l, nil
}

// NeedLeaderElection: the campaign itself runs on every replica.
func (l *leaderElection) NeedLeaderElection() bool { return false }

// Start campaigns for the Lease until ctx ends, a new term after each one that ends.
func (l *leaderElection) Start(ctx context.Context) error {
	lease := l.o.Lease.String()
	wait := l.o.Backoff
	t := l.first
	l.first = nil
	for {
		var err error
		if t == nil {
			if t, err = l.newTerm(); err != nil {
				l.o.Log.Error(err, "cannot campaign for the Lease; trying again", "lease", lease, "retryIn", wait.String())
			}
		}
		led := false
		if t != nil {
			err = t.Start(ctx)
			if ctx.Err() != nil {
				return err // the process shuts down: the manager has stopped its work and released the Lease
			}
			// The manager returns at once when its leadership is lost, without waiting for the
			// work it was told to stop: the next term begins only once all of it has returned.
			t.end()
			if led = t.led(); led {
				wait = l.o.Backoff
			}
			if err == nil {
				err = errors.New("its manager stopped")
			}
			l.o.Log.Error(err, "leader-only work stopped; this replica keeps serving and campaigns again for the Lease",
				"lease", lease, "led", led, "retryIn", wait.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if !led {
			wait = min(2*wait, leaderMaxBackoff)
		}
		t = nil
	}
}

// newTerm builds the manager of the next term and adds the leader-only work to it.
func (l *leaderElection) newTerm() (*term, error) {
	timeout := l.o.ShutdownTimeout
	opts := ctrl.Options{
		Cache:                         l.o.Cache,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		GracefulShutdownTimeout:       &timeout,
		LeaderElection:                true,
		LeaderElectionID:              l.o.Lease.Name,
		LeaderElectionNamespace:       l.o.Lease.Namespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 nonZero(l.o.LeaseDuration),
		RenewDeadline:                 nonZero(l.o.RenewDeadline),
		RetryPeriod:                   nonZero(l.o.RetryPeriod),
		// Each term's controllers bear the names of the previous term's.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:     l.o.Log,
	}
	if l.o.Mapper != nil {
		opts.MapperProvider = func(*rest.Config, *http.Client) (meta.RESTMapper, error) { return l.o.Mapper, nil }
	}
	mgr, err := ctrl.NewManager(l.o.RestConfig, opts)
	if err != nil {
		return nil, fmt.Errorf("leader election (Lease %s): creating its manager: %w", l.o.Lease, err)
	}
	t := &term{Manager: mgr}
	if err := l.o.Setup(t); err != nil {
		return nil, fmt.Errorf("leader election (Lease %s): %w", l.o.Lease, err)
	}
	return t, nil
}

// nonZero is d, or nil when d is zero (the default).
func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}

// term is the manager of one term. Whatever is added to it is tracked, so that end can wait
// until all of it has returned.
type term struct {
	manager.Manager

	mu      sync.Mutex
	over    bool
	running sync.WaitGroup
}

// Add adds r, tracked.
func (t *term) Add(r manager.Runnable) error {
	return t.Manager.Add(&tracked{Runnable: r, term: t})
}

// end waits until every runnable the manager started has returned; none starts afterwards.
func (t *term) end() {
	t.mu.Lock()
	t.over = true
	t.mu.Unlock()
	t.running.Wait()
}

// led reports whether the manager won the Lease.
func (t *term) led() bool {
	select {
	case <-t.Elected():
		return true
	default:
		return false
	}
}

// tracked is a runnable of a term.
type tracked struct {
	manager.Runnable
	term *term
}

// NeedLeaderElection is the runnable's own answer; true when it gives none, as for the manager.
func (r *tracked) NeedLeaderElection() bool {
	if le, ok := r.Runnable.(manager.LeaderElectionRunnable); ok {
		return le.NeedLeaderElection()
	}
	return true
}

func (r *tracked) Start(ctx context.Context) error {
	r.term.mu.Lock()
	if r.term.over {
		r.term.mu.Unlock()
		return nil
	}
	r.term.running.Add(1)
	r.term.mu.Unlock()
	defer r.term.running.Done()
	return r.Runnable.Start(ctx)
}
