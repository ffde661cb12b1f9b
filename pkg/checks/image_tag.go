package checks

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:      "image-tag",
		Summary: "Images must be pinned to a version tag or a digest, not left untagged or on latest, so every pod runs the code that was reviewed.",
		Evaluate: func(c *Context) {
			c.Pod.Containers(func(ct podspec.Container) bool {
				if ct.Image == "" {
					return true
				}
				ref := parseImageRef(ct.Image)
				if ref.digest != "" {
					return true // pinned, whatever the tag says
				}
				const fix = "pin the image to a version tag or a digest (image@sha256:...)"
				switch ref.tag {
				case "":
					c.Report(ct.Field("image"),
						fmt.Sprintf("%s uses image %q with no tag, which means latest: the code that runs can change at any pull", ct.Describe(), ct.Image),
						fix)
				case "latest":
					c.Report(ct.Field("image"),
						fmt.Sprintf("%s uses image %q, whose code can change at any pull", ct.Describe(), ct.Image),
						fix)
				}
				return true
			})
		},
	})
}
