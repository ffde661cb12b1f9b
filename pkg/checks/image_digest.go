package checks

import (
	"fmt"
	"strings"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "image-digest",
		Category: SupplyChain,
		Profiles: ProfileActions{NSA: Warn},
		Mutation: "pin-digests",
		Summary:  "Images must be pinned by digest (image@sha256:...), since a tag, even a version tag, can be moved to other code at any time and every pull would run it.",
		Evaluate: func(c *Context) {
			c.Pod.Images(func(im podspec.Image) bool {
				if parseImageRef(im.Ref).digest != "" {
					return true
				}
				fix := fmt.Sprintf("pin the image by digest: %s@sha256:...", im.Ref)
				if strings.HasSuffix(im.Field, ".image") {
					// A container's image; the mutation does not rewrite image volumes.
					fix += ", or let the pin-digests mutation do it"
				}
				c.Report(im.Field,
					fmt.Sprintf("%s uses image %q, which is not pinned by digest: whoever can push to the repository can change the code behind the tag at any pull", im.Describe, im.Ref),
					fix)
				return true
			})
		},
	})
}
