package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Suite is what a test package's TestMain prepares once for all its tests: a scratch
// directory, and what is built and started in it. What was started is stopped, last first,
// once the tests have run, and the directory is removed.
type Suite struct {
	// Dir is the scratch directory.
	Dir string

	failed   bool
	cleanups []func() error
}

// Main is a test package's TestMain: it runs setup, then the tests, then the suite's
// clean-ups, and exits. Errors of setup and of the clean-ups are printed on standard error
// after name (the package) and make the run fail.
func Main(m *testing.M, name string, setup func(*Suite) error) {
	os.Exit(run(m, name, setup))
}

func run(m *testing.M, name string, setup func(*Suite) error) int {
	s := &Suite{}
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		s.failed = true
	}
	dir, err := os.MkdirTemp("", "bulwark-"+name+"-")
	if err != nil {
		fail(err)
		return 1
	}
	s.Dir = dir
	s.Defer(func() error { _ = os.RemoveAll(dir); return nil })
	if err := setup(s); err != nil {
		fail(err)
	} else if m.Run() != 0 {
		s.failed = true
	}
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		if err := s.cleanups[i](); err != nil {
			fail(err)
		}
	}
	if s.failed {
		return 1
	}
	return 0
}

// Defer runs f once the tests have run, before what was deferred earlier; an error fails
// the run.
func (s *Suite) Defer(f func() error) { s.cleanups = append(s.cleanups, f) }

// Failed reports whether the run has failed so far: the setup, a test or a clean-up. A
// clean-up uses it to say more (logs) only when something went wrong.
func (s *Suite) Failed() bool { return s.failed }

// BuildBulwark builds the bulwark executable under test into the suite's directory.
func (s *Suite) BuildBulwark() (string, error) { return BuildBulwark(s.Dir) }

// Start is Start, stopped once the tests have run.
func (s *Suite) Start(o Options) (*Cluster, error) {
	return s.stopped(Start(o))
}

// StartControlPlane is StartControlPlane, stopped once the tests have run.
func (s *Suite) StartControlPlane(crds ...string) (*Cluster, error) {
	return s.stopped(StartControlPlane(crds...))
}

func (s *Suite) stopped(c *Cluster, err error) (*Cluster, error) {
	if err != nil {
		return nil, err
	}
	// Best effort, as removing the directory: a control plane that stops badly fails no run.
	s.Defer(func() error { _ = c.Stop(); return nil })
	return c, nil
}

// Kubeconfig writes an admin kubeconfig for c into the suite's directory and returns its path.
func (s *Suite) Kubeconfig(c *Cluster) (string, error) {
	path := filepath.Join(s.Dir, "kubeconfig")
	if err := c.WriteKubeconfig(path); err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return path, nil
}
