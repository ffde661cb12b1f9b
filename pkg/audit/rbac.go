package audit

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
	"github.com/bulwark-k8s/bulwark/pkg/rbacspec"
)

// rbac audits the Roles, ClusterRoles and their bindings with the access-control checks, so
// that a grant made before Bulwark was installed, or while its webhook was down (it fails
// open), is reported. Kubernetes' own defaults (labelled kubernetes.io/bootstrapping, written
// by the apiserver at start: cluster-admin, system:public-info-viewer bound to
// system:unauthenticated, ...) are left out, as the webhook leaves out their writes. A reader
// that may not list RBAC objects skips them, saying why in Stats.RBACSkipped.
func (r *run) rbac(ctx context.Context) error {
	for _, k := range rbacspec.All() {
		if !k.Namespaced && r.o.Namespace != "" {
			continue // a one-namespace audit reads that namespace's Roles and RoleBindings
		}
		err := r.list(ctx, k.Resource, func() client.ObjectList { return k.NewList() },
			func(obj runtime.Object) error { return r.rbacObject(ctx, obj) }, nil)
		if apierrors.IsForbidden(err) {
			r.stats.RBACSkipped = err.Error()
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *run) rbacObject(ctx context.Context, obj runtime.Object) error {
	o, ok := rbacspec.FromObject(obj)
	if !ok || o.Meta.Labels[rbacspec.BootstrapLabel] != "" {
		return nil
	}
	var labels map[string]string
	if o.Meta.Namespace != "" {
		var err error
		if labels, err = r.o.NamespaceLabels(ctx, o.Meta.Namespace); err != nil {
			return fmt.Errorf("reading namespace %q: %w", o.Meta.Namespace, err)
		}
	}
	out := &Object{GroupKind: o.GroupKind, APIVersion: o.APIVersion, Namespace: o.Meta.Namespace, Name: o.Meta.Name, UID: o.Meta.UID}
	return r.judge(out, labels, checks.RBAC, func(dec policy.Decision) []checks.Violation {
		return dec.Checks.EvaluateRBAC(o)
	})
}
