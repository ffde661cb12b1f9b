package policy_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/internal/patchtest"
	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/mutate"
	"github.com/bulwark-k8s/bulwark/pkg/policy"
)

// bareVolumes uses every restricted volume type and sets no securityContext anywhere.
const bareVolumes = `
  volumes:
  - name: scratch
    emptyDir: {}
  - name: config
    configMap: {name: app-config}
  - name: creds
    secret: {secretName: app-secret}
  - name: token
    projected:
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
  - name: data
    persistentVolumeClaim: {claimName: data}
  - name: labels
    downwardAPI:
      items:
      - path: labels
        fieldRef: {fieldPath: metadata.labels}
  - name: inline
    csi: {driver: secrets-store.csi.k8s.io}
  - name: cache
    ephemeral:
      volumeClaimTemplate:
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
  - name: model
    image: {reference: registry.example.com/model:1.0}`

// bareContainers is a pod spec body: an init container, a sidecar, two containers, no
// securityContext, a named port (not a host port) and probes without a host.
const bareContainers = `
  initContainers:
  - name: migrate
    image: registry.example.com/migrate:1.0
    volumeMounts: [{name: config, mountPath: /etc/app}]
  - name: proxy
    image: registry.example.com/proxy:1.0
    restartPolicy: Always
    ports: [{containerPort: 15001}]
  containers:
  - name: app
    image: registry.example.com/app:1.0
    ports: [{containerPort: 8080, name: http}]
    readinessProbe: {httpGet: {path: /ready, port: http}}
    livenessProbe: {tcpSocket: {port: 8080}}
    volumeMounts: [{name: scratch, mountPath: /tmp}, {name: data, mountPath: /data}]
  - name: worker
    image: registry.example.com/worker:1.0
    resources: {limits: {cpu: "1", memory: 1Gi}}`

// mutatedCases are objects that set no securityContext at all and use only restricted volume
// types: docs/checks.md promises each passes restricted once mutated with the nsa defaults.
var mutatedCases = []struct{ name, manifest string }{
	{"pod", `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:` + bareContainers + `
  ephemeralContainers:
  - name: debugger
    image: registry.example.com/debug:1.0
    targetContainerName: app` + bareVolumes},
	{"windows-pod", `apiVersion: v1
kind: Pod
metadata: {name: web-win, namespace: shop}
spec:
  os: {name: windows}` + bareContainers + bareVolumes},
	{"deployment", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:` + indentSpec(bareContainers+bareVolumes, "    ")},
	{"cronjob", `apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure` + indentSpec(bareContainers+bareVolumes, "        ")},
}

// indentSpec indents a pod spec body written for a Pod (two spaces) by extra.
func indentSpec(body, extra string) string {
	return strings.ReplaceAll(body, "\n", "\n"+extra)
}

// TestMutatedPassesRestricted checks docs/checks.md's promise: an object whose pod template sets
// no securityContext at all and uses only restricted volume types is denied by restricted
// (ours and PSA's) as it is, and allowed by both once mutated with the nsa profile's defaults.
func TestMutatedPassesRestricted(t *testing.T) {
	nsa := profile(t, policy.NSA)
	if nsa.Mutation == nil {
		t.Fatal("the nsa profile has mutation off")
	}
	restricted := profile(t, policy.Restricted)
	if restricted.Mutation != nil {
		t.Error("the restricted profile has mutation on; docs/checks.md says no mutation")
	}
	for _, tc := range mutatedCases {
		t.Run(tc.name, func(t *testing.T) {
			bare, js := decodeObject(t, tc.name, []byte(tc.manifest))
			if sc := bare.Spec.SecurityContext; sc != nil {
				t.Fatalf("test object sets a pod securityContext: %+v", sc)
			}
			containers := len(bare.Spec.InitContainers) + len(bare.Spec.Containers) + len(bare.Spec.EphemeralContainers)
			if containers < 4 || len(bare.Spec.Volumes) < 9 {
				t.Fatalf("test object decoded with %d containers and %d volumes; the manifest is broken", containers, len(bare.Spec.Volumes))
			}

			before := restricted.Checks.Evaluate(bare)
			psaBefore := psaVerdict(t, levels[1].psa, asCorePod(bare))
			if !checks.Denied(before) || psaBefore.Allowed {
				t.Fatalf("before mutation: restricted denied=%v, PSA allowed=%v; want both to deny, or the test proves nothing",
					checks.Denied(before), psaBefore.Allowed)
			}

			res, object := mutateObject(t, bare.GroupKind, js, nsa.Mutation)
			if len(res.Patch) == 0 {
				t.Fatal("Patch added nothing")
			}
			mutated, _ := decodeObject(t, tc.name+" (mutated)", object)
			after := restricted.Checks.Evaluate(mutated)
			psaAfter := psaVerdict(t, levels[1].psa, asCorePod(mutated))
			if checks.Denied(after) || !psaAfter.Allowed {
				out, _ := yaml.JSONToYAML(object)
				t.Errorf("after mutation: restricted denied=%v, PSA allowed=%v; want both to allow\n%s\nchanges:\n%s\nmutated:\n%s",
					checks.Denied(after), psaAfter.Allowed, verdicts{oursDenied: checks.Denied(after), ours: after, psa: psaAfter}.describe(),
					changes(res.Changes), out)
			}
		})
	}
}

// TestMutatedPassesRestrictedNeedsEachDefault is the control of TestMutatedPassesRestricted:
// with any one of the four security defaults off (through a policy document), the mutated pod
// is still denied by restricted, ours and PSA's alike.
func TestMutatedPassesRestrictedNeedsEachDefault(t *testing.T) {
	restricted := profile(t, policy.Restricted)
	for _, name := range []string{mutate.Seccomp, mutate.PrivilegeEscalation, mutate.DropCapabilities, mutate.RunAsNonRoot} {
		t.Run(name, func(t *testing.T) {
			snap, err := policy.Parse([]byte("apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nmutation:\n  defaults:\n    "+name+": false\n"), "test")
			if err != nil {
				t.Fatal(err)
			}
			if snap.Mutation == nil || snap.Mutation.Enabled(name) {
				t.Fatalf("policy did not turn %s off: %+v", name, snap.Mutation)
			}
			bare, js := decodeObject(t, "pod", []byte(mutatedCases[0].manifest))
			_, object := mutateObject(t, bare.GroupKind, js, snap.Mutation)
			mutated, _ := decodeObject(t, "pod (mutated)", object)
			after := restricted.Checks.Evaluate(mutated)
			psaAfter := psaVerdict(t, levels[1].psa, asCorePod(mutated))
			if !checks.Denied(after) || psaAfter.Allowed {
				t.Errorf("without %s: restricted denied=%v, PSA allowed=%v; want both to deny\n%s", name,
					checks.Denied(after), psaAfter.Allowed, verdicts{oursDenied: checks.Denied(after), ours: after, psa: psaAfter}.describe())
			}
		})
	}
}

// mutateObject returns the mutation of obj and obj with its patch applied as the apiserver
// applies it (evanphx/json-patch).
func mutateObject(t *testing.T, gk schema.GroupKind, obj []byte, opts *mutate.Options) (*mutate.Result, []byte) {
	t.Helper()
	res, err := mutate.Patch(gk, obj, opts, mutate.Target{})
	if err != nil {
		t.Fatalf("Patch: %v", err)
	}
	return res, patchtest.Apply(t, obj, res.Patch)
}

func changes(cs []mutate.Change) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString("  " + c.String() + "\n")
	}
	return b.String()
}
