package checks_test

import (
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/pod-security-admission/policy"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// TestBaselineParity runs every fixture of every check through the upstream Pod Security
// Standards checks (latest version) and through the Bulwark checks that stand for them, and
// requires the same allow/deny verdict. Fixture parameters are ignored: this compares the
// built-in semantics.
func TestBaselineParity(t *testing.T) {
	files := podFixtureFiles(t)
	for _, p := range parityPairs() {
		t.Run(string(p.psa.ID), func(t *testing.T) {
			for _, file := range files {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				p.compare(t, file, decodeManifest(t, file, data))
			}
		})
	}
}

// parityPair is an upstream check and the Bulwark checks that together stand for it.
type parityPair struct {
	psa      policy.Check
	ours     []string
	params   checks.Params
	settings *checks.Settings
}

// compare requires the same verdict from upstream (latest version) and Bulwark on pod.
func (p parityPair) compare(t *testing.T, name string, pod *podspec.Pod) {
	t.Helper()
	latest := p.psa.Versions[len(p.psa.Versions)-1].CheckPod
	want := latest(&pod.Meta, &pod.Spec)
	got := p.settings.Evaluate(pod)
	if denied := len(got) > 0; denied == want.Allowed {
		t.Errorf("%s: Bulwark denied=%v, upstream allowed=%v (%s: %s)\n%s",
			name, denied, want.Allowed, want.ForbiddenReason, want.ForbiddenDetail, render(got))
	}
}

func parityPairs() []parityPair {
	pairs := []parityPair{
		{psa: policy.CheckHostNamespaces(), ours: []string{"host-network", "host-pid", "host-ipc"}},
		{psa: policy.CheckHostPathVolumes(), ours: []string{"host-path"}},
		{psa: policy.CheckHostPorts(), ours: []string{"host-ports"}},
		{psa: policy.CheckWindowsHostProcess(), ours: []string{"host-process"}},
		{psa: policy.CheckHostProbesAndHostLifecycle(), ours: []string{"host-probes"}},
		{psa: policy.CheckPrivileged(), ours: []string{"privileged"}},
		{psa: policy.CheckCapabilitiesBaseline(), ours: []string{"capabilities"}},
		{psa: policy.CheckProcMountBaseline(), ours: []string{"proc-mount"}},
		{psa: policy.CheckProcMountRestricted(), ours: []string{"proc-mount"}, params: checks.Params{StrictProcMount: true}},
		{psa: policy.CheckSysctls(), ours: []string{"sysctls"}},
		{psa: policy.CheckAppArmorProfile(), ours: []string{"apparmor"}},
		{psa: policy.CheckSELinuxOptions(), ours: []string{"selinux"}},
		{psa: policy.CheckSeccompBaseline(), ours: []string{"seccomp"}},
	}
	for i, p := range pairs {
		actions := map[string]checks.Action{}
		for _, id := range p.ours {
			actions[id] = checks.Enforce
		}
		s, err := checks.Compile(actions, p.params)
		if err != nil {
			panic(err)
		}
		pairs[i].settings = s
	}
	return pairs
}

// TestBaselineParityEdgeCases compares verdicts on pods that each hold a single edge case,
// so that one violation cannot hide another's disagreement. Container-level cases are tried
// in an init container, a regular container and an ephemeral container. Upstream is the
// oracle: no case says what the verdict should be.
func TestBaselineParityEdgeCases(t *testing.T) {
	type edit func(*corev1.PodSpec, *metav1.ObjectMeta)
	var cases []struct {
		name string
		edit edit
	}
	add := func(name string, e edit) {
		cases = append(cases, struct {
			name string
			edit edit
		}{name, e})
	}
	// container adds a case per container kind; f edits the container under test.
	container := func(name string, f func(*corev1.Container)) {
		add("init/"+name, func(s *corev1.PodSpec, _ *metav1.ObjectMeta) { f(&s.InitContainers[0]) })
		add("container/"+name, func(s *corev1.PodSpec, _ *metav1.ObjectMeta) { f(&s.Containers[0]) })
		add("ephemeral/"+name, func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
			f((*corev1.Container)(&s.EphemeralContainers[0].EphemeralContainerCommon))
		})
	}

	add("plain", func(*corev1.PodSpec, *metav1.ObjectMeta) {})
	add("windows", func(s *corev1.PodSpec, _ *metav1.ObjectMeta) { s.OS = &corev1.PodOS{Name: corev1.Windows} })

	// host namespaces, host path, host process
	add("hostNetwork", func(s *corev1.PodSpec, _ *metav1.ObjectMeta) { s.HostNetwork = true })
	add("hostPID", func(s *corev1.PodSpec, _ *metav1.ObjectMeta) { s.HostPID = true })
	add("hostIPC", func(s *corev1.PodSpec, _ *metav1.ObjectMeta) { s.HostIPC = true })
	add("hostPath", func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
		s.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}}}
	})
	add("emptyDir", func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
		s.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	})
	for _, v := range []bool{true, false} {
		add(fmt.Sprintf("pod hostProcess=%v", v), func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
			podSC(s).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptrTo(v)}
		})
		container(fmt.Sprintf("hostProcess=%v", v), func(c *corev1.Container) {
			containerSC(c).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptrTo(v)}
		})
		container(fmt.Sprintf("privileged=%v", v), func(c *corev1.Container) { containerSC(c).Privileged = ptrTo(v) })
	}
	add("pod windowsOptions without hostProcess", func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
		podSC(s).WindowsOptions = &corev1.WindowsSecurityContextOptions{}
	})

	// host ports
	for _, port := range []int32{0, 80, -1} {
		container(fmt.Sprintf("hostPort=%d", port), func(c *corev1.Container) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 81, HostPort: port}}
		})
	}

	// probe and lifecycle hosts
	for _, host := range []string{"", "10.0.0.1"} {
		h := host
		probes := map[string]func(*corev1.Container) **corev1.Probe{
			"liveness":  func(c *corev1.Container) **corev1.Probe { return &c.LivenessProbe },
			"readiness": func(c *corev1.Container) **corev1.Probe { return &c.ReadinessProbe },
			"startup":   func(c *corev1.Container) **corev1.Probe { return &c.StartupProbe },
		}
		for what, probe := range probes {
			container(what+" httpGet host="+h, func(c *corev1.Container) {
				*probe(c) = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: h}}}
			})
			container(what+" tcpSocket host="+h, func(c *corev1.Container) {
				*probe(c) = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: h}}}
			})
		}
		container("postStart httpGet host="+h, func(c *corev1.Container) {
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: h}}}
		})
		container("preStop tcpSocket host="+h, func(c *corev1.Container) {
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Host: h}}}
		})
	}

	// capabilities
	for _, capability := range []string{
		"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
		"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
		"NET_RAW", "SYS_ADMIN", "ALL", "all", "CAP_CHOWN", "chown", " CHOWN", "CHOWN ", "CAP_SYS_ADMIN", "sys_admin", "",
	} {
		container(fmt.Sprintf("capabilities.add=%q", capability), func(c *corev1.Container) {
			containerSC(c).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{corev1.Capability(capability)}}
		})
	}
	container("capabilities.drop=ALL", func(c *corev1.Container) {
		containerSC(c).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	})

	// procMount, alone and in and out of a user namespace
	for _, pm := range []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount, "", "default"} {
		for _, hostUsers := range []*bool{nil, ptrTo(true), ptrTo(false)} {
			name := "procMount=" + string(pm) + " hostUsers="
			if hostUsers == nil {
				name += "unset"
			} else {
				name += fmt.Sprint(*hostUsers)
			}
			add("container/"+name, func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
				s.HostUsers = hostUsers
				containerSC(&s.Containers[0]).ProcMount = &pm
			})
			add("ephemeral/"+name, func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
				s.HostUsers = hostUsers
				containerSC((*corev1.Container)(&s.EphemeralContainers[0].EphemeralContainerCommon)).ProcMount = &pm
			})
		}
	}

	// sysctls
	for _, name := range []string{
		"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports",
		"net.ipv4.ip_unprivileged_port_start", "net.ipv4.ping_group_range", "net.ipv4.tcp_fin_timeout",
		"net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_keepalive_time",
		"net.ipv4.tcp_notsent_lowat", "net.ipv4.tcp_rmem", "net.ipv4.tcp_slow_start_after_idle",
		"net.ipv4.tcp_syncookies", "net.ipv4.tcp_wmem",
		"net/ipv4/tcp_syncookies", "NET.IPV4.TCP_SYNCOOKIES", "kernel.msgmax", "net.ipv4.ip_forward", "",
	} {
		add(fmt.Sprintf("sysctl %q", name), func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
			podSC(s).Sysctls = []corev1.Sysctl{{Name: name, Value: "1"}}
		})
	}

	// AppArmor: field and annotations
	for _, typ := range []corev1.AppArmorProfileType{"RuntimeDefault", "Localhost", "Unconfined", "", "runtimedefault", "Custom"} {
		add(fmt.Sprintf("pod appArmorProfile.type=%q", typ), func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
			podSC(s).AppArmorProfile = &corev1.AppArmorProfile{Type: typ}
		})
		container(fmt.Sprintf("appArmorProfile.type=%q", typ), func(c *corev1.Container) {
			containerSC(c).AppArmorProfile = &corev1.AppArmorProfile{Type: typ}
		})
	}
	for _, key := range []string{
		"container.apparmor.security.beta.kubernetes.io/app",
		"container.apparmor.security.beta.kubernetes.io/missing",
		"container.apparmor.security.beta.kubernetes.io/",
		"apparmor.security.beta.kubernetes.io/app",
	} {
		for _, value := range []string{"", "runtime/default", "localhost/profile", "localhost/", "unconfined", "docker-default", "Runtime/Default", " runtime/default"} {
			add(fmt.Sprintf("annotation %s=%q", key, value), func(_ *corev1.PodSpec, m *metav1.ObjectMeta) {
				m.Annotations = map[string]string{key: value}
			})
		}
	}

	// SELinux
	for _, opts := range []corev1.SELinuxOptions{
		{}, {Type: "container_t"}, {Type: "container_init_t"}, {Type: "container_kvm_t"}, {Type: "container_engine_t"},
		{Type: "spc_t"}, {Type: "Container_t"}, {Type: "unconfined_t"}, {Level: "s0:c1,c2"},
		{User: "system_u"}, {Role: "system_r"}, {Type: "container_t", User: "u", Role: "r", Level: "s0"},
	} {
		add(fmt.Sprintf("pod seLinuxOptions=%+v", opts), func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
			podSC(s).SELinuxOptions = &opts
		})
		container(fmt.Sprintf("seLinuxOptions=%+v", opts), func(c *corev1.Container) {
			containerSC(c).SELinuxOptions = &opts
		})
	}

	// seccomp: field; the legacy annotations are ignored by both
	for _, typ := range []corev1.SeccompProfileType{"RuntimeDefault", "Localhost", "Unconfined", "", "unconfined", "Custom"} {
		add(fmt.Sprintf("pod seccompProfile.type=%q", typ), func(s *corev1.PodSpec, _ *metav1.ObjectMeta) {
			podSC(s).SeccompProfile = &corev1.SeccompProfile{Type: typ}
		})
		container(fmt.Sprintf("seccompProfile.type=%q", typ), func(c *corev1.Container) {
			containerSC(c).SeccompProfile = &corev1.SeccompProfile{Type: typ}
		})
	}
	add("legacy seccomp annotations", func(_ *corev1.PodSpec, m *metav1.ObjectMeta) {
		m.Annotations = map[string]string{
			"seccomp.security.alpha.kubernetes.io/pod":           "unconfined",
			"container.seccomp.security.alpha.kubernetes.io/app": "unconfined",
		}
	})

	pairs := parityPairs()
	for _, tc := range cases {
		for _, windows := range []bool{false, true} {
			pod := &podspec.Pod{
				GroupKind:   schema.GroupKind{Kind: "Pod"},
				HasTemplate: true,
				Spec: corev1.PodSpec{
					InitContainers:      []corev1.Container{{Name: "init", Image: "registry.example.com/init:1.0"}},
					Containers:          []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0"}},
					EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "registry.example.com/debugger:1.0"}}},
				},
			}
			name := tc.name
			if windows {
				pod.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
				name += " (windows)"
			}
			tc.edit(&pod.Spec, &pod.Meta)
			for _, p := range pairs {
				p.compare(t, string(p.psa.ID)+": "+name, pod)
			}
		}
	}
	if len(cases) < 300 {
		t.Errorf("only %d cases: the case builders are broken", len(cases))
	}
}

// containerSC and podSC return a container's or a pod's securityContext, creating it.
func containerSC(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

func podSC(s *corev1.PodSpec) *corev1.PodSecurityContext {
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	return s.SecurityContext
}
