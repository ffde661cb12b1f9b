package mutate

// drop-capabilities sets each container's securityContext.capabilities.drop to [ALL] when
// the container has no drop list. An existing drop list, even an empty one, is the user's
// choice; capabilities.add is kept. Not on Windows pods.
var dropCapabilitiesDefault = defaulter{
	name: DropCapabilities,
	flag: func(o *Options) *bool { return &o.DropCapabilities },
	container: func(p *patcher, c *container) {
		if p.windows {
			return
		}
		sc := c.SecurityContext
		hasCaps := sc != nil && sc.Capabilities != nil
		if hasCaps && sc.Capabilities.Drop != nil {
			return
		}
		p.set(DropCapabilities, &c.owner, dropPath, depth(sc != nil, hasCaps), []any{"ALL"}, "[ALL]")
	},
}

var dropPath = []string{"securityContext", "capabilities", "drop"}
