package security

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tlscerts "github.com/bulwark-k8s/bulwark/pkg/certs"
)

// cliRun runs the bulwark binary and returns its standard output, standard error and exit code.
func cliRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running bulwark %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// TestCLIOutputHoldsNoSecrets: `bulwark scan` (text, JSON, SARIF) and `bulwark mutate` read
// manifests holding Secrets (data and stringData, a TLS key) and pods with secrets in env
// values, arguments and annotations. What they print about them names objects, fields and
// checks, never a value; only mutate's standard output, which is the manifests themselves,
// carries them (and shows that the finder sees them there).
func TestCLIOutputHoldsNoSecrets(t *testing.T) {
	leaks := newLeakSet()
	key, err := tlscerts.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaks.addPEM("the TLS Secret's key", key.KeyPEM)
	leaks.addPublic(key.CertPEM)
	v := map[string]string{}
	for _, name := range []string{"data", "stringData", "env", "bearer", "arg", "annotation", "deployEnv"} {
		v[name] = randomSecret(name + "-")
		leaks.add("the "+name+" secret", v[name])
	}
	indent := func(pem []byte) string {
		return "    " + strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n    ")
	}
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: shop
type: Opaque
data:
  password: %s
stringData:
  api-key: %s
---
apiVersion: v1
kind: Secret
metadata:
  name: shop-tls
  namespace: shop
type: kubernetes.io/tls
stringData:
  tls.crt: |
%s
  tls.key: |
%s
---
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
  annotations:
    example.com/api-key: %s
spec:
  hostNetwork: true
  containers:
    - name: app
      image: registry.example.com/shop/api:1.4.2
      args: ["--db-password=%s"]
      env:
        - name: DB_PASSWORD
          value: %s
        - name: API_TOKEN
          value: "Bearer %s"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/shop/web:3.1
          env:
            - name: SESSION_SECRET
              value: %s
`, b64(v["data"]), v["stringData"], indent(key.CertPEM), indent(key.KeyPEM), v["annotation"], v["arg"], v["env"], v["bearer"], v["deployEnv"])
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, format := range []string{"text", "json", "sarif"} {
		t.Run("scan -o "+format, func(t *testing.T) {
			stdout, stderr, code := cliRun(t, "scan", "-o", format, file)
			if code != 1 || !strings.Contains(stdout, "host-network") {
				t.Fatalf("exit %d, want 1 (Pod api denied by host-network):\n%s%s", code, stdout, stderr)
			}
			for where, text := range map[string]string{"standard output": stdout, "standard error": stderr} {
				if found := leaks.find(text); len(found) > 0 {
					t.Errorf("%s holds secret material:\n%s", where, strings.Join(found, "\n"))
				}
			}
		})
	}
	t.Run("mutate", func(t *testing.T) {
		stdout, stderr, code := cliRun(t, "mutate", file)
		if code != 0 || !strings.Contains(stderr, "set ") {
			t.Fatalf("exit %d, want 0 with the defaults listed on standard error:\n%s", code, stderr)
		}
		if found := leaks.find(stderr); len(found) > 0 {
			t.Errorf("standard error holds secret material:\n%s", strings.Join(found, "\n"))
		}
		// The manifests come out whole, secrets included: that is what mutate is for.
		if found := leaks.find(stdout); len(found) == 0 {
			t.Errorf("the mutated manifests lost the Secrets' values:\n%s", stdout)
		}
	})
	// A document that is not a Kubernetes object at all: a key file named .yaml in a manifest
	// directory, or a token pasted between two documents. The error must say where it is
	// and what is wrong without repeating it.
	for _, tc := range []struct{ name, text string }{
		{"a private key in a .yaml file", string(key.KeyPEM)},
		{"a token between two documents", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n" + v["bearer"] + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"},
	} {
		f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
		if err := os.WriteFile(f, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"scan", "--strict"}, {"mutate"}} {
			t.Run(strings.Join(args, " ")+" of "+tc.name, func(t *testing.T) {
				stdout, stderr, code := cliRun(t, append(args, f)...)
				if code != 2 || !strings.Contains(stderr, filepath.Base(f)) || !strings.Contains(stderr, "line ") {
					t.Errorf("exit %d, want 2 with an error naming the file and the line:\n%s", code, stderr)
				}
				for where, text := range map[string]string{"standard output": stdout, "standard error": stderr} {
					if found := leaks.find(text); len(found) > 0 {
						t.Errorf("%s repeats the document:\n%s", where, strings.Join(found, "\n"))
					}
				}
			})
		}
		// Without --strict, scan notes the document in its report (or, with nothing else to
		// read, on standard error) and goes on: the note must not repeat it either.
		t.Run("scan of "+tc.name, func(t *testing.T) {
			stdout, stderr, code := cliRun(t, "scan", f)
			if code == 1 || !strings.Contains(stdout+stderr, filepath.Base(f)+":") {
				t.Errorf("exit %d, want 0 or 2 with a note naming the file:\n%s%s", code, stdout, stderr)
			}
			for where, text := range map[string]string{"standard output": stdout, "standard error": stderr} {
				if found := leaks.find(text); len(found) > 0 {
					t.Errorf("%s repeats the document:\n%s", where, strings.Join(found, "\n"))
				}
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
