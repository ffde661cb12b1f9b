package images

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
)

// Keychain holds the credentials of Kubernetes pull secrets and hands out, for an image, the
// first whose registry key matches it as the kubelet matches them: the host (where "*" stands
// for one DNS label), the port, and a path prefix of the repository.
type Keychain struct {
	entries []credential
	id      string
}

// ID identifies the credentials: keychains from the same secrets have the same ID, and one
// without credentials has the anonymous lookups' ID, "".
func (k *Keychain) ID() string { return k.id }

type credential struct {
	host, path string // host[:port] pattern, repository path prefix ("" for any)
	auth       authn.AuthConfig
}

// dockerConfigEntry is one registry of a .dockerconfigjson or .dockercfg.
type dockerConfigEntry struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
	// IdentityToken and RegistryToken are OAuth tokens, as docker login stores them.
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// NewKeychain reads the credentials of secrets of type kubernetes.io/dockerconfigjson and
// kubernetes.io/dockercfg, in order; other secrets are skipped. A secret of one of those
// types that does not parse is an error naming it.
func NewKeychain(secrets []corev1.Secret) (*Keychain, error) {
	k := &Keychain{}
	for _, s := range secrets {
		var entries map[string]dockerConfigEntry
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			var cfg struct {
				Auths map[string]dockerConfigEntry `json:"auths"`
			}
			if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
				return nil, fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, corev1.DockerConfigJsonKey, err)
			}
			entries = cfg.Auths
		case corev1.SecretTypeDockercfg:
			if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &entries); err != nil {
				return nil, fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, corev1.DockerConfigKey, err)
			}
		default:
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(entries)) {
			e := entries[key]
			auth := authn.AuthConfig{Username: e.Username, Password: e.Password,
				IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
			if e.Auth != "" && auth.Username == "" {
				raw, err := base64.StdEncoding.DecodeString(e.Auth)
				if err != nil {
					return nil, fmt.Errorf("secret %s/%s: registry %q: auth is not base64: %w", s.Namespace, s.Name, key, err)
				}
				auth.Username, auth.Password, _ = strings.Cut(string(raw), ":")
			}
			host, p := splitKey(key)
			k.entries = append(k.entries, credential{host: host, path: p, auth: auth})
		}
	}
	if len(k.entries) == 0 {
		return k, nil
	}
	sum := sha256.New()
	for _, c := range k.entries {
		fmt.Fprintf(sum, "%q %q %q %q %q %q\n", c.host, c.path, c.auth.Username, c.auth.Password, c.auth.IdentityToken, c.auth.RegistryToken)
	}
	k.id = hex.EncodeToString(sum.Sum(nil))
	return k, nil
}

// Keychains keeps the keychains built from pull secrets by the secrets' UIDs and
// resourceVersions, so that a request whose pull secrets have not changed since an earlier
// one does not parse them again: any change of a Secret gives it a new resourceVersion. A
// keychain is kept for KeychainTTL at most, so that the credentials of a deleted Secret do not
// stay in memory; secrets without a UID or resourceVersion (not read from the apiserver) are
// parsed every time. It is safe for concurrent use.
type Keychains struct {
	c   *cache[string, *Keychain]
	now func() time.Time
}

// KeychainTTL is how long Keychains keeps a keychain.
const KeychainTTL = time.Hour

// NewKeychains returns a Keychains that holds up to max keychains (DefaultMaxEntries when max
// is not positive).
func NewKeychains(max int) *Keychains {
	orDefault(&max, DefaultMaxEntries)
	return &Keychains{c: newCache[string, *Keychain](max), now: time.Now}
}

// Get returns what NewKeychain returns for secrets: the keychain (or error) built for the same
// versions of the same secrets, in the same order, when there is one.
func (ks *Keychains) Get(secrets []corev1.Secret) (*Keychain, error) {
	key, ok := versionsKey(secrets)
	if !ok {
		return NewKeychain(secrets)
	}
	now := ks.now()
	if k, err, ok := ks.c.get(key, now); ok {
		return k, err
	}
	k, err := NewKeychain(secrets)
	ks.c.put(key, k, err, now.Add(KeychainTTL))
	return k, err
}

// versionsKey names the versions of secrets, in order; false when there are none, or one has
// no UID or resourceVersion.
func versionsKey(secrets []corev1.Secret) (string, bool) {
	if len(secrets) == 0 {
		return "", false
	}
	n := 0
	for i := range secrets {
		if secrets[i].UID == "" || secrets[i].ResourceVersion == "" {
			return "", false
		}
		n += len(secrets[i].UID) + len(secrets[i].ResourceVersion) + 2
	}
	var b strings.Builder
	b.Grow(n)
	for i := range secrets {
		b.WriteString(string(secrets[i].UID))
		b.WriteByte('/')
		b.WriteString(secrets[i].ResourceVersion)
		b.WriteByte(' ')
	}
	return b.String(), true
}

// Resolve returns the credentials for the image repository target names, anonymous when none
// matches.
func (k *Keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := normaliseHost(target.RegistryStr())
	repo := target.String()
	if _, rest, ok := strings.Cut(repo, "/"); ok {
		repo = rest
	} else {
		repo = ""
	}
	for _, c := range k.entries {
		if hostMatches(c.host, host) && (c.path == "" || repo == c.path || strings.HasPrefix(repo, c.path+"/")) {
			return authn.FromConfig(c.auth), nil
		}
	}
	return authn.Anonymous, nil
}

// splitKey reads a registry key of a docker config ("https://index.docker.io/v1/",
// "registry.example.com:5000/team", "*.example.com") as a host pattern and a path prefix.
func splitKey(key string) (host, p string) {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, p, _ = strings.Cut(key, "/")
	p = strings.Trim(p, "/")
	if p == "v1" || p == "v2" { // Docker Hub's key, and registries' API roots
		p = ""
	}
	return normaliseHost(host), p
}

// normaliseHost lower-cases a registry host and names Docker Hub one way.
func normaliseHost(host string) string {
	host = strings.ToLower(host)
	switch host {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		return "docker.io"
	}
	return host
}

// hostMatches matches a host[:port] against a pattern in which "*" may stand for one label.
func hostMatches(pattern, host string) bool {
	pHost, pPort, _ := strings.Cut(pattern, ":")
	hHost, hPort, _ := strings.Cut(host, ":")
	if pPort != hPort {
		return false
	}
	pl, hl := strings.Split(pHost, "."), strings.Split(hHost, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if ok, _ := path.Match(pl[i], hl[i]); !ok {
			return false
		}
	}
	return true
}
