package checks

import "testing"

func TestParseImageRef(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want imageRef
	}{
		{"nginx", imageRef{registry: "docker.io", path: "library/nginx"}},
		{"nginx:1.25", imageRef{registry: "docker.io", path: "library/nginx", tag: "1.25"}},
		{"nginx:latest", imageRef{registry: "docker.io", path: "library/nginx", tag: "latest"}},
		{"bitnami/redis:7", imageRef{registry: "docker.io", path: "bitnami/redis", tag: "7"}},
		{"docker.io/nginx", imageRef{registry: "docker.io", path: "library/nginx"}},
		{"index.docker.io/library/nginx:1", imageRef{registry: "docker.io", path: "library/nginx", tag: "1"}},
		{"localhost/app", imageRef{registry: "localhost", path: "app"}},
		{"localhost:5000/app", imageRef{registry: "localhost:5000", path: "app"}},
		{"localhost:5000/app:2.0", imageRef{registry: "localhost:5000", path: "app", tag: "2.0"}},
		{"registry.example.com/team/app:1.0", imageRef{registry: "registry.example.com", path: "team/app", tag: "1.0"}},
		{"Registry.Example.com/app", imageRef{registry: "registry.example.com", path: "app"}},
		{"MyHost/app", imageRef{registry: "myhost", path: "app"}},
		{"app@sha256:abc", imageRef{registry: "docker.io", path: "library/app", digest: "sha256:abc"}},
		{"app:latest@sha256:abc", imageRef{registry: "docker.io", path: "library/app", tag: "latest", digest: "sha256:abc"}},
		{"host:5000/a/b:v1@sha256:abc", imageRef{registry: "host:5000", path: "a/b", tag: "v1", digest: "sha256:abc"}},
	} {
		if got := parseImageRef(tc.ref); got != tc.want {
			t.Errorf("parseImageRef(%q) = %+v, want %+v", tc.ref, got, tc.want)
		}
	}
}

func TestImageRefAllowedBy(t *testing.T) {
	for _, tc := range []struct {
		image   string
		allowed []string
		want    bool
	}{
		{"registry.example.com/app:1", []string{"registry.example.com"}, true},
		{"registry.example.com/team/app:1", []string{"registry.example.com/"}, true},
		{"registry.example.com.evil.io/app:1", []string{"registry.example.com"}, false},
		{"evil.io/registry.example.com/app:1", []string{"registry.example.com"}, false},
		{"ghcr.io/acme/app:1", []string{"ghcr.io/acme"}, true},
		{"ghcr.io/acme:1", []string{"ghcr.io/acme"}, true},
		{"ghcr.io/acme-evil/app:1", []string{"ghcr.io/acme"}, false},
		{"ghcr.io/other/app:1", []string{"ghcr.io/acme", "ghcr.io/other"}, true},
		{"nginx:1.25", []string{"registry.example.com"}, false},
		{"nginx:1.25", []string{"docker.io"}, true},
		{"nginx:1.25", []string{"docker.io/library"}, true},
		{"bitnami/redis:7", []string{"docker.io/library"}, false},
		{"nginx:1.25", []string{"index.docker.io"}, true},
		{"localhost:5000/app", []string{"localhost"}, false},
		{"localhost:5000/app", []string{"localhost:5000"}, true},
		{"Registry.Example.com/app", []string{"registry.example.com"}, true},
		{"registry.example.com/app", []string{"REGISTRY.example.com"}, true},
		{"registry.example.com/app", []string{""}, false},
	} {
		if got := parseImageRef(tc.image).allowedBy(tc.allowed); got != tc.want {
			t.Errorf("%q allowed by %q = %v, want %v", tc.image, tc.allowed, got, tc.want)
		}
	}
}
