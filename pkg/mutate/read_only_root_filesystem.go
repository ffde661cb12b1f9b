package mutate

// read-only-root-filesystem sets each container's securityContext.readOnlyRootFilesystem to
// true when unset. Off in the nsa profile: it breaks images that write to their root file
// system. Not on Windows pods.
var readOnlyRootFilesystemDefault = defaulter{
	name: ReadOnlyRootFilesystem,
	flag: func(o *Options) *bool { return &o.ReadOnlyRootFilesystem },
	container: func(p *pod, c *container) {
		if p.windows {
			return
		}
		p.add(ReadOnlyRootFilesystem, c.securityContext(), "readOnlyRootFilesystem", true, "true")
	},
}
