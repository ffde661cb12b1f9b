package checks

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "image-tag",
		Category: SupplyChain,
		Profiles: ProfileActions{NSA: Warn},
		Summary:  "Images must be pinned to a version tag or a digest, not left untagged or on latest, so every pod runs the code that was reviewed.",
		Evaluate: func(c *Context) {
			c.Pod.Images(func(im podspec.Image) bool {
				ref := parseImageRef(im.Ref)
				if ref.digest != "" {
					return true // pinned, whatever the tag says
				}
				const fix = "pin the image to a version tag or a digest (image@sha256:...)"
				switch ref.tag {
				case "":
					c.Report(im.Field,
						fmt.Sprintf("%s uses image %q with no tag, which means latest: the code that runs can change at any pull", im.Describe, im.Ref),
						fix)
				case "latest":
					c.Report(im.Field,
						fmt.Sprintf("%s uses image %q, whose code can change at any pull", im.Describe, im.Ref),
						fix)
				}
				return true
			})
		},
	})
}
