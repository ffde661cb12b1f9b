package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

// choices turns fuzz input into a stream of decisions. Past the end of the input every
// decision is 0, which is always the simplest option (a field left out), so short inputs
// give small pods and the fuzzer grows them by appending bytes.
type choices struct {
	b []byte
	i int
}

func (c *choices) next() byte {
	if c.i >= len(c.b) {
		return 0
	}
	v := c.b[c.i]
	c.i++
	return v
}

// intn returns a decision in [0, n), n at most 256.
func (c *choices) intn(n int) int {
	if n <= 1 {
		return 0
	}
	return int(c.next()) % n
}

// set leaves key out of m (decision 0) or sets it to one of values; a nil value is an
// explicit JSON null, which the mutation and the apiserver treat as unset.
func (c *choices) set(m map[string]any, key string, values ...any) {
	if i := c.intn(len(values) + 1); i > 0 {
		m[key] = values[i-1]
	}
}

// pick returns one of values.
func pick[T any](c *choices, values ...T) T { return values[c.intn(len(values))] }

// capabilityNames mixes the names runtimes accept with the spellings the checks and the
// mutation must not be fooled by.
var capabilityNames = []any{
	"ALL", "all", "CAP_ALL", " ALL", "All",
	"SYS_ADMIN", "CAP_SYS_ADMIN", "sys_admin", "cap_sys_admin", "Sys_Admin", " SYS_ADMIN", "SYS_ADMIN ", "SYS_ADMIN\t",
	"NET_BIND_SERVICE", "net_bind_service", "CAP_NET_BIND_SERVICE",
	"NET_RAW", "CHOWN", "NET_ADMIN", "SYS_PTRACE", "",
}

// quantities are request and limit values as manifests write them: strings, plain numbers
// (json.Number keeps them numbers), zero, and null.
var quantities = []any{
	"100m", "50m", "2", "0", json.Number("1"), json.Number("0.5"), json.Number("0"), "64Mi", "1Gi", "8Gi", "1e3", "0.1", nil,
}

func (c *choices) capabilityList() any {
	switch c.intn(4) {
	case 0:
		return nil
	case 1:
		return []any{}
	}
	n := 1 + c.intn(3)
	out := make([]any, n)
	for i := range out {
		out[i] = pick(c, capabilityNames...)
	}
	return out
}

func (c *choices) seccompProfile(m map[string]any) {
	c.set(m, "seccompProfile", nil, map[string]any{},
		map[string]any{"type": "RuntimeDefault"},
		map[string]any{"type": "Unconfined"},
		map[string]any{"type": "Localhost", "localhostProfile": "profiles/audit.json"},
		map[string]any{"type": "Localhost"},
		map[string]any{"localhostProfile": "profiles/audit.json"},
		map[string]any{"type": nil},
		map[string]any{"type": "runtimedefault"})
}

func (c *choices) windowsOptions(m map[string]any) {
	c.set(m, "windowsOptions",
		map[string]any{"runAsUserName": "ContainerAdministrator"},
		map[string]any{"runAsUserName": "containeradministrator"},
		map[string]any{"runAsUserName": "ContainerUser"},
		map[string]any{"hostProcess": true},
		nil)
}

func (c *choices) runAsUser(m map[string]any) {
	c.set(m, "runAsUser", json.Number("0"), json.Number("1000"), nil, json.Number("-0"), json.Number("65534"))
}

func (c *choices) resourceList() any {
	switch c.intn(4) {
	case 0:
		return nil
	case 1:
		return map[string]any{}
	}
	m := map[string]any{}
	c.set(m, "cpu", quantities...)
	c.set(m, "memory", quantities...)
	c.set(m, "nvidia.com/gpu", json.Number("1"))
	return m
}

// container generates one container. ephemeral containers get the same fields: the API
// forbids resources and ports on them, which the handlers must still survive.
func (c *choices) container(name string, init bool) map[string]any {
	ct := map[string]any{"name": name, "image": pick(c, "nginx:1.27", "nginx", "busybox:latest",
		"registry.example.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")}
	switch c.intn(5) {
	case 0:
	case 1:
		ct["securityContext"] = nil
	case 2:
		ct["securityContext"] = map[string]any{}
	default:
		sc := map[string]any{}
		c.set(sc, "privileged", true, false, nil)
		c.set(sc, "allowPrivilegeEscalation", false, true, nil)
		c.set(sc, "readOnlyRootFilesystem", true, false, nil)
		c.set(sc, "runAsNonRoot", true, false, nil)
		c.runAsUser(sc)
		switch c.intn(5) {
		case 1:
			sc["capabilities"] = nil
		case 2:
			sc["capabilities"] = map[string]any{}
		case 3, 4:
			caps := map[string]any{}
			if add := c.capabilityList(); add != nil || c.intn(2) == 1 {
				caps["add"] = add
			}
			if drop := c.capabilityList(); drop != nil || c.intn(2) == 1 {
				caps["drop"] = drop
			}
			sc["capabilities"] = caps
		}
		c.seccompProfile(sc)
		c.windowsOptions(sc)
		c.set(sc, "procMount", "Unmasked", "Default")
		ct["securityContext"] = sc
	}
	switch c.intn(4) {
	case 1:
		ct["resources"] = nil
	case 2:
		ct["resources"] = map[string]any{}
	case 3:
		res := map[string]any{}
		if r := c.resourceList(); r != nil || c.intn(2) == 1 {
			res["requests"] = r
		}
		if l := c.resourceList(); l != nil || c.intn(2) == 1 {
			res["limits"] = l
		}
		ct["resources"] = res
	}
	if c.intn(6) == 1 {
		ct["ports"] = []any{map[string]any{"containerPort": json.Number("8080"), "hostPort": json.Number(pick(c, "0", "8080"))}}
	}
	if init {
		c.set(ct, "restartPolicy", "Always")
	}
	return ct
}

// genPod generates a pod spec and the pod template's annotations from the fuzz input.
// Container names are unique unless the input asks for a repeated one.
func (c *choices) genPod() (spec, annotations map[string]any) {
	spec = map[string]any{}
	c.set(spec, "hostNetwork", true, false)
	c.set(spec, "hostPID", true)
	c.set(spec, "hostIPC", true)
	c.set(spec, "hostUsers", false, true)
	// Windows pods and pod-level resources turn defaults off: not too often.
	if c.intn(4) == 3 {
		c.set(spec, "os", map[string]any{"name": "windows"}, map[string]any{"name": "linux"}, nil, map[string]any{}, map[string]any{"name": "Windows"})
	}
	c.set(spec, "automountServiceAccountToken", false, true, nil)
	if c.intn(4) == 3 {
		c.set(spec, "resources", nil, map[string]any{},
			map[string]any{"limits": map[string]any{"cpu": "1", "memory": "1Gi"}},
			map[string]any{"requests": map[string]any{"cpu": "100m"}})
	}
	switch c.intn(4) {
	case 1:
		spec["securityContext"] = nil
	case 2:
		spec["securityContext"] = map[string]any{}
	case 3:
		sc := map[string]any{}
		c.set(sc, "runAsNonRoot", true, false, nil)
		c.runAsUser(sc)
		c.seccompProfile(sc)
		c.windowsOptions(sc)
		c.set(sc, "sysctls", []any{map[string]any{"name": "kernel.shm_rmid_forced", "value": "1"}},
			[]any{map[string]any{"name": "kernel.msgmax", "value": "1"}})
		c.set(sc, "seLinuxOptions", map[string]any{"type": "spc_t"}, map[string]any{"type": "container_t"})
		c.set(sc, "appArmorProfile", map[string]any{"type": "Unconfined"}, map[string]any{"type": "RuntimeDefault"})
		spec["securityContext"] = sc
	}
	if n := c.intn(3); n > 0 {
		vols := make([]any, n)
		for i := range vols {
			vols[i] = pick[any](c,
				map[string]any{"name": fmt.Sprint("v", i), "emptyDir": map[string]any{}},
				map[string]any{"name": fmt.Sprint("v", i), "hostPath": map[string]any{"path": "/"}},
				map[string]any{"name": fmt.Sprint("v", i), "configMap": map[string]any{"name": "cfg"}},
				map[string]any{"name": fmt.Sprint("v", i), "nfs": map[string]any{"server": "nfs", "path": "/x"}})
		}
		spec["volumes"] = vols
	}
	var names []string
	name := func() string {
		if len(names) > 0 && c.intn(8) == 7 {
			return names[0]
		}
		n := fmt.Sprint("c", len(names))
		names = append(names, n)
		return n
	}
	lists := []struct {
		key  string
		max  int
		init bool
	}{{"initContainers", 3, true}, {"containers", 4, false}, {"ephemeralContainers", 3, false}}
	for _, l := range lists {
		n := c.intn(l.max)
		if l.key == "containers" {
			n++ // a pod has at least one container (zero is left to the raw JSON inputs)
		}
		if n == 0 {
			continue
		}
		items := make([]any, n)
		for i := range items {
			items[i] = c.container(name(), l.init)
		}
		spec[l.key] = items
	}
	annotations = map[string]any{}
	c.set(annotations, "seccomp.security.alpha.kubernetes.io/pod", "runtime/default", "docker/default", "unconfined", "localhost/prof.json")
	if len(names) > 0 {
		c.set(annotations, "container.seccomp.security.alpha.kubernetes.io/"+pick(c, names...), "runtime/default", "unconfined")
		c.set(annotations, "container.apparmor.security.beta.kubernetes.io/"+pick(c, names...), "runtime/default", "unconfined")
	}
	if len(annotations) == 0 {
		annotations = nil
	}
	return spec, annotations
}

// objectTree renders an object of kind k whose pod template has spec and annotations, as
// k.object does, as a JSON tree.
func objectTree(t testing.TB, k kind, name string, spec, annotations map[string]any) map[string]any {
	t.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	tree := decodeTree(t, []byte(k.object(name, string(js)))).(map[string]any)
	if annotations != nil {
		segs := pointerSegs(k.pointer)
		meta := tree
		for _, s := range segs[:len(segs)-1] {
			meta = meta[s.(string)].(map[string]any)
		}
		m, _ := meta["metadata"].(map[string]any)
		if m == nil {
			m = map[string]any{}
			meta["metadata"] = m
		}
		m["annotations"] = annotations
	}
	return tree
}

// decodeTree decodes JSON keeping numbers as written (json.Number).
func decodeTree(t testing.TB, data []byte) any {
	t.Helper()
	v, err := tryDecodeTree(data)
	if err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

func tryDecodeTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// fixtureObjects returns every workload fixture as JSON, keyed by file (with "#n" for the
// n-th document of a multi-document file): the check fixtures (pass and fail), the bypass
// fixtures, the mutation fixtures and the sample workloads.
func fixtureObjects(t testing.TB) map[string][]byte {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		"../../test/testdata/checks/*/pass/*.yaml",
		"../../test/testdata/checks/*/fail/*.yaml",
		"../../test/testdata/bypass/*.yaml",
		"../../test/testdata/mutate/*.input.yaml",
		"../../config/samples/workloads/*.yaml",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 100 {
		t.Fatalf("only %d fixture files found", len(files))
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---") {
			js, err := sigsyaml.YAMLToJSON([]byte(doc))
			if err != nil || string(js) == "null" {
				continue
			}
			out[fmt.Sprintf("%s#%d", f, i)] = js
		}
	}
	return out
}

// sortedFixtures is fixtureObjects in a stable order, for seeds.
func sortedFixtures(t testing.TB) [][]byte {
	m := fixtureObjects(t)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// kindOf finds the kind of a JSON object by its apiVersion and kind; ok is false when it is
// not one of allKinds.
func kindOf(obj []byte) (kind, bool) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if json.Unmarshal(obj, &tm) != nil {
		return kind{}, false
	}
	for _, k := range allKinds {
		if k.apiVersion() == tm.APIVersion && k.kind == tm.Kind {
			return k, true
		}
	}
	return kind{}, false
}
