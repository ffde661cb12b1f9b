// Package bench holds Bulwark's performance measurements: Go benchmarks of the admission hot
// path (decode, evaluate, mutate, encode, the whole handler) on fixed fixtures, with the
// upstream Pod Security evaluator (k8s.io/pod-security-admission) beside them in the same run,
// and the manifest generator that the scan benchmarks (here and hack/bench/scan) read.
//
// Run them with `make bench`; docs/performance.md has the commands and the numbers. Nothing
// here runs under `go test` without -bench.
package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ManifestsPerDir is how many manifests GenerateManifests writes into one directory.
const ManifestsPerDir = 200

// GenerateManifests writes n manifests, one object per file, into dir (below it, in
// directories of ManifestsPerDir files, as in a repository of many applications). The mix is
// fixed, so every run scans the same input: about two thirds workloads of every kind that
// carries a pod template (Deployments most), a third Services and ConfigMaps (kinds the scan
// skips); one workload in three is clean, the others have one or more violations (host
// namespaces, privileged, hostPath, root, latest images, missing securityContext or
// resources). It returns the total size in bytes.
func GenerateManifests(dir string, n int) (int64, error) {
	var total int64
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("app-%03d", i/ManifestsPerDir))
		if i%ManifestsPerDir == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return 0, err
			}
		}
		kind, doc := Manifest(i)
		name := filepath.Join(sub, fmt.Sprintf("%05d-%s.yaml", i, strings.ToLower(kind)))
		if err := os.WriteFile(name, []byte(doc), 0o644); err != nil {
			return 0, err
		}
		total += int64(len(doc))
	}
	return total, nil
}

// GenerateManifestFile writes the n manifests of GenerateManifests (the same objects, in the
// same order) into one file, as YAML documents separated by "---": the output of helm
// template or kubectl kustomize for a large application. It returns the file's size in bytes.
func GenerateManifestFile(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	var total int64
	for i := 0; i < n; i++ {
		if i > 0 {
			w.WriteString("---\n")
			total += 4
		}
		_, doc := Manifest(i)
		w.WriteString(doc)
		total += int64(len(doc))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return total, f.Close()
}

// kinds is the mix of kinds, one entry per 20 manifests.
var kinds = []string{
	"Deployment", "Deployment", "Deployment", "Deployment", "Deployment", "Deployment",
	"Pod", "Pod", "StatefulSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
	"Service", "Service", "Service", "ConfigMap", "ConfigMap", "ConfigMap", "ConfigMap",
}

// Manifest returns the kind and YAML of the i-th generated manifest.
func Manifest(i int) (kind, yaml string) {
	kind = kinds[i%len(kinds)]
	name := fmt.Sprintf("svc-%05d", i)
	ns := fmt.Sprintf("team-%d", i%7)
	switch kind {
	case "Service":
		return kind, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
  labels:
    app.kubernetes.io/name: %s
spec:
  selector:
    app.kubernetes.io/name: %s
  ports:
  - name: http
    port: 80
    targetPort: http
`, name, ns, name, name)
	case "ConfigMap":
		return kind, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s-config
  namespace: %s
data:
  LOG_LEVEL: info
  config.yaml: |
    listen: ":8080"
    upstream: "http://backend.%s.svc:8080"
    timeout: 5s
`, name, ns, ns)
	}
	spec := podSpec(i, name)
	var b strings.Builder
	switch kind {
	case "Pod":
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n    app.kubernetes.io/name: %s\nspec:\n%s", name, ns, name, indent(spec, 2))
		return kind, b.String()
	case "CronJob":
		fmt.Fprintf(&b, "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  schedule: \"*/15 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels:\n            app.kubernetes.io/name: %s\n        spec:\n%s", name, ns, name, indent(spec, 10))
		return kind, b.String()
	}
	group := "apps/v1"
	extra := fmt.Sprintf("  selector:\n    matchLabels:\n      app.kubernetes.io/name: %s\n", name)
	switch kind {
	case "Deployment":
		extra = "  replicas: 3\n" + extra
	case "StatefulSet":
		extra = "  replicas: 3\n  serviceName: " + name + "\n" + extra
	case "Job":
		group, extra = "batch/v1", "  backoffLimit: 2\n"
	}
	fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n    app.kubernetes.io/name: %s\nspec:\n%s  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: %s\n    spec:\n%s",
		group, kind, name, ns, name, extra, name, indent(spec, 6))
	return kind, b.String()
}

// podSpec returns the pod spec (YAML, unindented) of workload i: clean for one in three,
// otherwise with a violation picked by i.
func podSpec(i int, name string) string {
	restartPolicy := ""
	if k := kinds[i%len(kinds)]; k == "Job" || k == "CronJob" {
		restartPolicy = "restartPolicy: OnFailure\n"
	}
	const secure = `securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  seccompProfile:
    type: RuntimeDefault
automountServiceAccountToken: false
`
	const containerSecure = `  securityContext:
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: ["ALL"]
`
	const resources = `  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {cpu: 500m, memory: 256Mi}
`
	image := fmt.Sprintf("registry.example.com/shop/%s:1.%d.0", name, i%10)
	container := fmt.Sprintf(`containers:
- name: app
  image: %s
  ports:
  - name: http
    containerPort: 8080
  env:
  - name: LOG_LEVEL
    value: info
  volumeMounts:
  - name: tmp
    mountPath: /tmp
`, image)
	volumes := "volumes:\n- name: tmp\n  emptyDir: {}\n"
	switch (i / len(kinds)) % 9 {
	case 0, 1, 2: // clean under nsa and restricted, the image pinned by digest (image-digest);
		// one in three leaves the ServiceAccount token mounted, which nsa only audits
		pinned := strings.Replace(container, image, image+"@sha256:"+strings.Repeat(fmt.Sprintf("%x", i%16), 64), 1)
		spec := secure
		if (i/len(kinds))%9 == 2 {
			spec = strings.Replace(secure, "automountServiceAccountToken: false\n", "", 1)
		}
		return restartPolicy + spec + pinned + containerSecure + resources + volumes
	case 3: // nothing set: the defaults the mutating webhook adds, warnings in nsa
		return restartPolicy + container + volumes
	case 4: // privileged, as root
		return restartPolicy + secure + container + "  securityContext:\n    privileged: true\n    runAsUser: 0\n" + resources + volumes
	case 5: // host namespaces and a host port
		return restartPolicy + "hostNetwork: true\nhostPID: true\n" + secure + strings.Replace(container, "containerPort: 8080\n", "containerPort: 8080\n    hostPort: 8080\n", 1) + containerSecure + resources + volumes
	case 6: // a hostPath volume
		return restartPolicy + secure + container + "  - name: docker\n    mountPath: /var/run/docker.sock\n" + containerSecure + resources + volumes + "- name: docker\n  hostPath:\n    path: /var/run/docker.sock\n"
	case 7: // latest image, added capabilities, no limits
		return restartPolicy + secure + strings.Replace(container, image, "nginx:latest", 1) + "  securityContext:\n    allowPrivilegeEscalation: false\n    capabilities:\n      add: [\"NET_ADMIN\", \"SYS_TIME\"]\n" + volumes
	default: // two containers, the second without a securityContext
		return restartPolicy + secure + container + containerSecure + resources +
			"- name: proxy\n  image: registry.example.com/infra/proxy:2.4.1\n  args: [\"--upstream=127.0.0.1:8080\"]\n" + volumes
	}
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		b.WriteString(pad)
		b.WriteString(l)
	}
	return b.String()
}
