package admission

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/images"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// ImageUsers looks up what the images of a pod run as and their digests, for the mutation
// defaults; it returns within its time budget, with what it could find.
type ImageUsers func(ctx context.Context, namespace string, pod *podspec.Pod) func(image string) mutate.ImageUser

// PullSecrets returns the named pull secrets of a namespace, from a cache; a secret that is
// missing is left out.
type PullSecrets func(ctx context.Context, namespace string, names []string) []corev1.Secret

// ServiceAccountPullSecrets returns the names of the imagePullSecrets of a namespace's
// ServiceAccount, from a cache; none when the ServiceAccount is missing.
type ServiceAccountPullSecrets func(ctx context.Context, namespace, name string) []string

// ResolveImages looks images up with r when the mutation first asks (images.Users). With
// secrets set, a lookup has the credentials of the pull secrets the kubelet will use for the
// pod: its own imagePullSecrets or, when it names none, those of its ServiceAccount
// (accounts, when set), as the ServiceAccount admission plugin gives a pod them. That plugin
// runs before the webhooks for Pods, but a workload's pod template reaches the webhook
// without them. Without secrets, images are looked up anonymously.
func ResolveImages(r *images.Resolver, secrets PullSecrets, accounts ServiceAccountPullSecrets) ImageUsers {
	// The credentials of a pull secret are parsed once per version of the Secret.
	keychains := images.NewKeychains(0)
	return func(ctx context.Context, namespace string, pod *podspec.Pod) func(string) mutate.ImageUser {
		return r.Users(ctx, pod, func() authn.Keychain {
			if secrets == nil {
				return nil
			}
			names := pullSecretNames(ctx, namespace, &pod.Spec, accounts)
			if len(names) == 0 {
				return nil
			}
			// A secret that does not parse gives no credentials; the registry then says why.
			// The keychain's ID covers the credentials of every secret read, wherever its name
			// came from, so lookups are cached for exactly these credentials.
			if k, err := keychains.Get(secrets(ctx, namespace, names)); err == nil {
				return k
			}
			return nil
		})
	}
}

// pullSecretNames names the pull secrets of spec: its imagePullSecrets, or, when it has none,
// those of its ServiceAccount (spec.serviceAccountName, else the deprecated
// spec.serviceAccount, else "default") in namespace.
func pullSecretNames(ctx context.Context, namespace string, spec *corev1.PodSpec, accounts ServiceAccountPullSecrets) []string {
	if len(spec.ImagePullSecrets) > 0 {
		names := make([]string, 0, len(spec.ImagePullSecrets))
		for _, s := range spec.ImagePullSecrets {
			names = append(names, s.Name)
		}
		return names
	}
	if accounts == nil {
		return nil
	}
	return accounts(ctx, namespace, serviceAccountName(spec))
}

// serviceAccountName is the ServiceAccount a pod of spec runs as: spec.serviceAccountName,
// else the deprecated spec.serviceAccount, else "default".
func serviceAccountName(spec *corev1.PodSpec) string {
	switch {
	case spec.ServiceAccountName != "":
		return spec.ServiceAccountName
	case spec.DeprecatedServiceAccount != "":
		return spec.DeprecatedServiceAccount
	}
	return "default"
}
