package checks_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// TestCapabilityMessages checks that a misspelled capability is explained: the developer
// learns the canonical name, and a harmless capability is not called dangerous.
func TestCapabilityMessages(t *testing.T) {
	for _, tc := range []struct {
		add      string
		message  []string
		fix      string
		notInMsg string
	}{
		{add: "SYS_ADMIN", message: []string{`adds capability "SYS_ADMIN"`, "nearly root"}, fix: `remove "SYS_ADMIN" from capabilities.add`, notInMsg: "written"},
		{add: "NET_ADMIN", message: []string{"network"}, fix: `remove "NET_ADMIN"`, notInMsg: "written"},
		{add: "WAKE_ALARM", message: []string{"outside the runtime's default set"}, fix: `remove "WAKE_ALARM"`},
		{add: "ALL", message: []string{"every capability"}, fix: "add only the capabilities the container needs", notInMsg: "written"},
		{add: "all", message: []string{"every capability", `in upper case, as in "ALL"`}, fix: `remove "all"`},
		{add: "CAP_CHOWN", message: []string{"not an allowed name", `without the CAP_ prefix, as in "CHOWN"`}, fix: `write "CHOWN" instead of "CAP_CHOWN"`, notInMsg: "root"},
		{add: "chown", message: []string{`in upper case, as in "CHOWN"`}, fix: `write "CHOWN" instead of "chown"`},
		{add: "cap_chown", message: []string{`in upper case and without the CAP_ prefix, as in "CHOWN"`}, fix: `write "CHOWN"`},
		{add: "CAP_SYS_ADMIN", message: []string{"nearly root", `without the CAP_ prefix, as in "SYS_ADMIN"`}, fix: `remove "CAP_SYS_ADMIN"`},
		{add: "sys_admin", message: []string{"nearly root", `in upper case, as in "SYS_ADMIN"`}, fix: `remove "sys_admin"`},
		{add: " SYS_ADMIN ", message: []string{"nearly root", `without spaces, as in "SYS_ADMIN"`}, fix: `remove " SYS_ADMIN "`},
		{add: " cap_kill", message: []string{`in upper case, without the CAP_ prefix and without spaces, as in "KILL"`}, fix: `write "KILL"`},
	} {
		t.Run(tc.add, func(t *testing.T) {
			pod := &podspec.Pod{
				GroupKind:   schema.GroupKind{Kind: "Pod"},
				HasTemplate: true,
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "app",
					Image: "registry.example.com/app:1.0",
					SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
						Add: []corev1.Capability{corev1.Capability(tc.add)},
					}},
				}}},
			}
			vs := only(t, "capabilities", checks.Params{}).Evaluate(pod)
			if len(vs) != 1 {
				t.Fatalf("got %d violations, want 1:\n%s", len(vs), render(vs))
			}
			v := vs[0]
			if !strings.HasPrefix(v.Message, `container "app" adds capability `) {
				t.Errorf("message %q does not name the container and capability", v.Message)
			}
			for _, want := range tc.message {
				if !strings.Contains(v.Message, want) {
					t.Errorf("message %q lacks %q", v.Message, want)
				}
			}
			if tc.notInMsg != "" && strings.Contains(v.Message, tc.notInMsg) {
				t.Errorf("message %q should not contain %q", v.Message, tc.notInMsg)
			}
			if !strings.Contains(v.Fix, tc.fix) {
				t.Errorf("fix %q lacks %q", v.Fix, tc.fix)
			}
		})
	}
}
