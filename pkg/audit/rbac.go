package audit

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
		err := r.list(ctx, k.Resource, func() client.ObjectList { return k.NewList() }, r.rbacObject, nil)
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

func (r *run) rbacObject(obj runtime.Object) error {
	o, ok := rbacspec.FromObject(obj)
	if !ok || o.Meta.Labels[rbacspec.BootstrapLabel] != "" {
		return nil
	}
	kind := o.Kind.Kind
	out := &Object{GroupKind: o.GroupKind, APIVersion: o.APIVersion, Namespace: o.Meta.Namespace, Name: o.Meta.Name, UID: o.Meta.UID}
	var labels map[string]string
	if o.Meta.Namespace != "" {
		var err error
		if labels, err = r.o.NamespaceLabels(context.Background(), o.Meta.Namespace); err != nil {
			return err
		}
	}
	dec := r.o.Policy.Resolve(policy.Request{
		Namespace: o.Meta.Namespace, NamespaceLabels: labels, OwnNamespace: r.o.OwnNamespace,
		Kind: kind, Name: o.Meta.Name, Now: r.now,
	})
	out.Notes = dec.Warnings
	if dec.Exempt {
		out.Exempt = dec.Reason
		r.stats.Exempt[kind]++
		return r.visit(out)
	}
	out.Violations = dec.Apply(dec.Checks.EvaluateRBAC(o))
	out.Checked = dec.Checks.ActiveRBACCount()
	r.stats.Evaluated[kind]++
	if len(out.Violations) > 0 {
		r.stats.Violating[kind]++
	}
	return r.visit(out)
}
