package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

var nsCounter atomic.Int32

// newNamespace creates a namespace for one test, as a user would with kubectl create namespace.
// There is no controller-manager, so it is not cleaned up; the control plane is per test run.
func newNamespace(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	name := fmt.Sprintf("it-%s-%d", strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-")), nsCounter.Add(1))
	if len(name) > 63 {
		name = name[len(name)-63:]
		name = strings.TrimLeft(name, "-")
	}
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

func container(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example.com/" + name + ":1.0"}
}

func podSpec(mod func(*corev1.PodSpec)) corev1.PodSpec {
	s := corev1.PodSpec{Containers: []corev1.Container{container("app")}}
	if mod != nil {
		mod(&s)
	}
	return s
}

func template(mod func(*corev1.PodSpec)) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       podSpec(mod),
	}
}

var selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

// TestDeniedKinds creates a violating object of each kind through the apiserver and requires
// the denial to name the object, each enforced check with its exact field path, and its fix.
func TestDeniedKinds(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	ctx := context.Background()
	ns := newNamespace(t, cs)
	privileged := func(s *corev1.PodSpec) {
		s.Containers = append(s.Containers, container("sidecar"))
		s.Containers[1].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}
	hostPath := func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
	}
	cases := []struct {
		name   string
		create func() error
		object string
		want   []string // "[check] field" prefixes, in the order of the message
	}{
		{
			name: "Pod",
			create: func() error {
				_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: "sniffer"},
					Spec:       podSpec(func(s *corev1.PodSpec) { s.HostNetwork = true }),
				}, metav1.CreateOptions{})
				return err
			},
			object: `Pod "sniffer" violates 1 Bulwark check (ConfigMap bulwark-system/bulwark-policy)`,
			want:   []string{"[host-network] spec.hostNetwork: "},
		},
		{
			name: "Deployment",
			create: func() error {
				_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Name: "web"},
					Spec:       appsv1.DeploymentSpec{Selector: selector, Template: template(privileged)},
				}, metav1.CreateOptions{})
				return err
			},
			object: `Deployment "web" violates 1 Bulwark check (ConfigMap bulwark-system/bulwark-policy)`,
			want:   []string{"[privileged] spec.template.spec.containers[1].securityContext.privileged: "},
		},
		{
			name: "StatefulSet",
			create: func() error {
				_, err := cs.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
					ObjectMeta: metav1.ObjectMeta{Name: "db"},
					Spec: appsv1.StatefulSetSpec{Selector: selector, Template: template(func(s *corev1.PodSpec) {
						s.HostPID = true
						s.HostIPC = true
					})},
				}, metav1.CreateOptions{})
				return err
			},
			object: `StatefulSet "db" violates 2 Bulwark checks (ConfigMap bulwark-system/bulwark-policy)`,
			want:   []string{"[host-ipc] spec.template.spec.hostIPC: ", "[host-pid] spec.template.spec.hostPID: "},
		},
		{
			name: "DaemonSet",
			create: func() error {
				_, err := cs.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
					ObjectMeta: metav1.ObjectMeta{Name: "miner"},
					Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template(func(s *corev1.PodSpec) {
						hostPath(s)
						s.HostPID = true
						privileged(s)
					})},
				}, metav1.CreateOptions{})
				return err
			},
			object: `DaemonSet "miner" violates 3 Bulwark checks (ConfigMap bulwark-system/bulwark-policy)`,
			want: []string{
				"[host-path] spec.template.spec.volumes[0].hostPath: ",
				"[host-pid] spec.template.spec.hostPID: ",
				"[privileged] spec.template.spec.containers[1].securityContext.privileged: ",
			},
		},
		{
			name: "Job",
			create: func() error {
				_, err := cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
					ObjectMeta: metav1.ObjectMeta{Name: "backup"},
					Spec: batchv1.JobSpec{Template: template(func(s *corev1.PodSpec) {
						s.RestartPolicy = corev1.RestartPolicyNever
						hostPath(s)
					})},
				}, metav1.CreateOptions{})
				return err
			},
			object: `Job "backup" violates 1 Bulwark check (ConfigMap bulwark-system/bulwark-policy)`,
			want:   []string{"[host-path] spec.template.spec.volumes[0].hostPath: "},
		},
		{
			name: "CronJob",
			create: func() error {
				_, err := cs.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
					ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
					Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{
						Spec: batchv1.JobSpec{Template: template(func(s *corev1.PodSpec) {
							s.RestartPolicy = corev1.RestartPolicyOnFailure
							s.InitContainers = []corev1.Container{container("setup")}
							s.InitContainers[0].SecurityContext = &corev1.SecurityContext{
								Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}},
							}
						})},
					}},
				}, metav1.CreateOptions{})
				return err
			},
			object: `CronJob "nightly" violates 1 Bulwark check (ConfigMap bulwark-system/bulwark-policy)`,
			want:   []string{"[capabilities] spec.jobTemplate.spec.template.spec.initContainers[0].securityContext.capabilities.add[0]: "},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.create()
			if err == nil {
				t.Fatal("created; want a denial")
			}
			if !apierrors.IsForbidden(err) {
				t.Errorf("error is not 403 Forbidden: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `admission webhook "validate.bulwark.dev" denied the request: `+tc.object+":\n") {
				t.Errorf("denial does not start with the object %q:\n%s", tc.object, msg)
			}
			lines := strings.Split(msg, "\n")[1:]
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d violation lines, want %d:\n%s", len(lines), len(tc.want), msg)
			}
			for i, prefix := range tc.want {
				if !strings.HasPrefix(lines[i], prefix) {
					t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], prefix)
				}
				if !strings.Contains(lines[i], ". Fix: ") {
					t.Errorf("line %d has no fix: %q", i+1, lines[i])
				}
			}
		})
	}
}

// TestDefaultsInjected creates a minimal Pod and Deployment and reads back what was stored:
// the mutating webhook added the docs/checks.md defaults, and listed them as warnings.
func TestDefaultsInjected(t *testing.T) {
	cs, warns := clientWithWarnings(t)
	ctx := context.Background()
	ns := newNamespace(t, cs)

	_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "minimal"}, Spec: podSpec(nil)}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podWarnings := warns.take()
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, "minimal", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	requireDefaults(t, "Pod", pod.Spec)
	requireWarning(t, podWarnings, "bulwark set defaults in spec.securityContext: seccompProfile.type=RuntimeDefault, runAsNonRoot=true")
	requireWarning(t, podWarnings, "bulwark set defaults in spec.containers[0].securityContext: allowPrivilegeEscalation=false, capabilities.drop=[ALL]")
	requireWarning(t, podWarnings, "bulwark set defaults in spec.containers[0].resources: requests.cpu=100m, requests.memory=128Mi, limits.cpu=500m, limits.memory=512Mi")

	_, err = cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Selector: selector, Template: template(nil)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	depWarnings := warns.take()
	dep, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	requireDefaults(t, "Deployment", dep.Spec.Template.Spec)
	requireWarning(t, depWarnings, "bulwark set defaults in spec.template.spec.containers[0].securityContext: ")
	// read-only-root-filesystem is warn in nsa and not a default that is on: validation warns.
	requireWarning(t, depWarnings, "[read-only-root-filesystem] spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem: ")
}

// TestExplicitValuesKept: what the user set survives mutation, even where it is weaker than the
// default; the validating webhook then warns about it (privilege-escalation is warn in nsa).
func TestExplicitValuesKept(t *testing.T) {
	cs, warns := clientWithWarnings(t)
	ctx := context.Background()
	ns := newNamespace(t, cs)
	spec := podSpec(func(s *corev1.PodSpec) {
		s.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000))}
		s.Containers[0].SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(true),
			Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}},
		}
		s.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	})
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "explicit"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := warns.take()
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, "explicit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	if ape := c.SecurityContext.AllowPrivilegeEscalation; ape == nil || !*ape {
		t.Errorf("allowPrivilegeEscalation = %v, want the user's true", ape)
	}
	if add := c.SecurityContext.Capabilities.Add; len(add) != 1 || add[0] != "NET_BIND_SERVICE" {
		t.Errorf("capabilities.add = %v, want [NET_BIND_SERVICE]", add)
	}
	if drop := c.SecurityContext.Capabilities.Drop; len(drop) != 1 || drop[0] != "ALL" {
		t.Errorf("capabilities.drop = %v, want [ALL] added next to the user's add", drop)
	}
	if lim := c.Resources.Limits[corev1.ResourceCPU]; lim.String() != "2" {
		t.Errorf("limits.cpu = %s, want the user's 2", lim.String())
	}
	if u := pod.Spec.SecurityContext.RunAsUser; u == nil || *u != 1000 {
		t.Errorf("runAsUser = %v, want 1000", u)
	}
	requireWarning(t, got, "[privilege-escalation] spec.containers[0].securityContext.allowPrivilegeEscalation: ")
}

// TestServerSideDryRun: sideEffects None lets dry runs through both webhooks; nothing is stored.
func TestServerSideDryRun(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	ctx := context.Background()
	ns := newNamespace(t, cs)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

	dep, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "dry"},
		Spec:       appsv1.DeploymentSpec{Selector: selector, Template: template(nil)},
	}, dry)
	if err != nil {
		t.Fatal(err)
	}
	requireDefaults(t, "dry-run Deployment", dep.Spec.Template.Spec)
	if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run Deployment was stored (get: %v)", err)
	}

	_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "dry-denied"},
		Spec:       podSpec(func(s *corev1.PodSpec) { s.HostIPC = true }),
	}, dry)
	if err == nil || !strings.Contains(err.Error(), "[host-ipc] spec.hostIPC: ") {
		t.Errorf("dry-run of a hostIPC Pod: got %v, want the host-ipc denial", err)
	}
}

// TestUpdates: an update that leaves the template alone (a scale) is admitted, an update that
// introduces a violation into an admitted template is denied, and ephemeral containers added
// through their subresource are evaluated and mutated.
func TestUpdates(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	ctx := context.Background()
	ns := newNamespace(t, cs)
	deps := cs.AppsV1().Deployments(ns)
	if _, err := deps.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Selector: selector, Template: template(nil)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("scaling by patch: %v", err)
	}
	patch := `{"spec":{"template":{"spec":{"hostNetwork":true}}}}`
	_, err := deps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err == nil || !strings.Contains(err.Error(), "[host-network] spec.template.spec.hostNetwork: ") {
		t.Errorf("patch adding hostNetwork: got %v, want the host-network denial", err)
	}
	// An ephemeral container added through the pods/ephemeralcontainers subresource, as
	// kubectl debug --profile=sysadmin does, is evaluated.
	pods := cs.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "target"}, Spec: podSpec(nil)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := pods.Get(ctx, "target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger", Image: "registry.example.com/debug:1.0",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		},
	})
	_, err = pods.UpdateEphemeralContainers(ctx, "target", pod, metav1.UpdateOptions{})
	if err == nil || !strings.Contains(err.Error(), "[privileged] spec.ephemeralContainers[0].securityContext.privileged: ") {
		t.Errorf("privileged ephemeral container: got %v, want the privileged denial", err)
	}
	pod.Spec.EphemeralContainers[0].SecurityContext = nil
	updated, err := pods.UpdateEphemeralContainers(ctx, "target", pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("unprivileged ephemeral container: %v", err)
	}
	sc := updated.Spec.EphemeralContainers[0].SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("ephemeral container securityContext = %+v, want allowPrivilegeEscalation false set by the mutating webhook", sc)
	}
}

// TestMetricsAndLogs runs one denial with a known UID trail and reads the metrics endpoint and
// the server's JSON log.
func TestMetricsAndLogs(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	ctx := context.Background()
	ns := newNamespace(t, cs)
	_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "logged"},
		Spec:       podSpec(func(s *corev1.PodSpec) { s.HostPID = true }),
	}, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("hostPID pod admitted")
	}

	var found bool
	for _, line := range strings.Split(serverLogs.String(), "\n") {
		if line == "" {
			continue
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if entry["msg"] != "denied" || entry["namespace"] != ns {
			continue
		}
		found = true
		if uid, _ := entry["uid"].(string); !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(uid) {
			t.Errorf("denial log line has no request UID: %s", line)
		}
		if entry["name"] != `Pod "logged"` || fmt.Sprint(entry["checks"]) != "[host-pid]" {
			t.Errorf("denial log line: %s", line)
		}
	}
	if !found {
		t.Errorf("no denial log line for namespace %s in:\n%s", ns, serverLogs.String())
	}

	text := scrape(t)
	for _, re := range []string{
		`bulwark_admission_decisions_total\{decision="denied",operation="create",resource="pods",webhook="validate"\} [1-9]`,
		`bulwark_admission_decisions_total\{decision="allowed",operation="create",resource="pods",webhook="mutate"\} [1-9]`,
		`bulwark_check_violations_total\{action="enforce",check="host-pid",resource="pods"\} [1-9]`,
		`bulwark_mutations_total\{default="seccomp"\} [1-9]`,
		`bulwark_admission_evaluation_duration_seconds_count\{webhook="validate"\} [1-9]`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("metrics lack %s", re)
		}
	}
	if strings.Contains(text, `"logged"`) || strings.Contains(text, ns) {
		t.Error("metrics carry object names or namespaces in labels")
	}
}

func requireDefaults(t *testing.T, what string, s corev1.PodSpec) {
	t.Helper()
	if s.SecurityContext == nil || s.SecurityContext.SeccompProfile == nil || s.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile not defaulted: %+v", what, s.SecurityContext)
	}
	if s.SecurityContext == nil || s.SecurityContext.RunAsNonRoot == nil || !*s.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: runAsNonRoot not defaulted", what)
	}
	for _, c := range s.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container %s: allowPrivilegeEscalation not false", what, c.Name)
		}
		if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s: container %s: capabilities.drop not [ALL]", what, c.Name)
		}
		if sc != nil && sc.ReadOnlyRootFilesystem != nil {
			t.Errorf("%s: container %s: readOnlyRootFilesystem set, but that default is off", what, c.Name)
		}
		want := map[string]string{"requests.cpu": "100m", "requests.memory": "128Mi", "limits.cpu": "500m", "limits.memory": "512Mi"}
		got := map[string]string{
			"requests.cpu": quantity(c.Resources.Requests, corev1.ResourceCPU), "requests.memory": quantity(c.Resources.Requests, corev1.ResourceMemory),
			"limits.cpu": quantity(c.Resources.Limits, corev1.ResourceCPU), "limits.memory": quantity(c.Resources.Limits, corev1.ResourceMemory),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: container %s: resources.%s = %q, want %q", what, c.Name, k, got[k], v)
			}
		}
	}
	if s.AutomountServiceAccountToken != nil {
		t.Errorf("%s: automountServiceAccountToken set, but that default is off", what)
	}
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := l[name]
	if !ok {
		return ""
	}
	return q.String()
}

func requireWarning(t *testing.T, warnings []string, prefix string) {
	t.Helper()
	for _, w := range warnings {
		if strings.HasPrefix(w, prefix) {
			return
		}
	}
	t.Errorf("no warning starts with %q; got:\n%s", prefix, strings.Join(warnings, "\n"))
}
