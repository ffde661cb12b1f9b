package checks_test

import (
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// restrictedPairs maps each restricted-only upstream check (latest version) to the Bulwark
// check that stands for it.
var restrictedPairs = []struct {
	psa  policy.Check
	ours string
}{
	{policy.CheckRunAsNonRoot(), "run-as-non-root"},
	{policy.CheckRunAsUser(), "run-as-user"},
	{policy.CheckAllowPrivilegeEscalation(), "privilege-escalation"},
	{policy.CheckCapabilitiesRestricted(), "drop-capabilities"},
	{policy.CheckSeccompProfileRestricted(), "seccomp-required"},
	{policy.CheckRestrictedVolumes(), "volume-types"},
}

// restrictedSettings is the restricted profile as the checks declare it (Profiles.Restricted),
// with the strict procMount rule the profile adds.
func restrictedSettings(t *testing.T) *checks.Settings {
	t.Helper()
	actions := map[string]checks.Action{}
	for _, c := range checks.All() {
		if a := c.Profiles.Restricted; a != "" {
			actions[c.ID] = a
		}
	}
	if len(actions) < 20 {
		t.Fatalf("the restricted profile declares only %d checks", len(actions))
	}
	s, err := checks.Compile(actions, checks.Params{StrictProcMount: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRestrictedParity requires, on every fixture and on every generated edge case, the same
// verdict as upstream from each restricted check alone, and from the whole restricted set
// (which exercises Supersedes against upstream's overrides of baseline checks).
func TestRestrictedParity(t *testing.T) {
	pods := map[string]*podspec.Pod{}
	files := podFixtureFiles(t)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		pods[file] = decodeManifest(t, file, data)
	}
	for name, pod := range restrictedEdgeCases() {
		pods[name] = pod
	}
	if len(pods) < 1000 {
		t.Errorf("only %d pods: the case builders are broken", len(pods))
	}

	for _, p := range restrictedPairs {
		s, err := checks.Compile(map[string]checks.Action{p.ours: checks.Enforce}, checks.Params{})
		if err != nil {
			t.Fatal(err)
		}
		latest := p.psa.Versions[len(p.psa.Versions)-1].CheckPod
		for name, pod := range pods {
			want := latest(&pod.Meta, &pod.Spec)
			got := s.Evaluate(pod)
			if denied := len(got) > 0; denied == want.Allowed {
				t.Errorf("%s: %s: Bulwark denied=%v, upstream allowed=%v (%s)\n%s",
					p.psa.ID, name, denied, want.Allowed, want.ForbiddenDetail, render(got))
			}
		}
	}

	t.Run("profile", func(t *testing.T) {
		s := restrictedSettings(t)
		upstream, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
		if err != nil {
			t.Fatal(err)
		}
		lv := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
		for name, pod := range pods {
			agg := policy.AggregateCheckResults(upstream.EvaluatePod(lv, &pod.Meta, &pod.Spec))
			got := s.Evaluate(pod)
			if denied := len(got) > 0; denied == agg.Allowed {
				t.Errorf("%s: Bulwark denied=%v, upstream allowed=%v (%s)\n%s",
					name, denied, agg.Allowed, agg.ForbiddenDetail(), render(got))
			}
		}
	})
}

// restrictedEdgeCases builds pods that each vary one restricted setting, at pod level or in
// one container of each kind, on Linux and Windows and in and out of a user namespace.
// Upstream is the oracle: no case says what the verdict should be.
func restrictedEdgeCases() map[string]*podspec.Pod {
	type edit func(*corev1.PodSpec)
	var names []string
	var edits []edit
	add := func(name string, e edit) { names, edits = append(names, name), append(edits, e) }
	// container adds a case per container kind; f edits the container under test.
	container := func(name string, f func(*corev1.Container)) {
		add("init/"+name, func(s *corev1.PodSpec) { f(&s.InitContainers[0]) })
		add("sidecar/"+name, func(s *corev1.PodSpec) { f(&s.InitContainers[1]) })
		add("container/"+name, func(s *corev1.PodSpec) { f(&s.Containers[0]) })
		add("ephemeral/"+name, func(s *corev1.PodSpec) {
			f((*corev1.Container)(&s.EphemeralContainers[0].EphemeralContainerCommon))
		})
	}
	// every container of the pod; with the pod-level edit, what "compliant" looks like
	all := func(f func(*corev1.Container)) edit {
		return func(s *corev1.PodSpec) {
			for i := range s.InitContainers {
				f(&s.InitContainers[i])
			}
			for i := range s.Containers {
				f(&s.Containers[i])
			}
			for i := range s.EphemeralContainers {
				f((*corev1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon))
			}
		}
	}
	compliant := func(s *corev1.PodSpec) {
		podSC(s).RunAsNonRoot = ptrTo(true)
		podSC(s).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
		all(func(c *corev1.Container) {
			containerSC(c).AllowPrivilegeEscalation = ptrTo(false)
			containerSC(c).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
		})(s)
	}
	// each case is tried on an empty pod and on an otherwise compliant one
	both := func(name string, e edit) {
		add("bare "+name, e)
		add("compliant "+name, func(s *corev1.PodSpec) { compliant(s); e(s) })
	}

	both("nothing", func(*corev1.PodSpec) {})

	// runAsNonRoot and runAsUser
	for _, v := range []*bool{nil, ptrTo(true), ptrTo(false)} {
		both(fmt.Sprintf("pod runAsNonRoot=%s", showPtr(v)), func(s *corev1.PodSpec) { podSC(s).RunAsNonRoot = v })
		both(fmt.Sprintf("all runAsNonRoot=%s", showPtr(v)), all(func(c *corev1.Container) { containerSC(c).RunAsNonRoot = v }))
		container(fmt.Sprintf("runAsNonRoot=%s", showPtr(v)), func(c *corev1.Container) { containerSC(c).RunAsNonRoot = v })
		for _, w := range []*bool{ptrTo(true), ptrTo(false)} {
			for _, kind := range []string{"init", "sidecar", "container", "ephemeral"} {
				k := kind
				add(fmt.Sprintf("%s: pod runAsNonRoot=%s, rest true, runAsNonRoot=%s", k, showPtr(v), showPtr(w)), func(s *corev1.PodSpec) {
					podSC(s).RunAsNonRoot = v
					all(func(c *corev1.Container) { containerSC(c).RunAsNonRoot = ptrTo(true) })(s)
					containerSC(pickContainer(s, k)).RunAsNonRoot = w
				})
			}
		}
	}
	for _, uid := range []int64{0, 1, 1000} {
		both(fmt.Sprintf("pod runAsUser=%d", uid), func(s *corev1.PodSpec) { podSC(s).RunAsUser = ptrTo(uid) })
		container(fmt.Sprintf("runAsUser=%d", uid), func(c *corev1.Container) { containerSC(c).RunAsUser = ptrTo(uid) })
	}

	// allowPrivilegeEscalation
	for _, v := range []*bool{nil, ptrTo(true), ptrTo(false)} {
		both(fmt.Sprintf("all allowPrivilegeEscalation=%s", showPtr(v)), all(func(c *corev1.Container) { containerSC(c).AllowPrivilegeEscalation = v }))
		for _, kind := range []string{"init", "sidecar", "container", "ephemeral"} {
			k := kind
			add(fmt.Sprintf("compliant %s allowPrivilegeEscalation=%s", k, showPtr(v)), func(s *corev1.PodSpec) {
				compliant(s)
				containerSC(pickContainer(s, k)).AllowPrivilegeEscalation = v
			})
		}
	}

	// capabilities
	drops := [][]corev1.Capability{nil, {}, {"ALL"}, {"all"}, {"All"}, {"CAP_ALL"}, {"NET_RAW"}, {"NET_RAW", "ALL"}, {" ALL"}}
	adds := []corev1.Capability{"NET_BIND_SERVICE", "net_bind_service", "CAP_NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN", "ALL", ""}
	for _, d := range drops {
		for _, kind := range []string{"init", "sidecar", "container", "ephemeral"} {
			k := kind
			add(fmt.Sprintf("compliant %s drop=%q", k, d), func(s *corev1.PodSpec) {
				compliant(s)
				containerSC(pickContainer(s, k)).Capabilities = &corev1.Capabilities{Drop: d}
			})
			for _, a := range adds {
				add(fmt.Sprintf("compliant %s drop=%q add=%q", k, d, a), func(s *corev1.PodSpec) {
					compliant(s)
					containerSC(pickContainer(s, k)).Capabilities = &corev1.Capabilities{Drop: d, Add: []corev1.Capability{a}}
				})
			}
		}
	}
	container("capabilities={}", func(c *corev1.Container) { containerSC(c).Capabilities = &corev1.Capabilities{} })
	container("securityContext={}", func(c *corev1.Container) { containerSC(c) })

	// seccomp
	types := []*corev1.SeccompProfileType{nil, ptrTo(corev1.SeccompProfileTypeRuntimeDefault), ptrTo(corev1.SeccompProfileTypeLocalhost),
		ptrTo(corev1.SeccompProfileTypeUnconfined), ptrTo(corev1.SeccompProfileType("")), ptrTo(corev1.SeccompProfileType("runtimedefault"))}
	profile := func(t *corev1.SeccompProfileType) *corev1.SeccompProfile {
		if t == nil {
			return nil
		}
		return &corev1.SeccompProfile{Type: *t}
	}
	for _, pt := range types {
		for _, ct := range types {
			for _, kind := range []string{"init", "sidecar", "container", "ephemeral"} {
				k := kind
				add(fmt.Sprintf("pod seccomp=%s, rest RuntimeDefault, %s seccomp=%s", showPtr(pt), k, showPtr(ct)), func(s *corev1.PodSpec) {
					podSC(s).SeccompProfile = profile(pt)
					all(func(c *corev1.Container) {
						containerSC(c).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
					})(s)
					containerSC(pickContainer(s, k)).SeccompProfile = profile(ct)
				})
				add(fmt.Sprintf("pod seccomp=%s, %s seccomp=%s", showPtr(pt), k, showPtr(ct)), func(s *corev1.PodSpec) {
					podSC(s).SeccompProfile = profile(pt)
					containerSC(pickContainer(s, k)).SeccompProfile = profile(ct)
				})
			}
		}
	}

	// volumes: every source, and none
	sources := map[string]corev1.VolumeSource{
		"none":                  {},
		"configMap":             {ConfigMap: &corev1.ConfigMapVolumeSource{}},
		"csi":                   {CSI: &corev1.CSIVolumeSource{}},
		"downwardAPI":           {DownwardAPI: &corev1.DownwardAPIVolumeSource{}},
		"emptyDir":              {EmptyDir: &corev1.EmptyDirVolumeSource{}},
		"ephemeral":             {Ephemeral: &corev1.EphemeralVolumeSource{}},
		"image":                 {Image: &corev1.ImageVolumeSource{}},
		"persistentVolumeClaim": {PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}},
		"projected":             {Projected: &corev1.ProjectedVolumeSource{}},
		"secret":                {Secret: &corev1.SecretVolumeSource{}},
		"hostPath":              {HostPath: &corev1.HostPathVolumeSource{}},
		"gcePersistentDisk":     {GCEPersistentDisk: &corev1.GCEPersistentDiskVolumeSource{}},
		"awsElasticBlockStore":  {AWSElasticBlockStore: &corev1.AWSElasticBlockStoreVolumeSource{}},
		"gitRepo":               {GitRepo: &corev1.GitRepoVolumeSource{}},
		"nfs":                   {NFS: &corev1.NFSVolumeSource{}},
		"iscsi":                 {ISCSI: &corev1.ISCSIVolumeSource{}},
		"glusterfs":             {Glusterfs: &corev1.GlusterfsVolumeSource{}},
		"rbd":                   {RBD: &corev1.RBDVolumeSource{}},
		"flexVolume":            {FlexVolume: &corev1.FlexVolumeSource{}},
		"cinder":                {Cinder: &corev1.CinderVolumeSource{}},
		"cephfs":                {CephFS: &corev1.CephFSVolumeSource{}},
		"flocker":               {Flocker: &corev1.FlockerVolumeSource{}},
		"fc":                    {FC: &corev1.FCVolumeSource{}},
		"azureFile":             {AzureFile: &corev1.AzureFileVolumeSource{}},
		"vsphereVolume":         {VsphereVolume: &corev1.VsphereVirtualDiskVolumeSource{}},
		"quobyte":               {Quobyte: &corev1.QuobyteVolumeSource{}},
		"azureDisk":             {AzureDisk: &corev1.AzureDiskVolumeSource{}},
		"photonPersistentDisk":  {PhotonPersistentDisk: &corev1.PhotonPersistentDiskVolumeSource{}},
		"portworxVolume":        {PortworxVolume: &corev1.PortworxVolumeSource{}},
		"scaleIO":               {ScaleIO: &corev1.ScaleIOVolumeSource{}},
		"storageos":             {StorageOS: &corev1.StorageOSVolumeSource{}},
		"secret+hostPath":       {Secret: &corev1.SecretVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{}},
	}
	for name, src := range sources {
		both("volume "+name, func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "ok", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, {Name: "v", VolumeSource: src}}
		})
	}

	out := map[string]*podspec.Pod{}
	for i, e := range edits {
		for _, windows := range []bool{false, true} {
			for _, hostUsers := range []*bool{nil, ptrTo(true), ptrTo(false)} {
				always := corev1.ContainerRestartPolicyAlways
				pod := &podspec.Pod{
					GroupKind:   schema.GroupKind{Kind: "Pod"},
					HasTemplate: true,
					Spec: corev1.PodSpec{
						HostUsers: hostUsers,
						InitContainers: []corev1.Container{
							{Name: "init", Image: "registry.example.com/init:1.0"},
							{Name: "sidecar", Image: "registry.example.com/sidecar:1.0", RestartPolicy: &always},
						},
						Containers:          []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0"}},
						EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "registry.example.com/debugger:1.0"}}},
					},
				}
				name := names[i]
				if windows {
					pod.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
					name += " (windows)"
				}
				if hostUsers != nil {
					name += fmt.Sprintf(" (hostUsers=%v)", *hostUsers)
				}
				e(&pod.Spec)
				out[name] = pod
			}
		}
	}
	return out
}

func pickContainer(s *corev1.PodSpec, kind string) *corev1.Container {
	switch kind {
	case "init":
		return &s.InitContainers[0]
	case "sidecar":
		return &s.InitContainers[1]
	case "ephemeral":
		return (*corev1.Container)(&s.EphemeralContainers[0].EphemeralContainerCommon)
	}
	return &s.Containers[0]
}

func ptrTo[T any](v T) *T { return &v }

func showPtr[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprintf("%q", fmt.Sprint(*p))
}
