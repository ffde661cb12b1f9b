package helm

import (
	"os"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/test/framework"
)

// TestNamespaceLabelGuard: with namespaceLabelGuard on, the chart renders the
// ValidatingAdmissionPolicy of docs/security.md (which test/security holds against the real
// apiserver) for its admin groups, bound with Deny; off, it renders none.
func TestNamespaceLabelGuard(t *testing.T) {
	h := newHelm(t, "")
	for _, o := range parseManifest(t, h.template(t)) {
		if strings.HasPrefix(o.Kind, "ValidatingAdmissionPolicy") {
			t.Errorf("%s rendered with the default values", o)
		}
	}

	guardPath, err := framework.RepoFile("test/security/testdata/namespace-label-guard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(guardPath)
	if err != nil {
		t.Fatal(err)
	}
	var documented admissionregistrationv1.ValidatingAdmissionPolicy
	if err := yaml.Unmarshal([]byte(strings.Split(string(raw), "\n---\n")[0]), &documented); err != nil {
		t.Fatal(err)
	}

	objs := parseManifest(t, h.template(t, "--set", "namespaceLabelGuard.enabled=true"))
	var policy admissionregistrationv1.ValidatingAdmissionPolicy
	decode(t, find(t, objs, "ValidatingAdmissionPolicy", "bulwark-namespace-labels"), &policy)
	if !reflect.DeepEqual(policy.Spec, documented.Spec) {
		got, _ := yaml.Marshal(policy.Spec)
		want, _ := yaml.Marshal(documented.Spec)
		t.Errorf("the chart's policy differs from docs/security.md's:\n%s", framework.LineDiff(string(want), string(got)))
	}
	var binding admissionregistrationv1.ValidatingAdmissionPolicyBinding
	decode(t, find(t, objs, "ValidatingAdmissionPolicyBinding", "bulwark-namespace-labels"), &binding)
	if binding.Spec.PolicyName != policy.Name || !reflect.DeepEqual(binding.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
		t.Errorf("binding %+v, want policy %s with Deny", binding.Spec, policy.Name)
	}

	objs = parseManifest(t, h.template(t, "--set", "namespaceLabelGuard.enabled=true", "--set", "namespaceLabelGuard.adminGroups={platform-admins,break-glass}"))
	decode(t, find(t, objs, "ValidatingAdmissionPolicy", "bulwark-namespace-labels"), &policy)
	v := policy.Spec.Validations[0]
	if !strings.Contains(v.Expression, "request.userInfo.groups.exists(g, g in ['platform-admins', 'break-glass'])") ||
		v.Message != "only members of platform-admins or break-glass may set, change or remove the labels bulwark.dev/mode and pod-security.kubernetes.io/*" {
		t.Errorf("with two admin groups: %q, %q", v.Expression, v.Message)
	}
}
