package mutate

import (
	"fmt"
	"strconv"
	"strings"
)

// ImageUser is what a lookup of an image reference found in its registry: the User of the
// image's configuration and the digest the reference points at, or why it is not known.
type ImageUser struct {
	// Known is set when the image was looked up.
	Known bool
	// User is the image configuration's User: "", "nginx", "65532:65532".
	User string
	// Digest is the digest of the manifest the reference points at, e.g. sha256:3f5c...: for
	// a multi-platform image, its index's, so that every node pulls its own platform.
	Digest string
	// Unknown says why the image could not be looked up, for the note.
	Unknown string
}

// ImageRuns says how the kubelet judges an image's user when a container asks for
// runAsNonRoot and sets no runAsUser.
type ImageRuns int

const (
	// RunsUnknown: the image could not be looked up.
	RunsUnknown ImageRuns = iota
	// RunsAsRoot: User is empty (the kubelet takes uid 0), 0, root or 0:<group>; the kubelet
	// refuses with "container has runAsNonRoot and image will run as root".
	RunsAsRoot
	// RunsAsName: User is a name other than root; the kubelet refuses with "image has
	// non-numeric user, cannot verify user is non-root".
	RunsAsName
	// RunsAsNonRoot: User is a non-zero uid; the kubelet starts the container.
	RunsAsNonRoot
)

// Runs classifies the image's user as the kubelet does under runAsNonRoot.
func (u ImageUser) Runs() ImageRuns {
	if !u.Known {
		return RunsUnknown
	}
	user, _, _ := strings.Cut(u.User, ":")
	if user == "" || user == "root" {
		return RunsAsRoot
	}
	uid, err := strconv.ParseInt(user, 10, 64)
	switch {
	case err != nil:
		return RunsAsName
	case uid == 0:
		return RunsAsRoot
	}
	return RunsAsNonRoot
}

// blocksRunAsNonRoot returns, when the kubelet would (or might) refuse runAsNonRoot for
// a container running image, the note that says why it was not added; "" otherwise.
func blocksRunAsNonRoot(image string, u ImageUser) string {
	const fix = "Fix: set securityContext.runAsUser, or build the image with a numeric non-root USER"
	switch u.Runs() {
	case RunsAsRoot:
		how := fmt.Sprintf("as root (USER %q)", u.User)
		if u.User == "" {
			how = "as root (no USER)"
		}
		return fmt.Sprintf("image %s runs %s; runAsNonRoot was not added because the kubelet would refuse to start it. %s", image, how, fix)
	case RunsAsName:
		return fmt.Sprintf("image %s runs as the user %q, a name the kubelet cannot verify is not root; runAsNonRoot was not added because the kubelet would refuse to start it. %s", image, u.User, fix)
	case RunsUnknown:
		why := u.Unknown
		if why == "" {
			why = "not looked up"
		}
		// The reason last: a long registry error is what a cut warning loses.
		return fmt.Sprintf("image %s could not be looked up, so runAsNonRoot was not added: the kubelet might refuse to start it. %s, or set runAsNonRoot yourself (lookup: %s)", image, fix, why)
	}
	return ""
}
