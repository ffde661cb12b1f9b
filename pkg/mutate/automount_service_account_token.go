package mutate

// automount-service-account-token sets the pod's automountServiceAccountToken to false when
// unset. Off in the nsa profile.
var automountServiceAccountTokenDefault = defaulter{
	name: AutomountServiceAccountToken,
	flag: func(o *Options) *bool { return &o.AutomountServiceAccountToken },
	pod: func(p *pod) {
		p.add(AutomountServiceAccountToken, p.spec, "automountServiceAccountToken", false, "false")
	},
}
