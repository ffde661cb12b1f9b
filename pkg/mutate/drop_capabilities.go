package mutate

// drop-capabilities sets each container's securityContext.capabilities.drop to [ALL] when
// the container has no drop list. An existing drop list, even an empty one, is the user's
// choice; capabilities.add is kept. Not on Windows pods.
var dropCapabilitiesDefault = defaulter{
	name: DropCapabilities,
	flag: func(o *Options) *bool { return &o.DropCapabilities },
	container: func(p *pod, c *container) {
		if p.windows {
			return
		}
		p.add(DropCapabilities, c.securityContext().child("capabilities"), "drop", []any{"ALL"}, "[ALL]")
	},
}
