// Package rbacspec reads the RBAC objects Bulwark judges besides pods: Roles and ClusterRoles
// (the rights they grant) and RoleBindings and ClusterRoleBindings (who gets them). The NSA/CISA
// guidance asks for least privilege and no anonymous access; at admission, a binding is the one
// moment a grant to system:anonymous or to every authenticated user can still be refused.
//
// The kinds are listed once, in the table here: the webhook's rules, the admission handler and
// `bulwark scan` read it.
package rbacspec

import (
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// Group is the API group of every RBAC kind.
const Group = rbacv1.GroupName

// Kind is one RBAC kind: where the apiserver serves it and what it carries.
type Kind struct {
	schema.GroupKind
	// Version is the version Bulwark intercepts ("v1").
	Version string
	// Resource is the plural the apiserver serves the kind as ("rolebindings").
	Resource string
	// Namespaced is set for Roles and RoleBindings.
	Namespaced bool
	// Binding is set for the kinds that bind subjects to a role; the others grant rules.
	Binding bool

	newObject func() any
	newList   func() podspec.ObjectList
}

// NewObject returns an empty typed object of the kind (*rbacv1.RoleBinding, ...).
func (k Kind) NewObject() any { return k.newObject() }

// NewList returns an empty typed list of the kind, for a client to fill.
func (k Kind) NewList() podspec.ObjectList { return k.newList() }

// BootstrapLabel marks the roles and bindings the apiserver writes itself on start (Kubernetes'
// defaults: cluster-admin, admin, edit, view, system:*).
const BootstrapLabel = "kubernetes.io/bootstrapping"

// FromObject reads a typed RBAC object (from a client's list) as the checks read it. ok is
// false for any other type.
func FromObject(obj runtime.Object) (o *Object, ok bool) {
	switch t := obj.(type) {
	case *rbacv1.Role:
		k, _ := Lookup(schema.GroupKind{Group: Group, Kind: "Role"})
		return &Object{Kind: k, APIVersion: "rbac.authorization.k8s.io/v1", TypeKind: k.Kind, Meta: t.ObjectMeta, Rules: t.Rules}, true
	case *rbacv1.ClusterRole:
		k, _ := Lookup(schema.GroupKind{Group: Group, Kind: "ClusterRole"})
		return &Object{Kind: k, APIVersion: "rbac.authorization.k8s.io/v1", TypeKind: k.Kind, Meta: t.ObjectMeta, Rules: t.Rules, AggregationRule: t.AggregationRule}, true
	case *rbacv1.RoleBinding:
		k, _ := Lookup(schema.GroupKind{Group: Group, Kind: "RoleBinding"})
		return &Object{Kind: k, APIVersion: "rbac.authorization.k8s.io/v1", TypeKind: k.Kind, Meta: t.ObjectMeta, Subjects: t.Subjects, RoleRef: t.RoleRef}, true
	case *rbacv1.ClusterRoleBinding:
		k, _ := Lookup(schema.GroupKind{Group: Group, Kind: "ClusterRoleBinding"})
		return &Object{Kind: k, APIVersion: "rbac.authorization.k8s.io/v1", TypeKind: k.Kind, Meta: t.ObjectMeta, Subjects: t.Subjects, RoleRef: t.RoleRef}, true
	}
	return nil, false
}

// GroupResource is the kind's group and resource.
func (k Kind) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: k.Group, Resource: k.Resource}
}

var table = []Kind{
	{GroupKind: schema.GroupKind{Group: Group, Kind: "Role"}, Version: "v1", Resource: "roles", Namespaced: true,
		newObject: func() any { return &rbacv1.Role{} }, newList: func() podspec.ObjectList { return &rbacv1.RoleList{} }},
	{GroupKind: schema.GroupKind{Group: Group, Kind: "ClusterRole"}, Version: "v1", Resource: "clusterroles",
		newObject: func() any { return &rbacv1.ClusterRole{} }, newList: func() podspec.ObjectList { return &rbacv1.ClusterRoleList{} }},
	{GroupKind: schema.GroupKind{Group: Group, Kind: "RoleBinding"}, Version: "v1", Resource: "rolebindings", Namespaced: true, Binding: true,
		newObject: func() any { return &rbacv1.RoleBinding{} }, newList: func() podspec.ObjectList { return &rbacv1.RoleBindingList{} }},
	{GroupKind: schema.GroupKind{Group: Group, Kind: "ClusterRoleBinding"}, Version: "v1", Resource: "clusterrolebindings", Binding: true,
		newObject: func() any { return &rbacv1.ClusterRoleBinding{} }, newList: func() podspec.ObjectList { return &rbacv1.ClusterRoleBindingList{} }},
}

// All lists the RBAC kinds Bulwark judges, in the order the webhook rules name them.
func All() []Kind { return append([]Kind(nil), table...) }

// Lookup returns the kind gk, and whether it is one of the table's.
func Lookup(gk schema.GroupKind) (Kind, bool) {
	for _, k := range table {
		if k.GroupKind == gk {
			return k, true
		}
	}
	return Kind{}, false
}

// ForResource returns the kind served as gr, and whether it is one of the table's.
func ForResource(gr schema.GroupResource) (Kind, bool) {
	for _, k := range table {
		if k.GroupResource() == gr {
			return k, true
		}
	}
	return Kind{}, false
}

// Object is an RBAC object as the checks read it: a role's rules, or a binding's subjects and
// the role it binds them to.
type Object struct {
	Kind
	// APIVersion and TypeKind are the object's own apiVersion and kind, as sent ("" when absent).
	APIVersion, TypeKind string
	Meta                 metav1.ObjectMeta
	// Rules are a Role's or ClusterRole's rules.
	Rules []rbacv1.PolicyRule
	// AggregationRule is a ClusterRole's: its rules are then filled in by the controller.
	AggregationRule *rbacv1.AggregationRule
	// Subjects and RoleRef are a binding's.
	Subjects []rbacv1.Subject
	RoleRef  rbacv1.RoleRef
}

// Decode reads obj (JSON) as a gk. ok is false when gk is not an RBAC kind of the table.
// Decoding is case-sensitive, as the apiserver's; a field of the wrong type is named in the
// error, as podspec.Decode names it.
func Decode(gk schema.GroupKind, obj []byte) (o *Object, ok bool, err error) {
	k, ok := Lookup(gk)
	if !ok {
		return nil, false, nil
	}
	var raw struct {
		APIVersion      string                  `json:"apiVersion"`
		Kind            string                  `json:"kind"`
		Metadata        metav1.ObjectMeta       `json:"metadata"`
		Rules           []rbacv1.PolicyRule     `json:"rules"`
		AggregationRule *rbacv1.AggregationRule `json:"aggregationRule"`
		Subjects        []rbacv1.Subject        `json:"subjects"`
		RoleRef         rbacv1.RoleRef          `json:"roleRef"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(obj, &raw); err != nil {
		return nil, true, podspec.NewDecodeError(gk.Kind, err)
	}
	o = &Object{Kind: k, APIVersion: raw.APIVersion, TypeKind: raw.Kind, Meta: raw.Metadata}
	if k.Binding {
		o.Subjects, o.RoleRef = raw.Subjects, raw.RoleRef
	} else {
		o.Rules, o.AggregationRule = raw.Rules, raw.AggregationRule
	}
	return o, true, nil
}

// Name names the object for messages: `RoleBinding "view"`, `ClusterRole "ops-*"` for a
// generateName, or the bare kind.
func (o *Object) Name() string {
	switch {
	case o.Meta.Name != "":
		return fmt.Sprintf("%s %q", o.Kind.Kind, o.Meta.Name)
	case o.Meta.GenerateName != "":
		return fmt.Sprintf("%s %q", o.Kind.Kind, o.Meta.GenerateName+"*")
	}
	return o.Kind.Kind
}
