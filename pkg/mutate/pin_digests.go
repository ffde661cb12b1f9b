package mutate

import (
	"fmt"
	"slices"
	"strings"
)

// pin-digests replaces each container image without a digest, repo:tag, by
// repo:tag@<digest>, the digest the registry gave for the reference at admission (for a
// multi-platform image, the index's): the pod then runs what was looked up, however the tag
// moves later. An image that has a digest is left alone, and so is every image when the
// images are not consulted (Target.Images) or the lookup failed; a note says why. Off in
// the nsa profile.
var pinDigestsDefault = defaulter{
	name:      PinDigests,
	flag:      func(o *Options) *bool { return &o.PinDigests },
	container: pinDigest,
}

func pinDigest(p *patcher, c *container) {
	if c.Image == "" || strings.Contains(c.Image, "@") {
		return
	}
	if p.images == nil {
		p.pinNote(c.Image, "image lookups are off (--resolve-images)")
		return
	}
	u := p.images(c.Image)
	switch {
	case !u.Known:
		why := u.Unknown
		if why == "" {
			why = "not looked up"
		}
		p.pinNote(c.Image, why)
		return
	case u.Digest == "":
		p.pinNote(c.Image, "the registry gave no digest")
		return
	}
	pinned := c.Image + "@" + u.Digest
	ptr, field := p.paths(&c.owner)
	p.ops = append(p.ops, Operation{Operation: "replace", Path: ptr + "/image", Value: pinned})
	p.changes = append(p.changes, Change{Default: PinDigests, Field: field + ".image", Value: pinned})
}

// pinNote notes, once per image, why the image was not pinned. The reason comes last: a
// long registry error is what a cut warning loses.
func (p *patcher) pinNote(image, why string) {
	note := fmt.Sprintf("image %s was not pinned: %s", image, why)
	if !slices.Contains(p.notes, note) {
		p.notes = append(p.notes, note)
	}
}
