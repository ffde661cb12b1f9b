package mutate

// automount-service-account-token sets the pod's automountServiceAccountToken to false when
// unset. Off in the nsa profile.
var automountServiceAccountTokenDefault = defaulter{
	name: AutomountServiceAccountToken,
	flag: func(o *Options) *bool { return &o.AutomountServiceAccountToken },
	pod: func(p *patcher) {
		if p.Spec.AutomountServiceAccountToken == nil {
			p.set(AutomountServiceAccountToken, &p.spec, automountServiceAccountTokenPath, 0, false, "false")
		}
	},
}

var automountServiceAccountTokenPath = []string{"automountServiceAccountToken"}
