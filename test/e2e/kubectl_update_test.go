package e2e

// Updates, driven by the real kubectl against the real apiserver: `kubectl debug` adding
// ephemeral containers through pods/ephemeralcontainers, `kubectl patch` and `kubectl set`
// introducing a violation into an admitted pod template, and updates that change only
// metadata. A denied update must leave the stored object exactly as it was.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// The prefix of every denial kubectl prints for a request Bulwark's validating webhook refused.
const webhookDenied = `admission webhook "validate.bulwark.dev" denied the request: `

// mustKubectl runs kubectl and fails the test when kubectl fails.
func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// manifestFile writes a manifest to a file of the test's temporary directory and returns its path.
func manifestFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// createNamespace creates a namespace.
func createNamespace(t *testing.T, name string) {
	t.Helper()
	mustKubectl(t, "create", "namespace", name)
}

// wantDenied asserts that kubectl failed because Bulwark denied the request, and that the
// message holds each of the violation lines: "[check] field: " at the start of a line.
func wantDenied(t *testing.T, out string, err error, header string, lines ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("admitted, want a denial:\n%s", out)
		return
	}
	if !strings.Contains(out, webhookDenied+header) {
		t.Errorf("not a Bulwark denial starting %q:\n%s", webhookDenied+header, out)
	}
	for _, l := range lines {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(l)).MatchString(out) {
			t.Errorf("the denial does not name %q:\n%s", l, out)
		}
	}
}

// object reads an object with kubectl get -o json.
func object(t *testing.T, ns, resource, name string) map[string]any {
	t.Helper()
	out := mustKubectl(t, "get", "-n", ns, resource, name, "-o", "json")
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("decoding %s/%s: %v\n%s", resource, name, err, out)
	}
	return obj
}

// field returns the value at a path of keys and list indexes in a decoded object, or nil.
func field(obj any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := obj.(map[string]any)
			obj = m[k]
		case int:
			l, _ := obj.([]any)
			if k >= len(l) {
				return nil
			}
			obj = l[k]
		}
	}
	return obj
}

// jsonText is v as JSON with sorted keys: equal values give equal text.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stored is what a denied update must leave as it was: the resourceVersion, the generation and
// the pod template.
type stored struct{ resourceVersion, generation, template string }

// templatePath is where each resource keeps its pod template.
var templatePath = map[string][]any{
	"pods":                   {"spec"},
	"deployments":            {"spec", "template"},
	"statefulsets":           {"spec", "template"},
	"daemonsets":             {"spec", "template"},
	"replicasets":            {"spec", "template"},
	"replicationcontrollers": {"spec", "template"},
	"cronjobs":               {"spec", "jobTemplate"},
	"podtemplates":           {"template"},
}

func snapshot(t *testing.T, ns, resource, name string) stored {
	t.Helper()
	path, ok := templatePath[resource]
	if !ok {
		t.Fatalf("no template path for %s", resource)
	}
	obj := object(t, ns, resource, name)
	return stored{
		resourceVersion: fmt.Sprint(field(obj, "metadata", "resourceVersion")),
		generation:      fmt.Sprint(field(obj, "metadata", "generation")),
		template:        jsonText(t, field(obj, path...)),
	}
}

// wantUnchanged asserts that the object is stored exactly as before.
func wantUnchanged(t *testing.T, before stored, ns, resource, name string) {
	t.Helper()
	after := snapshot(t, ns, resource, name)
	if after.resourceVersion != before.resourceVersion || after.generation != before.generation {
		t.Errorf("%s/%s changed after a denied update: resourceVersion %s -> %s, generation %s -> %s",
			resource, name, before.resourceVersion, after.resourceVersion, before.generation, after.generation)
	}
	if after.template != before.template {
		t.Errorf("the pod template of %s/%s changed after a denied update:\nbefore: %s\nafter:  %s",
			resource, name, before.template, after.template)
	}
}

// waitAdmission repeats a server-side dry run until kubectl's verdict is the wanted one: the
// webhook sees namespace labels and policy changes through its caches, a moment after kubectl
// has stored them.
func waitAdmission(t *testing.T, wantAdmitted bool, what string, args ...string) {
	t.Helper()
	args = append(args, "--dry-run=server")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := kubectl(t, args...)
		if (err == nil) == wantAdmitted && (wantAdmitted || strings.Contains(out, webhookDenied)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in force after 30s; kubectl %s:\n%s", what, strings.Join(args, " "), out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostNetworkProbe is a Pod Bulwark denies under the nsa profile and admits in a namespace
// labelled bulwark.dev/mode=warn.
const hostNetworkProbe = `apiVersion: v1
kind: Pod
metadata: {name: mode-probe}
spec:
  hostNetwork: true
  containers:
  - name: app
    image: registry.example.com/app:1.0
`

// setMode sets or removes (mode "") the bulwark.dev/mode label of a namespace and waits until
// the webhook decides by it.
func setMode(t *testing.T, ns, mode string) {
	t.Helper()
	probe := manifestFile(t, "mode-probe.yaml", hostNetworkProbe)
	if mode == "" {
		mustKubectl(t, "label", "namespace", ns, "bulwark.dev/mode-")
		waitAdmission(t, false, "namespace "+ns+" without bulwark.dev/mode", "apply", "-n", ns, "-f", probe)
		return
	}
	mustKubectl(t, "label", "--overwrite", "namespace", ns, "bulwark.dev/mode="+mode)
	waitAdmission(t, true, "namespace "+ns+" with bulwark.dev/mode="+mode, "apply", "-n", ns, "-f", probe)
}

// webPod is a Pod with nothing to deny: the mutating webhook adds the nsa defaults.
const webPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: registry.example.com/web:1.0
`

// TestKubectlDebugEphemeralContainers: kubectl debug adds an ephemeral container to a running
// (here: Pending, there is no kubelet) Pod through the pods/ephemeralcontainers subresource.
// Debug profiles and custom securityContexts that break a check are denied with the check and
// the ephemeral container's field path, and nothing is added; the ones that pass are added,
// with the defaults the mutating webhook sets on new ephemeral containers.
func TestKubectlDebugEphemeralContainers(t *testing.T) {
	const ns = "kubectl-debug"
	createNamespace(t, ns)
	mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "web.yaml", webPod))
	before := object(t, ns, "pods", "web")

	debug := func(name string, args ...string) (string, error) {
		return kubectl(t, append([]string{"debug", "-n", ns, "web", "--image=busybox:1.36", "--attach=false", "-c", name}, args...)...)
	}
	header := `Pod "web" violates 1 Bulwark check (ConfigMap bulwark-system/bulwark-policy):`

	t.Run("sysadmin", func(t *testing.T) {
		out, err := debug("dbg-sysadmin", "--profile=sysadmin")
		wantDenied(t, out, err, header,
			`[privileged] spec.ephemeralContainers[0].securityContext.privileged: ephemeral container "dbg-sysadmin" runs privileged`)
		if !strings.Contains(out, "Error from server (Forbidden): "+webhookDenied) {
			t.Errorf("kubectl does not report a Forbidden error:\n%s", out)
		}
		golden(t, "debug-sysadmin-denied.txt", out)
	})
	t.Run("netadmin", func(t *testing.T) {
		out, err := debug("dbg-netadmin", "--profile=netadmin")
		wantDenied(t, out, err, header,
			`[capabilities] spec.ephemeralContainers[0].securityContext.capabilities.add[0]: ephemeral container "dbg-netadmin" adds capability "NET_ADMIN"`,
			`[capabilities] spec.ephemeralContainers[0].securityContext.capabilities.add[1]: ephemeral container "dbg-netadmin" adds capability "NET_RAW"`)
	})
	// kubectl's default profile, general, adds SYS_PTRACE: outside the baseline list.
	t.Run("default profile", func(t *testing.T) {
		out, err := debug("dbg-general")
		wantDenied(t, out, err, header,
			`[capabilities] spec.ephemeralContainers[0].securityContext.capabilities.add[0]: ephemeral container "dbg-general" adds capability "SYS_PTRACE"`)
		if want := `Fix: remove "SYS_PTRACE" from capabilities.add; with kubectl debug, use --profile=restricted or --profile=baseline, which add no capabilities`; !strings.Contains(out, want) {
			t.Errorf("the denial does not name the debug profiles that work (%q):\n%s", want, out)
		}
	})
	// --custom merges a partial container spec into the debug container: each attempt to get a
	// weaker sandbox through it is denied.
	for i, tc := range []struct{ securityContext, want string }{
		{`{"capabilities":{"add":["CAP_SYS_ADMIN"]}}`, `[capabilities] spec.ephemeralContainers[0].securityContext.capabilities.add[0]: ephemeral container "dbg-custom-0" adds capability "CAP_SYS_ADMIN"`},
		{`{"seLinuxOptions":{"type":"spc_t"}}`, `[selinux] spec.ephemeralContainers[0].securityContext.seLinuxOptions.type: ephemeral container "dbg-custom-1" sets SELinux type "spc_t"`},
		{`{"seccompProfile":{"type":"Unconfined"}}`, `[seccomp] spec.ephemeralContainers[0].securityContext.seccompProfile.type: ephemeral container "dbg-custom-2" sets seccomp profile type "Unconfined"`},
		{`{"appArmorProfile":{"type":"Unconfined"}}`, `[apparmor] spec.ephemeralContainers[0].securityContext.appArmorProfile.type: ephemeral container "dbg-custom-3" sets AppArmor profile type "Unconfined"`},
		{`{"privileged":true,"allowPrivilegeEscalation":true}`, `[privileged] spec.ephemeralContainers[0].securityContext.privileged: ephemeral container "dbg-custom-4" runs privileged`},
	} {
		t.Run("custom "+tc.securityContext, func(t *testing.T) {
			custom := manifestFile(t, "custom.json", `{"securityContext":`+tc.securityContext+`}`)
			out, err := debug(fmt.Sprintf("dbg-custom-%d", i), "--profile=baseline", "--custom="+custom)
			wantDenied(t, out, err, header, tc.want)
		})
	}

	// Admitted: restricted sets everything itself; baseline gets the defaults.
	t.Run("restricted", func(t *testing.T) {
		out, err := debug("dbg-restricted", "--profile=restricted")
		if err != nil {
			t.Fatalf("denied: %v\n%s", err, out)
		}
		if strings.Contains(out, "bulwark set defaults") {
			t.Errorf("defaults set on a container that has them all:\n%s", out)
		}
	})
	t.Run("baseline", func(t *testing.T) {
		out, err := debug("dbg-baseline", "--profile=baseline")
		if err != nil {
			t.Fatalf("denied: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Warning: bulwark set defaults in spec.ephemeralContainers[1].securityContext: allowPrivilegeEscalation=false, capabilities.drop=[ALL]") {
			t.Errorf("no mutation warning for the new ephemeral container:\n%s", out)
		}
	})
	// Denied after others were added: the new container's own violations count, at its index.
	t.Run("sysadmin after admitted ones", func(t *testing.T) {
		out, err := debug("dbg-sysadmin-late", "--profile=sysadmin")
		wantDenied(t, out, err, header,
			`[privileged] spec.ephemeralContainers[2].securityContext.privileged: ephemeral container "dbg-sysadmin-late" runs privileged`)
	})

	after := object(t, ns, "pods", "web")
	var names []string
	eph, _ := field(after, "spec", "ephemeralContainers").([]any)
	for i := range eph {
		names = append(names, fmt.Sprint(field(eph, i, "name")))
	}
	if want := []string{"dbg-restricted", "dbg-baseline"}; !slices.Equal(names, want) {
		t.Errorf("stored ephemeral containers = %v, want %v", names, want)
	}
	for i := range eph {
		sc := field(eph, i, "securityContext")
		if got := jsonText(t, field(sc, "allowPrivilegeEscalation")) + " " + jsonText(t, field(sc, "capabilities")); got != `false {"drop":["ALL"]}` {
			t.Errorf("ephemeral container %v: allowPrivilegeEscalation and capabilities = %s", names[i], got)
		}
		if field(sc, "privileged") != nil {
			t.Errorf("ephemeral container %v has privileged: %v", names[i], field(sc, "privileged"))
		}
	}
	if got := jsonText(t, field(eph, 0, "securityContext")); got != `{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}` {
		t.Errorf("dbg-restricted securityContext = %s", got)
	}
	if b, a := jsonText(t, field(before, "spec", "containers")), jsonText(t, field(after, "spec", "containers")); b != a {
		t.Errorf("the pod's containers changed:\nbefore: %s\nafter:  %s", b, a)
	}
}

// TestKubectlDebugCopyAndNode: the other two kinds of kubectl debug create a Pod, which is
// evaluated as any other: a privileged copy of a Pod, and a node debugging Pod (host
// namespaces and the node's root file system) are denied; a restricted node debugging Pod,
// which has neither, is admitted.
func TestKubectlDebugCopyAndNode(t *testing.T) {
	const ns = "kubectl-debug-copy"
	createNamespace(t, ns)
	mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "web.yaml", webPod))
	// There is no kubelet: a Node object is all kubectl debug node/ needs.
	mustKubectl(t, "apply", "-f", manifestFile(t, "node.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: debug-node-1}\n"))

	out, err := kubectl(t, "debug", "-n", ns, "web", "--copy-to=web-copy", "--image=busybox:1.36", "--profile=sysadmin", "--attach=false", "-c", "dbg")
	wantDenied(t, out, err, `Pod "web-copy" violates 1 Bulwark check`,
		`[privileged] spec.containers[1].securityContext.privileged: container "dbg" runs privileged`)
	if out, err := kubectl(t, "get", "-n", ns, "pod", "web-copy"); err == nil {
		t.Errorf("the denied copy exists:\n%s", out)
	}

	out, err = kubectl(t, "debug", "-n", ns, "node/debug-node-1", "--image=busybox:1.36", "--profile=sysadmin", "--attach=false")
	wantDenied(t, out, err, `Pod "node-debugger-debug-node-1-`,
		`[host-ipc] spec.hostIPC: `,
		`[host-network] spec.hostNetwork: `,
		`[host-path] spec.volumes[0].hostPath: volume "host-root" mounts "/"`,
		`[host-pid] spec.hostPID: `,
		`[privileged] spec.containers[0].securityContext.privileged: container "debugger" runs privileged`)
	if !regexp.MustCompile(`Pod "node-debugger-debug-node-1-[a-z0-9]+" violates 5 Bulwark checks`).MatchString(out) {
		t.Errorf("not 5 checks:\n%s", out)
	}

	out, err = kubectl(t, "debug", "-n", ns, "node/debug-node-1", "--image=busybox:1.36", "--profile=restricted", "--attach=false")
	if err != nil {
		t.Fatalf("restricted node debugging denied: %v\n%s", err, out)
	}
	pods := mustKubectl(t, "get", "-n", ns, "pods", "-o", "custom-columns=NAME:.metadata.name,HOSTPID:.spec.hostPID,HOSTNETWORK:.spec.hostNetwork", "--no-headers")
	var debuggers []string
	for _, line := range strings.Split(strings.TrimSpace(pods), "\n") {
		if strings.HasPrefix(line, "node-debugger-") {
			debuggers = append(debuggers, line)
		}
	}
	if len(debuggers) != 1 || !regexp.MustCompile(`^node-debugger-debug-node-1-[a-z0-9]+ +<none> +<none>$`).MatchString(debuggers[0]) {
		t.Errorf("want exactly the restricted node debugging pod, without host namespaces:\n%s", pods)
	}
}

// legacyAgent is a Pod created while its namespace only warned: it shares the node's PID
// namespace and has the node's root file system as a volume, which none of its containers
// mounts.
const legacyAgent = `apiVersion: v1
kind: Pod
metadata: {name: agent}
spec:
  hostPID: true
  volumes:
  - name: host-root
    hostPath: {path: /}
  containers:
  - name: agent
    image: registry.example.com/agent:1.0
`

// TestKubectlDebugPreexistingViolations: a Pod admitted while its namespace had
// bulwark.dev/mode=warn keeps its violations once the label is gone. What the Pod grants every
// container (the node's PID namespace, the node's root file system as a volume) counts again
// for a new ephemeral container, which would share it: even a restricted debug container is
// denied, and so is one that mounts the hostPath volume as root, and nothing is added.
func TestKubectlDebugPreexistingViolations(t *testing.T) {
	const ns = "kubectl-debug-legacy"
	createNamespace(t, ns)
	setMode(t, ns, "warn")
	out := mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "agent.yaml", legacyAgent))
	if !strings.Contains(out, "Warning: [host-pid] spec.hostPID: ") || !strings.Contains(out, "Warning: [host-path] spec.volumes[0].hostPath: ") {
		t.Fatalf("the agent was not admitted with warnings:\n%s", out)
	}
	setMode(t, ns, "")

	debug := func(name string, args ...string) (string, error) {
		return kubectl(t, append([]string{"debug", "-n", ns, "agent", "--image=busybox:1.36", "--attach=false", "-c", name}, args...)...)
	}
	pod := `[host-path] spec.volumes[0].hostPath: volume "host-root" mounts "/" from the node's file system`
	out, err := debug("dbg-restricted", "--profile=restricted")
	wantDenied(t, out, err, `Pod "agent" violates 2 Bulwark checks (ConfigMap bulwark-system/bulwark-policy):`,
		pod, `[host-pid] spec.hostPID: `)
	out, err = debug("dbg-sysadmin", "--profile=sysadmin")
	wantDenied(t, out, err, `Pod "agent" violates 3 Bulwark checks (ConfigMap bulwark-system/bulwark-policy):`,
		pod, `[host-pid] spec.hostPID: `,
		`[privileged] spec.ephemeralContainers[0].securityContext.privileged: ephemeral container "dbg-sysadmin" runs privileged`)

	// Root, with the node's / mounted read-write.
	custom := manifestFile(t, "mount.json", `{"volumeMounts":[{"name":"host-root","mountPath":"/host"}],"securityContext":{"runAsNonRoot":false,"runAsUser":0}}`)
	out, err = debug("dbg-host-root", "--profile=baseline", "--custom="+custom, "--", "sh", "-c", "echo x >> /host/etc/crontab")
	wantDenied(t, out, err, `Pod "agent" violates `, pod)

	if eph := field(object(t, ns, "pods", "agent"), "spec", "ephemeralContainers"); eph != nil {
		t.Errorf("ephemeral containers were added to the agent: %v", eph)
	}
}

// appDeployment and the other workloads below are admitted under the nsa profile: a pinned
// image from a registry and no securityContext, which the mutating webhook fills in.
const appDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: registry.example.com/app:1.0
`

// patchCase is one kubectl patch and the violation lines its denial must hold.
type patchCase struct {
	name, patchType, patch string
	header                 string
	want                   []string
}

// runPatches applies each patch to resource/name; each must be denied and leave the object
// as it was stored.
func runPatches(t *testing.T, ns, resource, name string, cases []patchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, ns, resource, name)
			out, err := kubectl(t, "patch", "-n", ns, resource, name, "--type="+tc.patchType, "-p", tc.patch)
			wantDenied(t, out, err, tc.header, tc.want...)
			if !strings.Contains(out, "Error from server (Forbidden): "+webhookDenied) {
				t.Errorf("kubectl does not report a Forbidden error:\n%s", out)
			}
			wantUnchanged(t, before, ns, resource, name)
		})
	}
}

// TestKubectlPatchDeployment: strategic merge, JSON and merge patches, client-side and
// server-side apply, each introducing one violation into an admitted Deployment, are denied
// naming the check and the field; the Deployment is stored as before. A harmless patch is
// admitted and keeps the defaults.
func TestKubectlPatchDeployment(t *testing.T) {
	const ns = "kubectl-patch"
	createNamespace(t, ns)
	manifest := manifestFile(t, "web.yaml", appDeployment)
	mustKubectl(t, "apply", "-n", ns, "-f", manifest)
	header := `Deployment "web" violates 1 Bulwark check (ConfigMap bulwark-system/bulwark-policy):`
	c0 := "spec.template.spec.containers[0]."

	runPatches(t, ns, "deployments", "web", []patchCase{
		// allowPrivilegeEscalation: true as well: the stored false (a default) and privileged
		// together are invalid, and the apiserver would refuse that before Bulwark sees it.
		{"strategic privileged", "strategic", `{"spec":{"template":{"spec":{"containers":[{"name":"app","securityContext":{"privileged":true,"allowPrivilegeEscalation":true}}]}}}}`,
			header, []string{`[privileged] ` + c0 + `securityContext.privileged: container "app" runs privileged`}},
		{"json privileged", "json", `[{"op":"replace","path":"/spec/template/spec/containers/0/securityContext","value":{"privileged":true}}]`,
			header, []string{`[privileged] ` + c0 + `securityContext.privileged: container "app" runs privileged`}},
		{"strategic hostNetwork", "strategic", `{"spec":{"template":{"spec":{"hostNetwork":true}}}}`,
			header, []string{`[host-network] spec.template.spec.hostNetwork: `}},
		{"json hostNetwork", "json", `[{"op":"add","path":"/spec/template/spec/hostNetwork","value":true}]`,
			header, []string{`[host-network] spec.template.spec.hostNetwork: `}},
		{"strategic hostPath", "strategic", `{"spec":{"template":{"spec":{"volumes":[{"name":"node-root","hostPath":{"path":"/"}}],"containers":[{"name":"app","volumeMounts":[{"name":"node-root","mountPath":"/host"}]}]}}}}`,
			header, []string{`[host-path] spec.template.spec.volumes[0].hostPath: volume "node-root" mounts "/"`}},
		{"json hostPath", "json", `[{"op":"add","path":"/spec/template/spec/volumes","value":[{"name":"docker-sock","hostPath":{"path":"/var/run/docker.sock"}}]}]`,
			header, []string{`[host-path] spec.template.spec.volumes[0].hostPath: volume "docker-sock" mounts "/var/run/docker.sock"`}},
		{"strategic capabilities", "strategic", `{"spec":{"template":{"spec":{"containers":[{"name":"app","securityContext":{"capabilities":{"add":["NET_ADMIN"]}}}]}}}}`,
			header, []string{`[capabilities] ` + c0 + `securityContext.capabilities.add[0]: container "app" adds capability "NET_ADMIN"`}},
		{"json capabilities", "json", `[{"op":"add","path":"/spec/template/spec/containers/0/securityContext/capabilities/add","value":["SYS_PTRACE"]}]`,
			header, []string{`[capabilities] ` + c0 + `securityContext.capabilities.add[0]: container "app" adds capability "SYS_PTRACE"`}},
		{"merge hostPID", "merge", `{"spec":{"template":{"spec":{"hostPID":true}}}}`,
			header, []string{`[host-pid] spec.template.spec.hostPID: `}},
		{"strategic AppArmor annotation", "strategic", `{"spec":{"template":{"metadata":{"annotations":{"container.apparmor.security.beta.kubernetes.io/app":"unconfined"}}}}}`,
			header, []string{`[apparmor] spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]: `}},
		{"json two violations", "json", `[{"op":"add","path":"/spec/template/spec/hostIPC","value":true},{"op":"add","path":"/spec/template/spec/containers/0/ports","value":[{"containerPort":80,"hostPort":80}]}]`,
			`Deployment "web" violates 2 Bulwark checks (ConfigMap bulwark-system/bulwark-policy):`,
			[]string{`[host-ipc] spec.template.spec.hostIPC: `, `[host-ports] ` + c0 + `ports[0].hostPort: `}},
	})

	// kubectl apply of the edited manifest: client-side (a patch) and server-side.
	violating := strings.Replace(appDeployment, "    spec:\n", "    spec:\n      hostNetwork: true\n", 1)
	edited := manifestFile(t, "web-hostnetwork.yaml", violating)
	for _, mode := range [][]string{{}, {"--server-side", "--force-conflicts"}} {
		t.Run("apply "+strings.Join(mode, " "), func(t *testing.T) {
			before := snapshot(t, ns, "deployments", "web")
			out, err := kubectl(t, append([]string{"apply", "-n", ns, "-f", edited}, mode...)...)
			wantDenied(t, out, err, header, `[host-network] spec.template.spec.hostNetwork: `)
			wantUnchanged(t, before, ns, "deployments", "web")
		})
	}

	t.Run("harmless patch", func(t *testing.T) {
		before := snapshot(t, ns, "deployments", "web")
		out, err := kubectl(t, "patch", "-n", ns, "deployment", "web", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/app:1.1"}]}}}}`)
		if err != nil {
			t.Fatalf("denied: %v\n%s", err, out)
		}
		obj := object(t, ns, "deployments", "web")
		if g := fmt.Sprint(field(obj, "metadata", "generation")); g == before.generation {
			t.Errorf("generation still %s after the patch", g)
		}
		c := field(obj, "spec", "template", "spec", "containers", 0)
		if got := jsonText(t, field(c, "image")) + " " + jsonText(t, field(c, "securityContext")); got != `"registry.example.com/app:1.1" {"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}` {
			t.Errorf("stored container after the patch: %s", got)
		}
		if got := jsonText(t, field(obj, "spec", "template", "spec", "securityContext")); got != `{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}` {
			t.Errorf("stored pod securityContext after the patch: %s", got)
		}
	})
}

// The other workload kinds, each admitted first.
const otherWorkloads = `apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: app
            image: registry.example.com/report:1.0
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: app
        image: registry.example.com/db:1.0
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: app
        image: registry.example.com/agent:1.0
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers:
      - name: app
        image: registry.example.com/legacy:1.0
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: front}
spec:
  selector: {matchLabels: {app: front}}
  template:
    metadata: {labels: {app: front}}
    spec:
      containers:
      - name: app
        image: registry.example.com/front:1.0
---
apiVersion: v1
kind: PodTemplate
metadata: {name: batch}
template:
  spec:
    containers:
    - name: app
      image: registry.example.com/batch:1.0
`

// TestKubectlPatchWorkloadKinds: the same for a CronJob's job template, a StatefulSet, a
// DaemonSet, a ReplicationController, a ReplicaSet and a PodTemplate; then a harmless image
// change to each is admitted.
func TestKubectlPatchWorkloadKinds(t *testing.T) {
	const ns = "kubectl-patch-kinds"
	createNamespace(t, ns)
	mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "workloads.yaml", otherWorkloads))
	header := func(kind, name string, n int) string {
		checks := "checks"
		if n == 1 {
			checks = "check"
		}
		return fmt.Sprintf(`%s %q violates %d Bulwark %s (ConfigMap bulwark-system/bulwark-policy):`, kind, name, n, checks)
	}

	t.Run("cronjob", func(t *testing.T) {
		runPatches(t, ns, "cronjobs", "report", []patchCase{
			{"json privileged", "json", `[{"op":"replace","path":"/spec/jobTemplate/spec/template/spec/containers/0/securityContext","value":{"privileged":true}}]`,
				header("CronJob", "report", 1), []string{`[privileged] spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged: container "app" runs privileged`}},
			{"strategic hostNetwork", "strategic", `{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"hostNetwork":true}}}}}}`,
				header("CronJob", "report", 1), []string{`[host-network] spec.jobTemplate.spec.template.spec.hostNetwork: `}},
		})
	})
	t.Run("statefulset", func(t *testing.T) {
		runPatches(t, ns, "statefulsets", "db", []patchCase{
			{"strategic hostPath", "strategic", `{"spec":{"template":{"spec":{"volumes":[{"name":"data","hostPath":{"path":"/var/lib/db"}}]}}}}`,
				header("StatefulSet", "db", 1), []string{`[host-path] spec.template.spec.volumes[0].hostPath: volume "data" mounts "/var/lib/db"`}},
		})
	})
	t.Run("daemonset", func(t *testing.T) {
		runPatches(t, ns, "daemonsets", "agent", []patchCase{
			{"merge hostPID and hostIPC", "merge", `{"spec":{"template":{"spec":{"hostPID":true,"hostIPC":true}}}}`,
				header("DaemonSet", "agent", 2), []string{`[host-ipc] spec.template.spec.hostIPC: `, `[host-pid] spec.template.spec.hostPID: `}},
		})
	})
	t.Run("replicationcontroller", func(t *testing.T) {
		runPatches(t, ns, "replicationcontrollers", "legacy", []patchCase{
			{"strategic SYS_ADMIN", "strategic", `{"spec":{"template":{"spec":{"containers":[{"name":"app","securityContext":{"allowPrivilegeEscalation":true,"capabilities":{"add":["SYS_ADMIN"]}}}]}}}}`,
				header("ReplicationController", "legacy", 1), []string{`[capabilities] spec.template.spec.containers[0].securityContext.capabilities.add[0]: container "app" adds capability "SYS_ADMIN"`}},
			{"json hostNetwork", "json", `[{"op":"add","path":"/spec/template/spec/hostNetwork","value":true}]`,
				header("ReplicationController", "legacy", 1), []string{`[host-network] spec.template.spec.hostNetwork: `}},
		})
	})
	t.Run("replicaset", func(t *testing.T) {
		runPatches(t, ns, "replicasets", "front", []patchCase{
			{"json hostPort", "json", `[{"op":"add","path":"/spec/template/spec/containers/0/ports","value":[{"containerPort":8080,"hostPort":8080}]}]`,
				header("ReplicaSet", "front", 1), []string{`[host-ports] spec.template.spec.containers[0].ports[0].hostPort: `}},
		})
	})
	t.Run("podtemplate", func(t *testing.T) {
		runPatches(t, ns, "podtemplates", "batch", []patchCase{
			{"strategic privileged", "strategic", `{"template":{"spec":{"containers":[{"name":"app","securityContext":{"privileged":true,"allowPrivilegeEscalation":true}}]}}}`,
				header("PodTemplate", "batch", 1), []string{`[privileged] template.spec.containers[0].securityContext.privileged: container "app" runs privileged`}},
		})
	})

	// A harmless change to each template is admitted, and the defaults stay.
	for _, w := range []struct{ resource, name, image string }{
		{"cronjobs", "report", "/spec/jobTemplate/spec/template/spec/containers/0/image"},
		{"statefulsets", "db", "/spec/template/spec/containers/0/image"},
		{"daemonsets", "agent", "/spec/template/spec/containers/0/image"},
		{"replicationcontrollers", "legacy", "/spec/template/spec/containers/0/image"},
		{"replicasets", "front", "/spec/template/spec/containers/0/image"},
		{"podtemplates", "batch", "/template/spec/containers/0/image"},
	} {
		t.Run("harmless "+w.resource, func(t *testing.T) {
			before := snapshot(t, ns, w.resource, w.name)
			out, err := kubectl(t, "patch", "-n", ns, w.resource, w.name, "--type=json", "-p", `[{"op":"replace","path":"`+w.image+`","value":"registry.example.com/app:2.0"}]`)
			if err != nil {
				t.Fatalf("denied: %v\n%s", err, out)
			}
			after := snapshot(t, ns, w.resource, w.name)
			if after.template == before.template || !strings.Contains(after.template, `"image":"registry.example.com/app:2.0"`) {
				t.Errorf("the image was not changed: %s", after.template)
			}
			for _, d := range []string{`"allowPrivilegeEscalation":false`, `"capabilities":{"drop":["ALL"]}`, `"runAsNonRoot":true`, `"seccompProfile":{"type":"RuntimeDefault"}`} {
				if !strings.Contains(after.template, d) {
					t.Errorf("the template lost %s: %s", d, after.template)
				}
			}
		})
	}
}

// legacyDeployment has a violation Bulwark enforces; it is created while its namespace only
// warns.
const legacyDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy}
spec:
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      hostNetwork: true
      containers:
      - name: app
        image: registry.example.com/legacy:1.0
`

// TestKubectlPatchMetadataOnly: labels, annotations and scaling change no pod template and are
// admitted, on an admitted Deployment and on one whose template violates a policy that
// tightened since it was admitted (created while the namespace had bulwark.dev/mode=warn).
// On the latter, every update that changes the template (kubectl set, rollout restart) is
// denied for the template's violation, until a patch removes it.
func TestKubectlPatchMetadataOnly(t *testing.T) {
	const ns = "kubectl-patch-metadata"
	createNamespace(t, ns)
	mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "web.yaml", appDeployment))
	mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "pod.yaml", webPod))
	setMode(t, ns, "warn")
	if out := mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "legacy.yaml", legacyDeployment)); !strings.Contains(out, "Warning: [host-network] spec.template.spec.hostNetwork: ") {
		t.Fatalf("the legacy Deployment was not admitted with a warning:\n%s", out)
	}
	setMode(t, ns, "")

	for _, target := range []struct{ resource, name string }{{"deployments", "web"}, {"deployments", "legacy"}, {"pods", "web"}} {
		t.Run(target.resource+"/"+target.name, func(t *testing.T) {
			ref := target.resource + "/" + target.name
			before := snapshot(t, ns, target.resource, target.name)
			outs := []string{
				mustKubectl(t, "label", "-n", ns, ref, "tier=backend"),
				mustKubectl(t, "patch", "-n", ns, ref, "--type=merge", "-p", `{"metadata":{"labels":{"release":"r2"}}}`),
			}
			if target.resource == "deployments" {
				outs = append(outs, mustKubectl(t, "annotate", "-n", ns, ref, "owner=team-a"),
					mustKubectl(t, "scale", "-n", ns, ref, "--replicas=3"))
			} else {
				// A Pod's own annotations are what the checks read for it (AppArmor): the
				// update is evaluated, and admitted as the Pod has no violation.
				mustKubectl(t, "annotate", "-n", ns, ref, "owner=team-a")
			}
			// Not evaluated at all: not even the warnings an evaluation of the template gives.
			for _, out := range outs {
				if strings.Contains(out, "Warning:") {
					t.Errorf("a metadata-only update was evaluated:\n%s", out)
				}
			}
			obj := object(t, ns, target.resource, target.name)
			labels := jsonText(t, field(obj, "metadata", "labels"))
			if !strings.Contains(labels, `"release":"r2"`) || !strings.Contains(labels, `"tier":"backend"`) {
				t.Errorf("labels not stored: %s", labels)
			}
			if target.resource == "deployments" {
				if got := fmt.Sprint(field(obj, "spec", "replicas")); got != "3" {
					t.Errorf("replicas = %s after kubectl scale", got)
				}
			}
			after := snapshot(t, ns, target.resource, target.name)
			if after.template != before.template {
				t.Errorf("the pod template changed:\nbefore: %s\nafter:  %s", before.template, after.template)
			}
		})
	}

	t.Run("template updates of the legacy Deployment", func(t *testing.T) {
		header := `Deployment "legacy" violates 1 Bulwark check (ConfigMap bulwark-system/bulwark-policy):`
		line := `[host-network] spec.template.spec.hostNetwork: `
		for _, args := range [][]string{
			{"set", "env", "deployment/legacy", "LOG_LEVEL=debug"},
			{"set", "serviceaccount", "deployment/legacy", "builder"},
			{"set", "resources", "deployment/legacy", "--limits=cpu=1"},
			{"rollout", "restart", "deployment/legacy"},
		} {
			before := snapshot(t, ns, "deployments", "legacy")
			out, err := kubectl(t, append([]string{"-n", ns}, args...)...)
			wantDenied(t, out, err, header, line)
			wantUnchanged(t, before, ns, "deployments", "legacy")
		}
		if out, err := kubectl(t, "patch", "-n", ns, "deployment", "legacy", "--type=json", "-p", `[{"op":"remove","path":"/spec/template/spec/hostNetwork"}]`); err != nil {
			t.Fatalf("removing hostNetwork was denied: %v\n%s", err, out)
		}
		mustKubectl(t, "-n", ns, "set", "env", "deployment/legacy", "LOG_LEVEL=debug")
	})
}

// TestKubectlSetHarmless: kubectl set env, image, resources and serviceaccount on an admitted
// Deployment are admitted under the nsa profile, store what they set, and keep the defaults;
// the resource defaults never replace values kubectl set.
func TestKubectlSetHarmless(t *testing.T) {
	const ns = "kubectl-set"
	createNamespace(t, ns)
	mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "web.yaml", appDeployment))
	for _, args := range [][]string{
		{"set", "env", "deployment/web", "LOG_LEVEL=debug"},
		{"set", "image", "deployment/web", "app=registry.example.com/app:1.2"},
		{"set", "resources", "deployment/web", "--requests=cpu=50m,memory=64Mi", "--limits=cpu=250m,memory=256Mi"},
		{"set", "serviceaccount", "deployment/web", "builder"},
	} {
		if out, err := kubectl(t, append([]string{"-n", ns}, args...)...); err != nil {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	obj := object(t, ns, "deployments", "web")
	pod := field(obj, "spec", "template", "spec")
	c := field(pod, "containers", 0)
	for _, tc := range []struct {
		what string
		got  any
		want string
	}{
		{"env", field(c, "env"), `[{"name":"LOG_LEVEL","value":"debug"}]`},
		{"image", field(c, "image"), `"registry.example.com/app:1.2"`},
		{"resources", field(c, "resources"), `{"limits":{"cpu":"250m","memory":"256Mi"},"requests":{"cpu":"50m","memory":"64Mi"}}`},
		{"serviceAccountName", field(pod, "serviceAccountName"), `"builder"`},
		{"container securityContext", field(c, "securityContext"), `{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}`},
		{"pod securityContext", field(pod, "securityContext"), `{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}`},
	} {
		if got := jsonText(t, tc.got); got != tc.want {
			t.Errorf("stored %s = %s, want %s", tc.what, got, tc.want)
		}
	}
}

// strictPolicy enforces image-registry (registry.example.com only), image-tag and
// resource-limits in the namespace kubectl-set-strict, and leaves the nsa profile as it is
// everywhere else (image-registry off there, since its registry list is the policy's).
const strictPolicy = `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
checks:
  image-registry:
    allowedRegistries: [registry.example.com]
namespaces:
  rules:
    - name: strict-images-and-limits
      names: [kubectl-set-strict]
      checks:
        image-tag: {action: enforce}
        resource-limits: {action: enforce}
    - name: registries-elsewhere-off
      names: ["*"]
      checks:
        image-registry: {action: "off"}
`

// policyFile writes doc as the manifest of the policy ConfigMap and returns its path.
func policyFile(t *testing.T, name, doc string) string {
	t.Helper()
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(doc), "\n", "\n    ")
	return manifestFile(t, name, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "+framework.PolicyConfigMap+
		", namespace: "+framework.PolicyNamespace+"}\ndata:\n  policy.yaml: |\n"+indented+"\n")
}

// TestKubectlSetStrictPolicy: under a policy enforcing image checks and limits, kubectl set
// image to an image from another registry or on latest is denied, for a Deployment and for a
// Pod (whose images may change in place); a digest-pinned image is admitted. kubectl set
// resources with zero limits, which the kubelet runs without any limit, must be denied.
func TestKubectlSetStrictPolicy(t *testing.T) {
	const ns = "kubectl-set-strict"
	createNamespace(t, ns)
	probe := manifestFile(t, "probe.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: policy-probe}\nspec:\n  containers:\n  - {name: app, image: \"docker.io/library/nginx:1.27\"}\n")
	strict, restore := policyFile(t, "strict.yaml", strictPolicy), policyFile(t, "default.yaml", framework.DefaultPolicy)
	mustKubectl(t, "apply", "-f", strict)
	t.Cleanup(func() {
		// Back to the default policy, in force before the next test starts.
		mustKubectl(t, "apply", "-f", restore)
		waitAdmission(t, true, "the default policy", "apply", "-n", ns, "-f", probe)
	})
	waitAdmission(t, false, "the strict policy", "apply", "-n", ns, "-f", probe)

	mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "web.yaml", appDeployment))
	mustKubectl(t, "apply", "-n", ns, "-f", manifestFile(t, "pod.yaml", webPod))
	rule := `(ConfigMap bulwark-system/bulwark-policy, namespace rule "strict-images-and-limits"):`

	t.Run("set image registry", func(t *testing.T) {
		before := snapshot(t, ns, "deployments", "web")
		out, err := kubectl(t, "set", "image", "-n", ns, "deployment/web", "app=docker.io/library/nginx:1.27")
		wantDenied(t, out, err, `Deployment "web" violates 1 Bulwark check `+rule,
			`[image-registry] spec.template.spec.containers[0].image: container "app" uses image "docker.io/library/nginx:1.27" (docker.io/library/nginx), which is outside the allowed registries`)
		wantUnchanged(t, before, ns, "deployments", "web")
		golden(t, "set-image-registry-denied.txt", out)
	})
	t.Run("set image latest", func(t *testing.T) {
		before := snapshot(t, ns, "deployments", "web")
		out, err := kubectl(t, "set", "image", "-n", ns, "deployment/web", "app=registry.example.com/app:latest")
		wantDenied(t, out, err, `Deployment "web" violates 1 Bulwark check `+rule,
			`[image-tag] spec.template.spec.containers[0].image: container "app" uses image "registry.example.com/app:latest"`)
		wantUnchanged(t, before, ns, "deployments", "web")
	})
	t.Run("set image pod", func(t *testing.T) {
		before := snapshot(t, ns, "pods", "web")
		out, err := kubectl(t, "set", "image", "-n", ns, "pod/web", "web=ghcr.io/someone/miner:2.0")
		wantDenied(t, out, err, `Pod "web" violates 1 Bulwark check `+rule,
			`[image-registry] spec.containers[0].image: container "web" uses image "ghcr.io/someone/miner:2.0"`)
		wantUnchanged(t, before, ns, "pods", "web")
	})
	t.Run("set image digest", func(t *testing.T) {
		image := "registry.example.com/app@sha256:" + strings.Repeat("0123456789abcdef", 4)
		if out, err := kubectl(t, "set", "image", "-n", ns, "deployment/web", "app="+image); err != nil {
			t.Fatalf("denied: %v\n%s", err, out)
		}
		if got := field(object(t, ns, "deployments", "web"), "spec", "template", "spec", "containers", 0, "image"); got != image {
			t.Errorf("stored image %v, want %s", got, image)
		}
	})
	// A zero limit is no limit: the kubelet sets no memory limit and no CFS quota for it (and
	// the Pod is BestEffort), so the container may use all of the node's CPU and memory.
	t.Run("set resources zero limits", func(t *testing.T) {
		before := snapshot(t, ns, "deployments", "web")
		out, err := kubectl(t, "set", "resources", "-n", ns, "deployment/web", "--limits=cpu=0,memory=0", "--requests=cpu=0,memory=0")
		wantDenied(t, out, err, `Deployment "web" violates 1 Bulwark check `+rule,
			`[resource-limits] spec.template.spec.containers[0].resources.limits.cpu: `,
			`[resource-limits] spec.template.spec.containers[0].resources.limits.memory: `)
		wantUnchanged(t, before, ns, "deployments", "web")
	})
}
