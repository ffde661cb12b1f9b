package mutate

// read-only-root-filesystem sets each container's securityContext.readOnlyRootFilesystem to
// true when unset. Off in the nsa profile: it breaks images that write to their root file
// system. Not on Windows pods.
var readOnlyRootFilesystemDefault = defaulter{
	name: ReadOnlyRootFilesystem,
	flag: func(o *Options) *bool { return &o.ReadOnlyRootFilesystem },
	container: func(p *patcher, c *container) {
		sc := c.SecurityContext
		if p.windows || (sc != nil && sc.ReadOnlyRootFilesystem != nil) {
			return
		}
		p.set(ReadOnlyRootFilesystem, &c.owner, readOnlyRootFilesystemPath, depth(sc != nil), true, "true")
	},
}

var readOnlyRootFilesystemPath = []string{"securityContext", "readOnlyRootFilesystem"}
