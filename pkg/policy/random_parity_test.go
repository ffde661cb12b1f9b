package policy_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// randomPods is how many generated pods TestProfileParityRandom compares (with -short, a tenth).
const randomPods = 20000

// TestProfileParityRandom compares the baseline and restricted profiles with PSA
// baseline:latest and restricted:latest on many generated pods (see genPod). Every pod must
// get the same allow/deny verdict from both. The generator's mix is checked too, so that a
// generator that only builds allowed (or only denied) pods cannot pass.
func TestProfileParityRandom(t *testing.T) {
	n := randomPods
	if testing.Short() {
		n /= 10
	}
	type tally struct{ allowed, denied, mismatches int }
	stats := map[string]*tally{}
	// soleReasons counts, per level, the PSA reasons that were the only reason of a denial:
	// the cases where one violation cannot hide a disagreement on another.
	soleReasons := map[string]map[string]int{}
	for _, l := range levels {
		stats[l.profile] = &tally{}
		soleReasons[l.profile] = map[string]int{}
	}
	const maxReported = 10
	for i := range n {
		seed := uint64(i)
		gp := genPod(seed)
		ours, core := roundTrip(t, gp)
		for _, l := range levels {
			v := compareLevel(t, l.profile, l.psa, ours, core)
			s := stats[l.profile]
			if v.psa.Allowed {
				s.allowed++
			} else {
				s.denied++
				if len(v.psa.ForbiddenReasons) == 1 {
					soleReasons[l.profile][reasonKey(v.psa.ForbiddenReasons[0])]++
				}
			}
			if !v.agree() {
				s.mismatches++
				if s.mismatches <= maxReported {
					t.Errorf("seed %d: profile %s and PSA %s:latest disagree\n%s  pod:\n%s",
						seed, l.profile, l.psa, v.describe(), indent(toYAML(core), "    "))
				}
			}
		}
	}
	for _, l := range levels {
		s := stats[l.profile]
		t.Logf("%s: %d pods compared, PSA allowed %d, denied %d; %d disagreements", l.profile, n, s.allowed, s.denied, s.mismatches)
		if s.mismatches > 0 {
			t.Errorf("%s: %d of %d pods disagree with PSA (first %d shown)", l.profile, s.mismatches, n, min(s.mismatches, maxReported))
		}
		reasons := sortedCounts(soleReasons[l.profile])
		t.Logf("%s: denials with a single PSA reason: %s", l.profile, reasons)
	}
	// The mix: roughly half the pods pass restricted; baseline admits more, but not all.
	r, b := stats["restricted"], stats["baseline"]
	if frac := float64(r.allowed) / float64(n); frac < 0.35 || frac > 0.65 {
		t.Errorf("generator: %.0f%% of pods pass restricted, want about half", frac*100)
	}
	if b.allowed <= r.allowed || b.denied < n/10 {
		t.Errorf("generator: baseline allowed %d, denied %d (restricted allowed %d): want baseline to admit more than restricted and still deny at least 10%%", b.allowed, b.denied, r.allowed)
	}
	// Every PSA check must have been the single reason of some denials at its level.
	baselineReasons := []string{"host namespaces", "hostPort", "hostProcess", "probe or lifecycle host", "privileged",
		"procMount", "forbidden sysctls", "forbidden AppArmor profile", "seLinuxOptions", "seccompProfile"}
	want := map[string][]string{
		// hostPath is reported as a restricted volume type at restricted, and added capabilities
		// as unrestricted ones (upstream's overrides).
		"baseline": append([]string{"hostPath volumes", "non-default capabilities"}, baselineReasons...),
		"restricted": append([]string{"runAsNonRoot != true", "runAsUser=0", "allowPrivilegeEscalation != false",
			"unrestricted capabilities", "restricted volume types"}, baselineReasons...),
	}
	minSole := 20
	if testing.Short() {
		minSole = 2
	}
	for level, reasons := range want {
		for _, reason := range reasons {
			if got := soleReasons[level][reason]; got < minSole {
				t.Errorf("generator: %s: PSA reason %q was the only reason of %d denials, want at least %d", level, reason, got, minSole)
			}
		}
	}
}

// FuzzProfileParity runs the generator of TestProfileParityRandom on fuzzed seeds:
// go test ./pkg/policy -run '^$' -fuzz FuzzProfileParity.
func FuzzProfileParity(f *testing.F) {
	for _, seed := range []uint64{0, 1, 2, 3, 7, 42, 1 << 32, 0xdeadbeef, 1<<64 - 1} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		ours, core := roundTrip(t, genPod(seed))
		for _, l := range levels {
			if v := compareLevel(t, l.profile, l.psa, ours, core); !v.agree() {
				t.Errorf("seed %d: profile %s and PSA %s:latest disagree\n%s  pod:\n%s",
					seed, l.profile, l.psa, v.describe(), indent(toYAML(core), "    "))
			}
		}
	})
}

// roundTrip encodes the generated pod as the apiserver would send it and decodes it twice: with
// podspec.Decode for Bulwark and as a corev1.Pod for PSA.
func roundTrip(t testing.TB, p *corev1.Pod) (*podspec.Pod, *corev1.Pod) {
	t.Helper()
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	ours, ok, err := podspec.Decode(schema.GroupKind{Kind: "Pod"}, js)
	if err != nil || !ok {
		t.Fatalf("podspec.Decode: ok=%v err=%v\n%s", ok, err, js)
	}
	var core corev1.Pod
	if err := json.Unmarshal(js, &core); err != nil {
		t.Fatal(err)
	}
	return ours, &core
}

// reasonKey folds PSA's plural reasons ("forbidden AppArmor profiles") into one key.
func reasonKey(r string) string {
	switch {
	case strings.HasPrefix(r, "forbidden AppArmor profile"):
		return "forbidden AppArmor profile"
	}
	return r
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// gen builds random pods. badBase is the probability that a field gets a value the baseline
// standard forbids, badRestricted one that only the restricted standard forbids; with both 0
// the pod is built to pass restricted (the oracle, not the generator, decides the verdict).
type gen struct {
	r                       *rand.Rand
	badBase, badRestricted  float64
	hostUsers               *bool
	podRunAsNonRoot, podSec bool
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// pick returns one of xs uniformly.
func pick[T any](g *gen, xs ...T) T { return xs[g.r.IntN(len(xs))] }

// choose returns one of bad with probability p, else one of good.
func choose[T any](g *gen, p float64, good, bad []T) T {
	if len(bad) > 0 && g.chance(p) {
		return pick(g, bad...)
	}
	return pick(g, good...)
}

func ptr[T any](v T) *T { return &v }

var (
	safeSysctls = []string{
		"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports",
		"net.ipv4.ip_unprivileged_port_start", "net.ipv4.ping_group_range", "net.ipv4.tcp_fin_timeout",
		"net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_keepalive_time",
		"net.ipv4.tcp_notsent_lowat", "net.ipv4.tcp_rmem", "net.ipv4.tcp_slow_start_after_idle",
		"net.ipv4.tcp_syncookies", "net.ipv4.tcp_wmem",
	}
	unsafeSysctls = []string{
		"kernel.msgmax", "net.ipv4.ip_forward", "net/ipv4/tcp_syncookies", "NET.IPV4.TCP_SYNCOOKIES",
		"", "kernel.shm_rmid_forced ", "net.core.somaxconn", "vm.max_map_count", "net.ipv4.tcp_keepalive_time.x",
	}
	// baselineCaps may be added under baseline but not under restricted.
	baselineCaps = []corev1.Capability{
		"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
		"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
	}
	// forbiddenCaps are denied by both, some only for their spelling.
	forbiddenCaps = []corev1.Capability{
		"SYS_ADMIN", "NET_RAW", "NET_ADMIN", "ALL", "all", "CAP_SYS_ADMIN", "sys_admin", "net_bind_service",
		"CAP_NET_BIND_SERVICE", "CAP_CHOWN", "chown", " CHOWN", "CHOWN ", "", "SYS_PTRACE",
	}
	goodDrops = [][]corev1.Capability{{"ALL"}, {"ALL"}, {"ALL", "NET_RAW"}, {"NET_RAW", "ALL"}, {"CHOWN", "ALL", "all"}}
	badDrops  = [][]corev1.Capability{nil, {}, {"all"}, {"All"}, {"CAP_ALL"}, {"NET_RAW"}, {" ALL"}, {"ALL "}, {"SYS_ADMIN"}}

	goodSeccomp     = []*corev1.SeccompProfile{{Type: corev1.SeccompProfileTypeRuntimeDefault}, {Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("profiles/audit.json")}, {Type: corev1.SeccompProfileTypeLocalhost}}
	forbiddenSecomp = []*corev1.SeccompProfile{{Type: corev1.SeccompProfileTypeUnconfined}, {Type: ""}, {Type: "runtimedefault"}, {Type: "unconfined"}, {Type: "Custom"}}

	goodSELinux = []*corev1.SELinuxOptions{nil, nil, nil, {}, {Type: "container_t"}, {Type: "container_init_t"}, {Type: "container_kvm_t"}, {Type: "container_engine_t"}, {Level: "s0:c123,c456"}, {Type: "container_t", Level: "s0"}}
	badSELinux  = []*corev1.SELinuxOptions{{Type: "spc_t"}, {Type: "unconfined_t"}, {Type: "Container_t"}, {User: "system_u"}, {Role: "system_r"}, {Type: "container_t", User: "u", Role: "r"}}

	goodAppArmor = []*corev1.AppArmorProfile{nil, nil, nil, {Type: corev1.AppArmorProfileTypeRuntimeDefault}, {Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr("k8s-apparmor-example")}}
	badAppArmor  = []*corev1.AppArmorProfile{{Type: corev1.AppArmorProfileTypeUnconfined}, {Type: ""}, {Type: "runtimedefault"}, {Type: "Custom"}}

	goodAppArmorAnnotations = []string{"runtime/default", "localhost/k8s-apparmor-example", "localhost/", ""}
	badAppArmorAnnotations  = []string{"unconfined", "docker-default", "Runtime/Default", " runtime/default", "localhost", "Localhost/x"}

	goodWindows = []*corev1.WindowsSecurityContextOptions{nil, nil, nil, {}, {HostProcess: ptr(false)}, {RunAsUserName: ptr("ContainerUser")}}
	badWindows  = []*corev1.WindowsSecurityContextOptions{{HostProcess: ptr(true)}, {HostProcess: ptr(true), RunAsUserName: ptr("NT AUTHORITY\\SYSTEM")}}

	goodProcMount = []*corev1.ProcMountType{nil, nil, nil, ptr(corev1.DefaultProcMount)}
	badProcMount  = []*corev1.ProcMountType{ptr(corev1.UnmaskedProcMount), ptr(corev1.ProcMountType("")), ptr(corev1.ProcMountType("default"))}
)

// restrictedVolumes are the sources restricted allows; otherVolumes those only baseline
// allows; hostPath is denied by both.
func restrictedVolume(g *gen) corev1.VolumeSource {
	return pick(g,
		corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
		corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "csi.example.com"}},
		corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}},
		corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}},
		corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example.com/data:1"}},
		corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}},
		corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}},
		corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}},
	)
}

func otherVolume(g *gen) corev1.VolumeSource {
	return pick(g,
		corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/"}},
		corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Repository: "https://example.com/r.git"}},
		corev1.VolumeSource{AWSElasticBlockStore: &corev1.AWSElasticBlockStoreVolumeSource{VolumeID: "v"}},
		corev1.VolumeSource{GCEPersistentDisk: &corev1.GCEPersistentDiskVolumeSource{PDName: "d"}},
		corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{}},
		corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{}},
		corev1.VolumeSource{FlexVolume: &corev1.FlexVolumeSource{Driver: "x"}},
		corev1.VolumeSource{CephFS: &corev1.CephFSVolumeSource{}},
		corev1.VolumeSource{AzureFile: &corev1.AzureFileVolumeSource{}},
		corev1.VolumeSource{FC: &corev1.FCVolumeSource{}},
		corev1.VolumeSource{},
		corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}, NFS: &corev1.NFSVolumeSource{}},
	)
}

func hostPathVolume(g *gen) corev1.VolumeSource {
	return pick(g,
		corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/docker.sock"}},
		corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}},
		corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/"}},
	)
}

// genPod builds the pod of one seed. Three eighths of the seeds build pods meant to pass
// restricted, a quarter pods with restricted-only problems, an eighth pods with few baseline
// problems, the rest pods with few to many problems of either standard; many denials have a
// single reason.
func genPod(seed uint64) *corev1.Pod {
	g := &gen{r: rand.New(rand.NewPCG(seed, 0x5eed_b0a1_c0de_f00d))}
	switch g.r.IntN(8) {
	case 0, 1, 2: // meant to pass restricted
	case 3, 4:
		g.badRestricted = 0.005 + 0.1*g.r.Float64()
	case 5:
		g.badBase = 0.005 + 0.05*g.r.Float64()
	default:
		g.badBase = 0.005 + 0.15*g.r.Float64()
		g.badRestricted = 0.005 + 0.2*g.r.Float64()
	}
	g.hostUsers = pick(g, nil, nil, nil, ptr(true), ptr(false))
	g.podRunAsNonRoot = g.chance(0.7)
	g.podSec = g.chance(0.7)

	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("random-%d", seed), Namespace: "default"},
		Spec:       corev1.PodSpec{HostUsers: g.hostUsers},
	}
	s := &pod.Spec
	s.OS = pick(g, nil, nil, nil, nil, &corev1.PodOS{Name: corev1.Linux}, &corev1.PodOS{Name: corev1.Windows})
	s.HostNetwork = g.chance(g.badBase / 2)
	s.HostPID = g.chance(g.badBase / 2)
	s.HostIPC = g.chance(g.badBase / 2)
	if g.chance(0.2) {
		s.AutomountServiceAccountToken = ptr(g.chance(0.5))
	}

	// containers: 0-2 init (some of them sidecars), 1-3 regular, 0-1 ephemeral
	for i := range g.r.IntN(3) {
		c := g.container(fmt.Sprintf("init-%d", i))
		if g.chance(0.4) {
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}
		s.InitContainers = append(s.InitContainers, c)
	}
	for i := range 1 + g.r.IntN(3) {
		s.Containers = append(s.Containers, g.container(fmt.Sprintf("app-%d", i)))
	}
	if g.chance(0.3) {
		c := g.container("debugger")
		if g.chance(0.5) {
			// what the apiserver accepts for an ephemeral container; the checks must not care
			c.Ports, c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil, nil
		}
		s.EphemeralContainers = append(s.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon(c),
			TargetContainerName:      "app-0",
		})
	}

	// pod securityContext
	sc := &corev1.PodSecurityContext{}
	if g.podRunAsNonRoot {
		sc.RunAsNonRoot = choose(g, g.badRestricted, []*bool{ptr(true)}, []*bool{nil, ptr(false)})
	} else if g.chance(g.badRestricted) {
		sc.RunAsNonRoot = ptr(false)
	}
	sc.RunAsUser = choose(g, g.badRestricted, []*int64{nil, nil, ptr(int64(1000)), ptr(int64(65534))}, []*int64{ptr(int64(0))})
	if g.chance(0.2) {
		sc.RunAsGroup = ptr(int64(pick(g, 0, 1000)))
		sc.FSGroup = ptr(int64(2000))
	}
	if g.podSec {
		sc.SeccompProfile = choose(g, g.badRestricted, goodSeccomp, []*corev1.SeccompProfile{nil})
	}
	if g.chance(g.badBase) {
		sc.SeccompProfile = pick(g, forbiddenSecomp...)
	}
	if g.chance(0.3) {
		for range 1 + g.r.IntN(2) {
			sc.Sysctls = append(sc.Sysctls, corev1.Sysctl{Name: pick(g, safeSysctls...), Value: "1"})
		}
	}
	if g.chance(g.badBase) {
		sc.Sysctls = append(sc.Sysctls, corev1.Sysctl{Name: pick(g, unsafeSysctls...), Value: "1"})
	}
	sc.SELinuxOptions = choose(g, g.badBase, goodSELinux, badSELinux)
	sc.AppArmorProfile = choose(g, g.badBase, goodAppArmor, badAppArmor)
	sc.WindowsOptions = choose(g, g.badBase, goodWindows, badWindows)
	if !podSCIsEmpty(sc) || g.chance(0.5) {
		s.SecurityContext = sc
	}

	// annotations: AppArmor (checked) and legacy seccomp (ignored by both)
	if g.chance(0.25) {
		pod.Annotations = map[string]string{}
		target := pick(g, "app-0", "init-0", "debugger", "missing", "")
		value := choose(g, g.badBase, goodAppArmorAnnotations, badAppArmorAnnotations)
		pod.Annotations[corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix+target] = value
		if g.chance(0.2) {
			pod.Annotations["apparmor.security.beta.kubernetes.io/app-0"] = "unconfined" // not the annotation prefix
		}
	}
	if g.chance(0.1) {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations["seccomp.security.alpha.kubernetes.io/pod"] = pick(g, "unconfined", "runtime/default")
		pod.Annotations["container.seccomp.security.alpha.kubernetes.io/app-0"] = "unconfined"
	}

	// volumes
	for i := range g.r.IntN(4) {
		src := restrictedVolume(g)
		switch {
		case g.chance(g.badBase):
			src = hostPathVolume(g)
		case g.chance(g.badRestricted):
			src = otherVolume(g)
		}
		s.Volumes = append(s.Volumes, corev1.Volume{Name: fmt.Sprintf("vol-%d", i), VolumeSource: src})
	}
	return pod
}

// podSCIsEmpty reports a pod securityContext with no field set.
func podSCIsEmpty(sc *corev1.PodSecurityContext) bool {
	js, _ := json.Marshal(sc)
	return string(js) == "{}"
}

func (g *gen) container(name string) corev1.Container {
	c := corev1.Container{Name: name, Image: pick(g, "registry.example.com/app:1.0", "nginx", "busybox:latest")}
	sc := &corev1.SecurityContext{}

	sc.Privileged = choose(g, g.badBase, []*bool{nil, nil, ptr(false)}, []*bool{ptr(true)})
	sc.AllowPrivilegeEscalation = choose(g, g.badRestricted, []*bool{ptr(false)}, []*bool{nil, ptr(true)})

	drop := choose(g, g.badRestricted, goodDrops, badDrops)
	var add []corev1.Capability
	if g.chance(0.2) {
		add = append(add, "NET_BIND_SERVICE")
	}
	if g.chance(g.badRestricted) {
		add = append(add, pick(g, baselineCaps...))
	}
	if g.chance(g.badBase) {
		add = append(add, pick(g, forbiddenCaps...))
	}
	if g.chance(0.3) {
		g.r.Shuffle(len(add), func(i, j int) { add[i], add[j] = add[j], add[i] })
	}
	if drop != nil || add != nil || g.chance(0.1) {
		sc.Capabilities = &corev1.Capabilities{Add: add, Drop: drop}
	}

	sc.ProcMount = choose(g, g.badBase, goodProcMount, badProcMount)
	if g.hostUsers != nil && !*g.hostUsers && g.chance(g.badRestricted) {
		sc.ProcMount = ptr(corev1.UnmaskedProcMount) // allowed by baseline in a user namespace
	}

	if g.podRunAsNonRoot {
		sc.RunAsNonRoot = choose(g, g.badRestricted, []*bool{nil, nil, ptr(true)}, []*bool{ptr(false)})
	} else {
		sc.RunAsNonRoot = choose(g, g.badRestricted, []*bool{ptr(true)}, []*bool{nil, ptr(false)})
	}
	sc.RunAsUser = choose(g, g.badRestricted, []*int64{nil, nil, nil, ptr(int64(1000))}, []*int64{ptr(int64(0))})

	if g.podSec {
		sc.SeccompProfile = pick(g, append([]*corev1.SeccompProfile{nil, nil, nil}, goodSeccomp...)...)
	} else {
		sc.SeccompProfile = choose(g, g.badRestricted, goodSeccomp, []*corev1.SeccompProfile{nil})
	}
	if g.chance(g.badBase) {
		sc.SeccompProfile = pick(g, forbiddenSecomp...)
	}

	sc.SELinuxOptions = choose(g, g.badBase, goodSELinux, badSELinux)
	sc.AppArmorProfile = choose(g, g.badBase, goodAppArmor, badAppArmor)
	sc.WindowsOptions = choose(g, g.badBase, goodWindows, badWindows)
	if g.chance(0.3) {
		sc.ReadOnlyRootFilesystem = ptr(g.chance(0.5))
	}
	if (*sc == corev1.SecurityContext{}) && g.chance(0.5) {
		sc = nil
	}
	c.SecurityContext = sc

	// ports
	if g.chance(0.4) {
		c.Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
		if g.chance(0.5) {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: 9090, HostPort: 0})
		}
		if g.chance(g.badBase) {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: 80, HostPort: pick(g, int32(80), 8080, -1)})
		}
	}

	// probes and lifecycle hooks
	for _, p := range []**corev1.Probe{&c.LivenessProbe, &c.ReadinessProbe, &c.StartupProbe} {
		if g.chance(0.3) {
			*p = &corev1.Probe{ProbeHandler: g.probeHandler()}
		}
	}
	if g.chance(0.3) {
		c.Lifecycle = &corev1.Lifecycle{}
		if g.chance(0.5) {
			c.Lifecycle.PostStart = g.lifecycleHandler()
		}
		if g.chance(0.5) {
			c.Lifecycle.PreStop = g.lifecycleHandler()
		}
	}
	return c
}

func (g *gen) host() string {
	return choose(g, g.badBase, []string{""}, []string{"10.0.0.1", "localhost", "metadata.google.internal"})
}

func (g *gen) probeHandler() corev1.ProbeHandler {
	switch g.r.IntN(4) {
	case 0:
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Host: g.host()}}
	case 1:
		return corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: g.host()}}
	case 2:
		return corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}
	}
	return corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}
}

func (g *gen) lifecycleHandler() *corev1.LifecycleHandler {
	switch g.r.IntN(4) {
	case 0:
		return &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hook", Host: g.host()}}
	case 1:
		return &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Host: g.host()}}
	case 2:
		return &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}
	}
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}
}
