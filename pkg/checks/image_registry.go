package checks

import (
	"fmt"
	"strings"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

func init() {
	Register(Check{
		ID:       "image-registry",
		Category: SupplyChain,
		Profiles: ProfileActions{NSA: Enforce},
		Params: []Param{{
			Name:   "allowedRegistries",
			Help:   "host or host/path prefixes; the check does nothing while empty",
			Values: func(p *Params) *[]string { return &p.AllowedRegistries },
		}},
		Summary: "Images must come from one of the configured registries (allowedRegistries), so nothing unvetted runs; the check does nothing while the list is empty.",
		Evaluate: func(c *Context) {
			allowed := c.Params.AllowedRegistries
			if len(allowed) == 0 {
				return
			}
			c.Pod.Images(func(im podspec.Image) bool {
				ref := parseImageRef(im.Ref)
				if ref.allowedBy(allowed) {
					return true
				}
				c.Report(im.Field,
					fmt.Sprintf("%s uses image %q (%s), which is outside the allowed registries and so escapes image vetting", im.Describe, im.Ref, ref.repository()),
					"use an image from an allowed registry: "+strings.Join(allowed, ", "))
				return true
			})
		},
	})
}

// imageRef is a container image reference, split and normalised the way Docker does it.
type imageRef struct {
	registry string // e.g. docker.io, ghcr.io, localhost:5000 (lower case)
	path     string // e.g. library/nginx, acme/app
	tag      string // empty when the reference has none
	digest   string // e.g. sha256:..., empty when the reference has none
}

// parseImageRef splits ref into registry, path, tag and digest. The digest follows '@'; the
// tag follows the last ':' after the last '/' (so "localhost:5000/app" has no tag). The first
// path component is the registry when it contains '.' or ':', is "localhost", or has an upper
// case letter; otherwise the image is on docker.io, where one-component names are in library/.
func parseImageRef(ref string) imageRef {
	var r imageRef
	name := ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, r.digest = name[:i], name[i+1:]
	}
	if colon := strings.LastIndexByte(name, ':'); colon > strings.LastIndexByte(name, '/') {
		name, r.tag = name[:colon], name[colon+1:]
	}
	first, rest, found := strings.Cut(name, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first) {
		r.registry, r.path = normaliseRegistry(first), rest
	} else {
		r.registry, r.path = "docker.io", name
	}
	if r.registry == "docker.io" && !strings.Contains(r.path, "/") {
		r.path = "library/" + r.path
	}
	return r
}

// normaliseRegistry lower-cases a registry host and maps Docker Hub's aliases to docker.io.
func normaliseRegistry(host string) string {
	host = strings.ToLower(host)
	if host == "index.docker.io" || host == "registry-1.docker.io" {
		return "docker.io"
	}
	return host
}

// repository is the fully qualified repository, e.g. docker.io/library/nginx.
func (r imageRef) repository() string { return r.registry + "/" + r.path }

// allowedBy reports whether an entry of allowed (a registry host, or a host/path prefix)
// covers the image. Prefixes match whole path components: ghcr.io/acme covers
// ghcr.io/acme/app but not ghcr.io/acme-evil/app.
func (r imageRef) allowedBy(allowed []string) bool {
	repo := r.repository()
	for _, entry := range allowed {
		entry = strings.TrimSuffix(strings.TrimSpace(entry), "/")
		if entry == "" {
			continue
		}
		host, path, _ := strings.Cut(entry, "/")
		prefix := normaliseRegistry(host)
		if path != "" {
			prefix += "/" + path
		}
		if repo == prefix || strings.HasPrefix(repo, prefix+"/") {
			return true
		}
	}
	return false
}
