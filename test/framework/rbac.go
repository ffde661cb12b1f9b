package framework

import (
	"context"
	"fmt"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RBACNames are the names the install gives Bulwark's objects (the chart's fullname and
// release namespace).
type RBACNames struct {
	// Namespace is the release namespace: the ServiceAccount, the Role, the policy ConfigMap,
	// the TLS Secret and the Lease live there.
	Namespace string
	// ServiceAccount, ClusterRole and Role are named Name (the chart's fullname).
	Name string
	// WebhookConfig names both webhook configurations; TLSSecret the built-in TLS Secret.
	WebhookConfig string
	TLSSecret     string
}

// ClusterRules are the cluster-wide permissions of Bulwark's ServiceAccount with the default
// install: watch namespaces; get and update only its own webhook configurations; for the
// audit, list every kind that carries a pod template (AuditListRules) and what the namespace
// checks read (GuardrailListRules), record Events on what
// violates, and write PolicyReports; and for the authenticated metrics endpoint
// (--metrics-secure), ask the apiserver who a scraper's token belongs to and whether it may
// get /metrics.
func ClusterRules(n RBACNames) []rbacv1.PolicyRule {
	return slices.Concat([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
		{
			APIGroups:     []string{"admissionregistration.k8s.io"},
			Resources:     []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
			Verbs:         []string{"get", "update", "patch"},
			ResourceNames: []string{n.WebhookConfig},
		},
	}, AuditListRules(), GuardrailListRules(), RBACListRules(), []rbacv1.PolicyRule{
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"wgpolicyk8s.io"}, Resources: []string{"policyreports"}, Verbs: []string{"get", "list", "create", "update", "delete"}},
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	})
}

// MetricsReaderRules are the rules of the ClusterRole that lets a scraper (Prometheus's
// ServiceAccount) read the authenticated metrics endpoint: get on the non-resource URL
// /metrics, and nothing else.
func MetricsReaderRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
}

// NamespaceRules are the permissions of Bulwark's ServiceAccount in its namespace, as the
// contract states them, read as strictly as they can be: the TLS Secret only by name, even for
// list and watch (which the apiserver authorizes by name when the request selects
// metadata.name); create on any Secret, as create cannot be limited by name.
func NamespaceRules(n RBACNames) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update", "patch", "list", "watch"}, ResourceNames: []string{n.TLSSecret}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
	}
}

// ServiceAccountConfig creates the namespace, the ServiceAccount n.Name, a ClusterRole and a
// Role holding exactly ClusterRules and NamespaceRules, bound to it, and returns a client
// configuration authenticated as that ServiceAccount (an envtest user with its name and groups):
// Bulwark run with it can do what the chart allows and nothing more.
func (c *Cluster) ServiceAccountConfig(ctx context.Context, n RBACNames) (*rest.Config, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	create := func(what string, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s: %w", what, err)
		}
		return nil
	}
	meta := metav1.ObjectMeta{Name: n.Name, Namespace: n.Namespace}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: n.Name, Namespace: n.Namespace}}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n.Namespace}}, metav1.CreateOptions{})
	if err := create("namespace", err); err != nil {
		return nil, err
	}
	_, err = cs.CoreV1().ServiceAccounts(n.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{})
	if err := create("ServiceAccount", err); err != nil {
		return nil, err
	}
	clusterMeta := metav1.ObjectMeta{Name: n.Namespace + ":" + n.Name}
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: clusterMeta, Rules: ClusterRules(n)}, metav1.CreateOptions{})
	if err := create("ClusterRole", err); err != nil {
		return nil, err
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: clusterMeta, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterMeta.Name},
	}, metav1.CreateOptions{})
	if err := create("ClusterRoleBinding", err); err != nil {
		return nil, err
	}
	_, err = cs.RbacV1().Roles(n.Namespace).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: NamespaceRules(n)}, metav1.CreateOptions{})
	if err := create("Role", err); err != nil {
		return nil, err
	}
	_, err = cs.RbacV1().RoleBindings(n.Namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: meta, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: n.Name},
	}, metav1.CreateOptions{})
	if err := create("RoleBinding", err); err != nil {
		return nil, err
	}
	user, err := c.Env.AddUser(envtest.User{
		Name:   "system:serviceaccount:" + n.Namespace + ":" + n.Name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + n.Namespace},
	}, nil)
	if err != nil {
		return nil, err
	}
	return rest.CopyConfig(user.Config()), nil
}

// ScraperToken creates the ServiceAccount monitoring/prometheus, bound to a ClusterRole
// bulwark-metrics-reader with MetricsReaderRules, and returns a token for it (one hour).
func ScraperToken(ctx context.Context, cs kubernetes.Interface) (string, error) {
	const ns, name = "monitoring", "prometheus"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bulwark-metrics-reader"}, Rules: MetricsReaderRules()}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-bulwark-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}
