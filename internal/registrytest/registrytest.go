// Package registrytest serves an in-process image registry on 127.0.0.1 for tests, so that
// image lookups are tested against a real registry protocol (go-containerregistry's) rather
// than a stand-in: tags, digests, multi-platform indexes, and basic authentication.
package registrytest

import (
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is a registry served until the test ends. With a user set, every request needs
// that user's basic credentials.
type Registry struct {
	// Host is host:port, the registry part of image references.
	Host string
	// Manifests counts the manifest reads (GET) answered.
	Manifests atomic.Int64
	// Delay, in nanoseconds, holds each manifest read before it is answered.
	Delay atomic.Int64

	user, password string
	handler        http.Handler
}

// Start serves a registry on 127.0.0.1 until t ends; user "" serves it to anyone. Handler
// serves the same registry on other listeners too.
func Start(t testing.TB, user, password string) *Registry {
	t.Helper()
	r := &Registry{user: user, password: password}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if strings.Contains(req.URL.Path, "/manifests/") && req.Method == http.MethodGet {
			r.Manifests.Add(1)
			time.Sleep(time.Duration(r.Delay.Load()))
		}
		inner.ServeHTTP(w, req)
	})
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// Handler serves the registry, for a listener of the caller's.
func (r *Registry) Handler() http.Handler { return r.handler }

// DockerConfig is a .dockerconfigjson (the data of a kubernetes.io/dockerconfigjson Secret)
// holding the registry's credentials for key, a registry host or host/path prefix as it is
// reached: Host, or another address the same handler is served at.
func (r *Registry) DockerConfig(key string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + r.password))
	return []byte(`{"auths":{"` + key + `":{"auth":"` + auth + `"}}}`)
}

// Ref is the reference of repo (with its tag or digest) on this registry.
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// Push writes a linux/amd64 image whose configuration has the given User under repoTag
// ("web:1.27") and returns its digest.
func (r *Registry) Push(t testing.TB, repoTag, user string) string {
	t.Helper()
	return r.PushImage(t, repoTag, Image(t, user))
}

// PushImage writes img under repoTag and returns its digest.
func (r *Registry) PushImage(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	return r.push(t, repoTag, img)
}

// PushIndex writes idx under repoTag and returns its digest.
func (r *Registry) PushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	return r.push(t, repoTag, idx)
}

// push writes an image or an index, with its blobs, under repoTag and returns its digest.
func (r *Registry) push(t testing.TB, repoTag string, artifact interface {
	remote.Taggable
	Digest() (v1.Hash, error)
}) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Push(ref, artifact, r.auth()); err != nil {
		t.Fatal(err)
	}
	d, err := artifact.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func (r *Registry) auth() remote.Option {
	if r.user == "" {
		return remote.WithAuth(authn.Anonymous)
	}
	return remote.WithAuth(&authn.Basic{Username: r.user, Password: r.password})
}

// Image is a small linux/amd64 image whose configuration has the given User.
func Image(t testing.TB, user string) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.User = user
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
