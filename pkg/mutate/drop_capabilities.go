package mutate

// drop-capabilities sets each container's securityContext.capabilities.drop to [ALL] when
// the container has no drop list. An existing drop list, even an empty one, is the user's
// choice; capabilities.add is kept. Not on Windows pods.
var dropCapabilitiesDefault = defaulter{
	name: DropCapabilities,
	flag: func(o *Options) *bool { return &o.DropCapabilities },
	container: func(p *pod, c *container) error {
		if p.windows {
			return nil
		}
		sc, err := c.securityContext()
		if err != nil {
			return err
		}
		caps, err := sc.child("capabilities")
		if err != nil {
			return err
		}
		p.add(DropCapabilities, caps, "drop", []any{"ALL"}, "[ALL]")
		return nil
	},
}
