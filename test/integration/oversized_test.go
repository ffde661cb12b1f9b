package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/bulwark-k8s/bulwark/pkg/server"
)

// setFailurePolicy sets both webhooks' failurePolicy and waits a moment for the apiserver to
// use it.
func setFailurePolicy(t *testing.T, cs kubernetes.Interface, p admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	ctx := context.Background()
	v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, server.ConfigName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Webhooks {
		v.Webhooks[i].FailurePolicy = &p
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, server.ConfigName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Webhooks {
		m.Webhooks[i].FailurePolicy = &p
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the apiserver's webhook configuration is read from its informer
}

// TestOversizedObjectsAreChecked: a pod padded with 1.25 million `<` fits in etcd but reaches
// Bulwark as a review of about 7.5 MB (the apiserver escapes each `<` as \u003c), and an
// update of a workload so padded carries two such objects. Both are checked and denied like
// any other, under failurePolicy Fail and Ignore: a refusal of the review would fail open
// under Ignore.
func TestOversizedObjectsAreChecked(t *testing.T) {
	cs, _ := clientWithWarnings(t)
	ns := newNamespace(t, cs)
	ctx := context.Background()
	pad := []corev1.EnvVar{{Name: "PAD", Value: strings.Repeat("<", 1_250_000)}}
	t.Cleanup(func() { setFailurePolicy(t, cs, admissionregistrationv1.Fail) })
	for _, fp := range []admissionregistrationv1.FailurePolicyType{admissionregistrationv1.Fail, admissionregistrationv1.Ignore} {
		setFailurePolicy(t, cs, fp)
		name := strings.ToLower(string(fp))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "padded-" + name},
			Spec: podSpec(func(s *corev1.PodSpec) {
				s.HostNetwork = true
				s.Containers[0].Env = pad
				s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			}),
		}
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "[privileged]") || !strings.Contains(err.Error(), "[host-network]") {
			t.Errorf("failurePolicy %s: a padded privileged hostNetwork pod: %v", fp, err)
		}

		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "padded-" + name},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "padded"}},
				Template: template(func(s *corev1.PodSpec) { s.Containers[0].Env = pad }),
			},
		}
		d.Spec.Template.Labels = map[string]string{"app": "padded"}
		created, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("failurePolicy %s: a padded compliant Deployment: %v", fp, err)
		}
		created.Spec.Template.Spec.HostNetwork = true
		_, err = cs.AppsV1().Deployments(ns).Update(ctx, created, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), "[host-network]") {
			t.Errorf("failurePolicy %s: the update of a padded Deployment to hostNetwork: %v", fp, err)
		}
	}
}
