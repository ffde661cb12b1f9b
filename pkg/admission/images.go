package admission

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/images"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// ImageUsers looks up what the images of a pod run as, for the mutation defaults; it returns
// within its time budget, with what it could find.
type ImageUsers func(ctx context.Context, namespace string, pod *podspec.Pod) func(image string) mutate.ImageUser

// PullSecrets returns the named pull secrets of a namespace, from a cache; a secret that is
// missing is left out.
type PullSecrets func(ctx context.Context, namespace string, names []string) []corev1.Secret

// ResolveImages looks images up with r, with the credentials of the pod's imagePullSecrets
// when secrets is set (anonymously otherwise), when the mutation first asks (images.Users).
func ResolveImages(r *images.Resolver, secrets PullSecrets) ImageUsers {
	// The credentials of a pull secret are parsed once per version of the Secret.
	keychains := images.NewKeychains(0)
	return func(ctx context.Context, namespace string, pod *podspec.Pod) func(string) mutate.ImageUser {
		return r.Users(ctx, pod, func() authn.Keychain {
			if secrets == nil || len(pod.Spec.ImagePullSecrets) == 0 {
				return nil
			}
			names := make([]string, 0, len(pod.Spec.ImagePullSecrets))
			for _, s := range pod.Spec.ImagePullSecrets {
				names = append(names, s.Name)
			}
			// A secret that does not parse gives no credentials; the registry then says why.
			if k, err := keychains.Get(secrets(ctx, namespace, names)); err == nil {
				return k
			}
			return nil
		})
	}
}
