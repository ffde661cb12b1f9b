package checks

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "image-digest",
		Profiles: ProfileActions{NSA: Warn},
		Mutation: "pin-digests",
		Summary:  "Container images must be pinned by digest (image@sha256:...), since a tag, even a version tag, can be moved to other code at any time and every pull would run it.",
		Evaluate: func(c *Context) {
			c.Pod.Containers(func(ct podspec.Container) bool {
				if ct.Image == "" || parseImageRef(ct.Image).digest != "" {
					return true
				}
				c.Report(ct.Field("image"),
					fmt.Sprintf("%s uses image %q, which is not pinned by digest: whoever can push to the repository can change the code behind the tag at any pull", ct.Describe(), ct.Image),
					fmt.Sprintf("pin the image by digest: %s@sha256:..., or let the pin-digests mutation do it", ct.Image))
				return true
			})
		},
	})
}
