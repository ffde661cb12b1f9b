package framework

import (
	"context"
	"fmt"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The scale measurements of the audit (test/scale, hack/bench/audit) fill a cluster with the
// objects below and sample the live heap while the audit reads them.

// ScalePodSpec is the pod of the scale measurements: hardened and its image pinned, so that
// with hostPID it violates host-pid only, and nothing without.
func ScalePodSpec(hostPID bool) corev1.PodSpec {
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	return corev1.PodSpec{
		HostPID:                      hostPID,
		AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{{
			Name: "app", Image: "registry.example.com/app:1.0@sha256:" + strings.Repeat("ab", 32),
			Resources: corev1.ResourceRequirements{Requests: res, Limits: res},
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
				Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		}},
	}
}

// CreateWorkload creates the Deployment name in ns, labelled app=name, with a ReplicaSet it
// controls and pods pods the ReplicaSet controls, as the controllers would have (no
// controller runs), all of them with ScalePodSpec(hostPID).
func CreateWorkload(ctx context.Context, cs kubernetes.Interface, ns, name string, pods int, hostPID bool) error {
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: ScalePodSpec(hostPID)}
	d, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-5d8", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	for p := range pods {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", rs.Name, p), Labels: labels, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
			Spec: tmpl.Spec,
		}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// Parallel runs the jobs that produce submits on workers goroutines and returns the first
// error; after one, the jobs left are not run.
func Parallel(workers int, produce func(submit func(job func() error))) error {
	jobs := make(chan func() error)
	var failed atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if failed.Load() != nil {
					continue
				}
				if err := j(); err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	produce(func(job func() error) { jobs <- job })
	close(jobs)
	wg.Wait()
	err, _ := failed.Load().(error)
	return err
}

// HeapBytes is the heap the process holds in objects, those not yet swept included
// (runtime/metrics /memory/classes/heap/objects:bytes).
func HeapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// HeapSampler records the peak of HeapBytes while it runs, sampled every 2 ms.
type HeapSampler struct {
	stop, done chan struct{}
	peak       uint64
}

// StartHeapSampler starts sampling.
func StartHeapSampler() *HeapSampler {
	h := &HeapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			h.peak = max(h.peak, HeapBytes())
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// Stop stops sampling and returns the peak.
func (h *HeapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak
}
