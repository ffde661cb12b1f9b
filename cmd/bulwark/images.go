package main

import (
	"context"
	"flag"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/bulwark-k8s/bulwark/pkg/images"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// imageFlags are the image lookup flags scan and mutate share.
type imageFlags struct {
	resolve bool
	budget  time.Duration
}

// defaultCLIBudget is the offline commands' --image-lookup-budget: longer than the webhook's,
// as nothing waits on them but the person who ran them.
const defaultCLIBudget = 10 * time.Second

func (f *imageFlags) register(fs *flag.FlagSet, resolveHelp string) {
	fs.BoolVar(&f.resolve, "resolve-images", false, resolveHelp)
	fs.DurationVar(&f.budget, "image-lookup-budget", defaultCLIBudget, "with --resolve-images, the time the lookups of one object may take together")
}

// resolver returns the resolver of --resolve-images, nil without it. Its lookups use the
// credentials of the local Docker configuration (authn.DefaultKeychain).
func (f *imageFlags) resolver() *images.Resolver {
	if !f.resolve {
		return nil
	}
	return images.New(images.Options{Budget: f.budget})
}

// localImageUsers tells the mutation what the images of pod run as, looked up with the
// credentials of the local Docker configuration (~/.docker/config.json, $DOCKER_CONFIG, and
// the credential helpers it names), as docker login leaves them.
func localImageUsers(ctx context.Context, lookups *images.Resolver, pod *podspec.Pod) func(string) mutate.ImageUser {
	return lookups.Users(ctx, pod, func() authn.Keychain { return authn.DefaultKeychain })
}

// imageNotes returns what the mutating webhook, with --resolve-images, would tell the
// developer of the images of pod under the defaults m (nil: mutation off), in the words of
// its warnings: where it leaves runAsNonRoot out because the kubelet would refuse the
// container ("bulwark: image ... runs as root (no USER); runAsNonRoot was not added ...").
func imageNotes(ctx context.Context, lookups *images.Resolver, pod *podspec.Pod, m *mutate.Options) ([]string, error) {
	if m == nil || !m.RunAsNonRoot || !pod.HasTemplate {
		return nil, nil
	}
	res, err := mutate.PatchPod(pod, m, mutate.Target{Images: localImageUsers(ctx, lookups, pod)})
	if err != nil {
		return nil, err
	}
	notes := make([]string, 0, len(res.Notes))
	for _, n := range res.Notes {
		notes = append(notes, "bulwark: "+n)
	}
	return notes, nil
}
