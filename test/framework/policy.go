package framework

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// Where the local control plane keeps Bulwark's policy, as the Helm chart does in a cluster.
const (
	PolicyNamespace = "bulwark-system"
	PolicyConfigMap = "bulwark-policy"
)

// DefaultPolicy is the policy the local control plane starts with: the nsa profile.
const DefaultPolicy = `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
`

// CreatePolicyConfigMap creates the namespace bulwark-system and the ConfigMap bulwark-policy
// holding doc under policy.yaml.
func CreatePolicyConfigMap(cfg *rest.Config, doc string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: PolicyNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	_, err = cs.CoreV1().ConfigMaps(PolicyNamespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: PolicyConfigMap},
		Data:       map[string]string{policy.ConfigMapKey: doc},
	}, metav1.CreateOptions{})
	return err
}
