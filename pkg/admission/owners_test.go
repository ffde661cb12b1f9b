package admission

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// TestExemptionCarriesToControllerCreatedPods: an exemption of a DaemonSet or a Deployment by
// kind and name also admits the pods (and the ReplicaSet) their controllers create from the
// admitted template; the same owner reference written by anyone else exempts nothing.
func TestExemptionCarriesToControllerCreatedPods(t *testing.T) {
	h := newHarness(t, parsePolicy(t, `apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: nsa
exemptions:
  - name: log-agent
    reason: reads the node's logs until it moves to kube-system, OPS-1
    namespace: team-a
    kinds: [DaemonSet]
    names: [log-agent]
    checks: [host-network]
  - name: legacy
    reason: shares the node's network until the Q1 migration, OPS-2
    namespace: team-a
    kinds: [Deployment]
    names: [legacy]
    checks: [host-network]
`))
	owned := func(kind, name string) string {
		return `"ownerReferences":[{"apiVersion":"apps/v1","kind":"` + kind + `","name":"` + name + `","uid":"u1","controller":true}]`
	}
	pod := func(meta string) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"x-","namespace":"team-a",` + meta + `},` +
			`"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"registry.example.com/c:1"}]}}`
	}
	rs := `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"legacy-6d4f8b7c9","namespace":"team-a",` + owned("Deployment", "legacy") + `},` +
		`"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"registry.example.com/c:1"}]}}}}`
	const ctrl = "system:serviceaccount:kube-system:"
	tests := []struct {
		name, user string
		k          kind
		obj        string
		allowed    bool
	}{
		{"the DaemonSet's pod, from its controller", ctrl + "daemon-set-controller", kPod, pod(owned("DaemonSet", "log-agent")), true},
		{"the same pod from a user", "mallory@example.com", kPod, pod(owned("DaemonSet", "log-agent")), false},
		{"another DaemonSet's pod", ctrl + "daemon-set-controller", kPod, pod(owned("DaemonSet", "miner")), false},
		{"from a controller that is not a workload's", ctrl + "namespace-controller", kPod, pod(owned("DaemonSet", "log-agent")), false},
		{"the Deployment's ReplicaSet", ctrl + "deployment-controller", kReplicaSet, rs, true},
		{"the Deployment's pod, through its ReplicaSet", ctrl + "replicaset-controller", kPod,
			pod(owned("ReplicaSet", "legacy-6d4f8b7c9") + `,"labels":{"pod-template-hash":"6d4f8b7c9"}`), true},
		{"a ReplicaSet's pod that does not carry its hash", ctrl + "replicaset-controller", kPod, pod(owned("ReplicaSet", "legacy-6d4f8b7c9")), false},
		{"without a controller reference", "system:kube-controller-manager", kPod, pod(`"labels":{"a":"b"}`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := request(admissionv1.Create, tc.k, "", tc.obj, "")
			req.UserInfo.Username = tc.user
			resp := h.v.Handle(context.Background(), req)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v, want %v: %v", resp.Allowed, tc.allowed, resp.Result)
			}
			if !tc.allowed && !strings.Contains(resp.Result.Message, "[host-network]") {
				t.Errorf("denied for another reason: %s", resp.Result.Message)
			}
		})
	}
}
