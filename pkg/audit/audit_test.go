package audit

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

func objMeta(ns, name, uid string, owner *metav1.ObjectMeta, ownerKind string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{{Kind: ownerKind, Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}
	}
	return m
}

func spec(hostPID bool) corev1.PodSpec {
	return corev1.PodSpec{HostPID: hostPID, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1.0"}}}
}

func TestRunCountsOwnedObjectsAgainstTheirWorkload(t *testing.T) {
	dep := objMeta("shop", "web", "dep-1", nil, "")
	rs := objMeta("shop", "web-5d8", "rs-1", &dep, "Deployment")
	cj := objMeta("shop", "nightly", "cj-1", nil, "")
	job := objMeta("shop", "nightly-29", "job-1", &cj, "CronJob")
	// A ReplicaSet whose controller is not a kind Bulwark knows (an Argo Rollout): audited itself.
	foreign := metav1.ObjectMeta{Name: "rollout-abc", UID: "rs-2", OwnerReferences: []metav1.OwnerReference{{Kind: "Rollout", Name: "r", UID: "ro-1", Controller: ptr.To(true)}}}
	foreign.Namespace = "shop"
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "relaxed", Labels: map[string]string{policy.ModeLabel: "audit"}}},
		&appsv1.Deployment{ObjectMeta: dep, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: spec(true)}}},
		&appsv1.ReplicaSet{ObjectMeta: rs, Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: spec(true)}}},
		&corev1.Pod{ObjectMeta: objMeta("shop", "web-5d8-a", "pod-1", &rs, "ReplicaSet"), Spec: spec(true)},
		&corev1.Pod{ObjectMeta: objMeta("shop", "web-5d8-b", "pod-2", &rs, "ReplicaSet"), Spec: spec(true)},
		&batchv1.CronJob{ObjectMeta: cj, Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: spec(false)}}}}},
		&batchv1.Job{ObjectMeta: job, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: spec(false)}}},
		&corev1.Pod{ObjectMeta: objMeta("shop", "nightly-29-x", "pod-3", &job, "Job"), Spec: spec(false)},
		&appsv1.ReplicaSet{ObjectMeta: foreign, Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: spec(false)}}},
		&corev1.Pod{ObjectMeta: objMeta("shop", "bare", "pod-4", nil, ""), Spec: spec(true)},
		&corev1.Pod{ObjectMeta: objMeta("relaxed", "bare", "pod-5", nil, ""), Spec: spec(true)},
		&corev1.Pod{ObjectMeta: objMeta("kube-system", "proxy", "pod-6", nil, ""), Spec: spec(true)},
		// shop caps its cpu and memory and defaults its containers' limits; relaxed does neither.
		&corev1.ResourceQuota{ObjectMeta: objMeta("shop", "compute", "rq-1", nil, ""), Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU: resource.MustParse("4"), corev1.ResourceLimitsMemory: resource.MustParse("8Gi"),
		}}},
		&corev1.LimitRange{ObjectMeta: objMeta("shop", "containers", "lr-1", nil, ""), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		}}}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).Build()
	snap, err := policy.FromProfile(policy.NSA)
	if err != nil {
		t.Fatal(err)
	}
	var visited []string
	byName := map[string]*Object{}
	var pages []Progress
	stats, err := Run(context.Background(), Options{
		Reader: c, Policy: snap, PageSize: 2, Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
		Progress: func(p Progress) { pages = append(pages, p) },
	}, func(o *Object) error {
		key := o.GroupKind.Kind + " " + o.Namespace + "/" + o.Name
		visited = append(visited, key)
		byName[key] = o
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CronJob shop/nightly", "Deployment shop/web", "ReplicaSet shop/rollout-abc",
		"Pod kube-system/proxy", "Pod relaxed/bare", "Pod shop/bare",
		"Namespace /relaxed", "Namespace /shop",
	}
	if !slices.Equal(visited, want) {
		t.Fatalf("visited\n %q\nwant\n %q", visited, want)
	}
	if got := stats.Owned; got["ReplicaSet"] != 1 || got["Job"] != 1 || got["Pod"] != 3 {
		t.Errorf("Owned = %v, want 1 ReplicaSet, 1 Job, 3 Pods", got)
	}
	if stats.Exempt["Pod"] != 1 || byName["Pod kube-system/proxy"].Exempt == "" {
		t.Errorf("kube-system pod: exempt count %d, reason %q", stats.Exempt["Pod"], byName["Pod kube-system/proxy"].Exempt)
	}
	if stats.Total() != 13 {
		t.Errorf("Total = %d, want 13 objects read", stats.Total())
	}
	hasCheck := func(key, id, action string) bool {
		for _, v := range byName[key].Violations {
			if v.Check == id && string(v.Action) == action {
				return true
			}
		}
		return false
	}
	if !hasCheck("Deployment shop/web", "host-pid", "enforce") {
		t.Errorf("Deployment violations %v, want host-pid enforce", byName["Deployment shop/web"].Violations)
	}
	if hasCheck("CronJob shop/nightly", "host-pid", "enforce") {
		t.Errorf("CronJob violations %v, want no host-pid", byName["CronJob shop/nightly"].Violations)
	}
	// The namespace label lowers the action as at admission.
	if !hasCheck("Pod relaxed/bare", "host-pid", "audit") {
		t.Errorf("relaxed pod violations %v, want host-pid lowered to audit", byName["Pod relaxed/bare"].Violations)
	}
	// Namespaces: relaxed has none of the guardrails, shop lacks only a default-deny policy.
	for key, want := range map[string][]string{
		"Namespace /relaxed": {"namespace-limit-range", "namespace-network-policy", "namespace-quota"},
		"Namespace /shop":    {"namespace-network-policy"},
	} {
		var got []string
		for _, v := range byName[key].Violations {
			got = append(got, v.Check)
			if v.Action != "audit" {
				t.Errorf("%s: %s is %s, want audit (nsa)", key, v.Check, v.Action)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: violations %q, want %q", key, got, want)
		}
		if byName[key].Checked != 3 {
			t.Errorf("%s: %d checks evaluated, want the 3 namespace checks", key, byName[key].Checked)
		}
	}
	if stats.Violating["Pod"] != 2 || stats.Violating["Deployment"] != 1 || stats.Violating["Namespace"] != 2 {
		t.Errorf("Violating = %v", stats.Violating)
	}
	if len(pages) < len(Kinds()) {
		t.Errorf("progress called %d times, want at least once per kind (%d)", len(pages), len(Kinds()))
	}
}

func TestRunOneNamespace(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(
		&corev1.Pod{ObjectMeta: objMeta("a", "p", "1", nil, ""), Spec: spec(true)},
		&corev1.Pod{ObjectMeta: objMeta("b", "p", "2", nil, ""), Spec: spec(true)},
	).Build()
	snap, _ := policy.FromProfile(policy.NSA)
	var got []string
	_, err := Run(context.Background(), Options{Reader: c, Policy: snap, Namespace: "b"}, func(o *Object) error {
		got = append(got, o.Namespace+"/"+o.Name)
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"b/p"}) {
		t.Fatalf("got %v, %v; want [b/p]", got, err)
	}
}

// TestRunAuditsRBAC: Roles, ClusterRoles and their bindings are judged by the access-control
// checks; Kubernetes' own defaults are left out, and kube-system's are exempt.
func TestRunAuditsRBAC(t *testing.T) {
	anonymous := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "system:anonymous"}}
	unauthenticated := []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:unauthenticated"}}
	view := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&rbacv1.RoleBinding{ObjectMeta: objMeta("shop", "public", "rb-1", nil, ""), Subjects: anonymous, RoleRef: view},
		&rbacv1.RoleBinding{ObjectMeta: objMeta("kube-system", "public", "rb-2", nil, ""), Subjects: anonymous, RoleRef: view},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "everything", UID: "cr-1"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "system:public-info-viewer", UID: "crb-1", Labels: map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}},
			Subjects:   unauthenticated, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:public-info-viewer"},
		},
	).Build()
	snap, err := policy.FromProfile(policy.NSA)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	stats, err := Run(context.Background(), Options{Reader: c, Policy: snap}, func(o *Object) error {
		if o.GroupKind.Group != rbacv1.GroupName {
			return nil
		}
		line := o.Exempt
		for _, v := range o.Violations {
			line += " " + v.Check + ":" + string(v.Action) + ":" + v.Field
		}
		got[o.GroupKind.Kind+" "+o.Namespace+"/"+o.Name] = strings.TrimSpace(line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"RoleBinding shop/public":        "anonymous-binding:enforce:subjects[0].name",
		"RoleBinding kube-system/public": `namespace "kube-system" is exempt`,
		"ClusterRole /everything":        "wildcard-role:warn:rules[0]",
	}
	if !maps.Equal(got, want) {
		t.Errorf("RBAC objects audited:\n %q\nwant\n %q", got, want)
	}
	if stats.Violating["RoleBinding"] != 1 || stats.Violating["ClusterRole"] != 1 || stats.Exempt["RoleBinding"] != 1 || stats.RBACSkipped != "" {
		t.Errorf("stats %+v", stats)
	}
}
