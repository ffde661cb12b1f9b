package mutate

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Names of the mutation defaults, as used in policies, in Change.Default and in Options.Set.
const (
	Seccomp                      = "seccomp"
	PrivilegeEscalation          = "privilege-escalation"
	DropCapabilities             = "drop-capabilities"
	RunAsNonRoot                 = "run-as-non-root"
	ReadOnlyRootFilesystem       = "read-only-root-filesystem"
	Resources                    = "resources"
	AutomountServiceAccountToken = "automount-service-account-token"
	PinDigests                   = "pin-digests"
)

// Names lists every mutation default in the fixed order in which they are applied.
func Names() []string {
	out := make([]string, len(defaults))
	for i, d := range defaults {
		out[i] = d.name
	}
	return out
}

// Quantities is one cpu and one memory quantity. A zero quantity disables that one value.
type Quantities struct {
	CPU, Memory resource.Quantity
}

// Options says which mutation defaults are on and with which values.
type Options struct {
	Seccomp                      bool
	PrivilegeEscalation          bool
	DropCapabilities             bool
	RunAsNonRoot                 bool
	ReadOnlyRootFilesystem       bool
	Resources                    bool
	AutomountServiceAccountToken bool
	// PinDigests pins each container image to the digest its reference points at, which
	// needs the images looked up (Target.Images).
	PinDigests bool

	// Requests and Limits are the values the resources default sets when a container has
	// none. A zero quantity (resource.Quantity{}) leaves that request or limit alone.
	Requests, Limits Quantities

	// RunAsUser, when positive, is the uid run-as-non-root gives a pod it would otherwise
	// hold back because an image runs as root, as a name, or could not be looked up
	// (Target.Images): the pod's securityContext.runAsUser, so that runAsNonRoot holds.
	RunAsUser int64
}

// NSADefaults returns the defaults of the nsa profile: seccomp, privilege-escalation,
// drop-capabilities, run-as-non-root and resources on (requests cpu 100m, memory 128Mi;
// limits cpu 500m, memory 512Mi); read-only-root-filesystem,
// automount-service-account-token and pin-digests off.
func NSADefaults() Options {
	return Options{
		Seccomp:             true,
		PrivilegeEscalation: true,
		DropCapabilities:    true,
		RunAsNonRoot:        true,
		Resources:           true,
		Requests:            Quantities{CPU: resource.MustParse("100m"), Memory: resource.MustParse("128Mi")},
		Limits:              Quantities{CPU: resource.MustParse("500m"), Memory: resource.MustParse("512Mi")},
	}
}

// Set turns the default called name on or off.
func (o *Options) Set(name string, on bool) error {
	for _, d := range defaults {
		if d.name == name {
			*d.flag(o) = on
			return nil
		}
	}
	return fmt.Errorf("unknown mutation default %q", name)
}

// Enabled reports whether the default called name is on (false for an unknown name).
func (o *Options) Enabled(name string) bool {
	for _, d := range defaults {
		if d.name == name {
			return *d.flag(o)
		}
	}
	return false
}
