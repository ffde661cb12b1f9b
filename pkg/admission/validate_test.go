package admission

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// line is one violation as rendered in a denial message or a warning:
// "[check] field: message. Fix: fix".
type line struct {
	check, field, message, fix string
}

func parseLine(t *testing.T, s string) line {
	t.Helper()
	var l line
	if !strings.HasPrefix(s, "[") || !strings.Contains(s, "] ") {
		t.Fatalf("not a violation line: %q", s)
	}
	l.check, s, _ = strings.Cut(s[1:], "] ")
	var ok bool
	if l.field, s, ok = strings.Cut(s, ": "); !ok {
		t.Fatalf("violation line without field: %q", s)
	}
	i := strings.LastIndex(s, ". Fix: ")
	if i < 0 {
		t.Fatalf("violation line without fix: %q", s)
	}
	l.message, l.fix = s[:i], s[i+len(". Fix: "):]
	return l
}

// wantLine is an expected violation line: exact check, field and fix, a fragment of the message.
type wantLine struct {
	check, field, fix, mentions string
}

func assertLines(t *testing.T, what string, got []string, want []wantLine) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d lines, want %d:\n%s", what, len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		l := parseLine(t, got[i])
		if l.check != w.check || l.field != w.field || l.fix != w.fix || !strings.Contains(l.message, w.mentions) {
			t.Errorf("%s line %d:\n got  %q\n want check %q, field %q, fix %q, message mentioning %q",
				what, i, got[i], w.check, w.field, w.fix, w.mentions)
		}
	}
}

// denialLines splits a denial message into its header and violation lines.
func denialLines(t *testing.T, resp admission.Response) (string, []string) {
	t.Helper()
	if resp.Allowed {
		t.Fatalf("request allowed, want denied; warnings %q", resp.Warnings)
	}
	if resp.Result == nil || resp.Result.Code != http.StatusForbidden {
		t.Fatalf("result %+v, want code 403", resp.Result)
	}
	if resp.Result.Reason != "Forbidden" {
		t.Errorf("reason %q, want Forbidden", resp.Result.Reason)
	}
	lines := strings.Split(resp.Result.Message, "\n")
	return lines[0], lines[1:]
}

const (
	fixHostNetwork = "remove hostNetwork or set it to false"
	fixPrivileged  = "remove securityContext.privileged or set it to false"
	fixImageTag    = "pin the image to a version tag or a digest (image@sha256:...)"
	fixHostPID     = "remove hostPID or set it to false"
)

// TestValidatorDenial checks the whole answer to a violating Deployment under the nsa
// profile: the 403, the message, warnings, audit annotations, metrics and the log line.
func TestValidatorDenial(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	spec := `{"hostNetwork":true,"containers":[
		{"name":"app","image":"nginx:1.27"},
		{"name":"priv","image":"nginx:1.27","securityContext":{"privileged":true}}]}`
	req := request(admissionv1.Create, kDeployment, "web", kDeployment.object("web", spec), "")
	dry := true
	req.DryRun = &dry
	resp := h.v.Handle(context.Background(), req)

	header, lines := denialLines(t, resp)
	if want := `Deployment "web" violates 2 Bulwark checks (profile nsa):`; header != want {
		t.Errorf("header %q, want %q", header, want)
	}
	assertLines(t, "denial", lines, []wantLine{
		{"host-network", "spec.template.spec.hostNetwork", fixHostNetwork, "network namespace"},
		{"privileged", "spec.template.spec.containers[1].securityContext.privileged", fixPrivileged, `container "priv" runs privileged`},
	})

	// Warn checks become warnings, each "[check] field: ...", and only warn checks.
	warnChecks := map[string]bool{
		"run-as-non-root": true, "run-as-user": true, "privilege-escalation": true, "drop-capabilities": true,
		"seccomp-required": true, "volume-types": true, "read-only-root-filesystem": true,
		"resource-limits": true, "resource-requests": true, "image-tag": true, "image-digest": true,
	}
	shown, notShown := splitTrailer(t, resp.Warnings)
	for _, w := range shown {
		l := parseLine(t, strings.TrimSuffix(w, "...")+". Fix: x")
		if !warnChecks[l.check] {
			t.Errorf("warning from a check that is not warn in nsa: %q", w)
		}
		if !strings.HasPrefix(l.field, "spec.template.spec.") {
			t.Errorf("warning field %q lacks the Deployment's pod spec prefix", l.field)
		}
	}
	if !containsPrefix(shown, "[privilege-escalation] spec.template.spec.containers[1].securityContext.allowPrivilegeEscalation: ") {
		t.Errorf("no privilege-escalation warning for containers[1]: %q", shown)
	}
	// Every warn violation is either shown or counted in the trailer.
	var warnCount float64
	for k, v := range h.counters("bulwark_check_violations_total") {
		if strings.Contains(k, "action=warn,") {
			warnCount += v
		}
	}
	if got := float64(len(shown) + notShown); got != warnCount || warnCount < 10 {
		t.Errorf("%d warnings shown + %d not shown, want the %v warn violations counted", len(shown), notShown, warnCount)
	}

	// Audit checks become audit annotations keyed by check ID.
	wantAudit := map[string]string{
		"automount-service-account-token": "spec.template.spec.automountServiceAccountToken: the pod mounts its service account token, which anyone who compromises a container can use against the Kubernetes API",
	}
	if !reflect.DeepEqual(resp.AuditAnnotations, wantAudit) {
		t.Errorf("audit annotations %q, want %q", resp.AuditAnnotations, wantAudit)
	}

	// Metrics: one decision, violations by check and action; enforce and audit exactly.
	assertMaps(t, "decisions", h.decisions(), map[string]float64{
		decisionKey("validate", "deployments", "create", "denied"): 1,
	})
	v := h.counters("bulwark_check_violations_total")
	for key, want := range map[string]float64{
		violationKey("host-network", "enforce", "deployments"):                  1,
		violationKey("privileged", "enforce", "deployments"):                    1,
		violationKey("automount-service-account-token", "audit", "deployments"): 1,
		violationKey("privilege-escalation", "warn", "deployments"):             2,
		violationKey("resource-limits", "warn", "deployments"):                  4,
		violationKey("run-as-non-root", "warn", "deployments"):                  1,
	} {
		if v[key] != want {
			t.Errorf("bulwark_check_violations_total{%s} = %v, want %v", key, v[key], want)
		}
	}
	for key := range v {
		if strings.Contains(key, "action=enforce") && !strings.Contains(key, "check=host-network") && !strings.Contains(key, "check=privileged,") {
			t.Errorf("unexpected enforce violation series %s", key)
		}
	}
	assertBoundedLabels(t, h, req)

	// The denial is logged once with the request UID and the enforced check IDs.
	logs := h.logLines("denied")
	if len(logs) != 1 {
		t.Fatalf("got %d denial log lines, want 1: %v", len(logs), h.logs)
	}
	l := logs[0]
	for k, want := range map[string]any{
		"uid": "uid-create-deployments-web", "kind": "Deployment", "namespace": "team-a",
		"name": `Deployment "web"`, "user": "alice@example.com", "operation": "create", "dryRun": true,
		"checks": []any{"host-network", "privileged"},
	} {
		if !reflect.DeepEqual(l[k], want) {
			t.Errorf("log %s = %#v, want %#v (line %v)", k, l[k], want, l)
		}
	}
}

// assertBoundedLabels checks that no series of any Bulwark metric carries a name, namespace,
// user or UID, and that only the documented label names are used.
func assertBoundedLabels(t *testing.T, h *harness, req admission.Request) {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"webhook": true, "resource": true, "operation": true, "decision": true, "check": true, "action": true, "default": true}
	forbidden := []string{req.Name, req.Namespace, string(req.UID), req.UserInfo.Username}
	if len(mfs) == 0 {
		t.Fatal("no metrics gathered")
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !allowed[lp.GetName()] {
					t.Errorf("%s has label %q", mf.GetName(), lp.GetName())
				}
				for _, f := range forbidden {
					if f != "" && strings.Contains(lp.GetValue(), f) {
						t.Errorf("%s label %s=%q carries %q", mf.GetName(), lp.GetName(), lp.GetValue(), f)
					}
				}
			}
		}
	}
}

// splitTrailer separates the "N more warnings not shown" line, returning N.
func splitTrailer(t *testing.T, warnings []string) ([]string, int) {
	t.Helper()
	if len(warnings) == 0 {
		return nil, 0
	}
	last := warnings[len(warnings)-1]
	const pre, post = "bulwark: ", " more warnings not shown; run `bulwark scan` on the manifest to see them all"
	if !strings.HasPrefix(last, pre) || !strings.HasSuffix(last, post) {
		return warnings, 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(last, pre), post))
	if err != nil || n <= 0 {
		t.Fatalf("bad trailer %q", last)
	}
	return warnings[:len(warnings)-1], n
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// policyDoc sets specific actions: a warn, an enforce, an audit and an off on top of baseline.
const policyDoc = `
apiVersion: bulwark.dev/v1alpha1
kind: Policy
profile: baseline
checks:
  host-network:
    action: warn
  image-tag:
    action: enforce
  read-only-root-filesystem:
    action: audit
  host-pid:
    action: "off"
`

// TestValidatorPolicyActions checks every action of a policy document on one Pod, and the
// order of violations (by check ID, then document order).
func TestValidatorPolicyActions(t *testing.T) {
	h := newHarness(t, parsePolicy(t, policyDoc))
	spec := `{"hostNetwork":true,"hostPID":true,
		"initContainers":[{"name":"init","image":"alpine:3.20"}],
		"containers":[
			{"name":"app","image":"nginx","securityContext":{"privileged":true}},
			{"name":"side","image":"busybox:latest","securityContext":{"readOnlyRootFilesystem":true}}]}`
	req := request(admissionv1.Create, kPod, "x", kPod.object("x", spec), "")
	resp := h.v.Handle(context.Background(), req)

	header, lines := denialLines(t, resp)
	// Two checks fail, one of them at two fields.
	if want := `Pod "x" violates 2 Bulwark checks (test-policy.yaml):`; header != want {
		t.Errorf("header %q, want %q", header, want)
	}
	assertLines(t, "denial", lines, []wantLine{
		{"image-tag", "spec.containers[0].image", fixImageTag, `container "app" uses image "nginx" with no tag`},
		{"image-tag", "spec.containers[1].image", fixImageTag, `container "side" uses image "busybox:latest"`},
		{"privileged", "spec.containers[0].securityContext.privileged", fixPrivileged, `container "app"`},
	})
	assertLines(t, "warnings", resp.Warnings, []wantLine{
		{"host-network", "spec.hostNetwork", fixHostNetwork, "network namespace"},
	})
	wantAudit := map[string]string{
		"read-only-root-filesystem": `spec.initContainers[0].securityContext.readOnlyRootFilesystem: init container "init" can write to its root file system, so an intruder can change its binaries or drop tools; ` +
			`spec.containers[0].securityContext.readOnlyRootFilesystem: container "app" can write to its root file system, so an intruder can change its binaries or drop tools`,
	}
	if !reflect.DeepEqual(resp.AuditAnnotations, wantAudit) {
		t.Errorf("audit annotations:\n got  %q\n want %q", resp.AuditAnnotations, wantAudit)
	}
	if strings.Contains(resp.Result.Message, "host-pid") || strings.Contains(resp.Result.Message, "hostPID") {
		t.Errorf("check host-pid is off but reported: %s", resp.Result.Message)
	}
	assertMaps(t, "violations", h.counters("bulwark_check_violations_total"), map[string]float64{
		violationKey("image-tag", "enforce", "pods"):               2,
		violationKey("privileged", "enforce", "pods"):              1,
		violationKey("host-network", "warn", "pods"):               1,
		violationKey("read-only-root-filesystem", "audit", "pods"): 2,
	})
	assertMaps(t, "decisions", h.decisions(), map[string]float64{
		decisionKey("validate", "pods", "create", "denied"): 1,
	})
	logs := h.logLines("denied")
	if len(logs) != 1 || logs[0]["uid"] != "uid-create-pods-x" {
		t.Fatalf("denial log lines %v, want one with uid uid-create-pods-x", logs)
	}
	if got, want := logs[0]["checks"], []any{"image-tag", "privileged"}; !reflect.DeepEqual(got, want) {
		t.Errorf("logged checks %v, want %v", got, want)
	}
}

// TestValidatorAllowedWithWarningsOnly: warn and audit violations admit the request.
func TestValidatorAllowedWithWarningsOnly(t *testing.T) {
	h := newHarness(t, parsePolicy(t, policyDoc))
	spec := `{"hostNetwork":true,"containers":[{"name":"app","image":"nginx:1.27"}]}`
	resp := h.v.Handle(context.Background(), request(admissionv1.Create, kPod, "x", kPod.object("x", spec), ""))
	if !resp.Allowed || resp.Result.Code != http.StatusOK {
		t.Fatalf("got %+v, want allowed", resp.Result)
	}
	assertLines(t, "warnings", resp.Warnings, []wantLine{
		{"host-network", "spec.hostNetwork", fixHostNetwork, "network namespace"},
	})
	if _, ok := resp.AuditAnnotations["read-only-root-filesystem"]; !ok || len(resp.AuditAnnotations) != 1 {
		t.Errorf("audit annotations %q, want read-only-root-filesystem only", resp.AuditAnnotations)
	}
	if logs := h.logLines("denied"); len(logs) != 0 {
		t.Errorf("allowed request logged as denied: %v", logs)
	}
	assertMaps(t, "decisions", h.decisions(), map[string]float64{
		decisionKey("validate", "pods", "create", "allowed"): 1,
	})
}

// compliant is a pod spec that passes every check of the nsa profile.
const compliant = `{"automountServiceAccountToken":false,
	"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},
	"containers":[{"name":"app","image":"nginx:1.27@sha256:0d3f2b8c1a5e7f9d4b6c8a0e2f4d6b8a1c3e5f7d9b0a2c4e6f8d1b3a5c7e9f0b",
		"securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}},
		"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":"512Mi"}}}]}`

// TestValidatorEveryKind: each kind is evaluated at its own pod spec path.
func TestValidatorEveryKind(t *testing.T) {
	violating := `{"hostPID":true,"containers":[
		{"name":"app","image":"nginx:1.27"},
		{"name":"priv","image":"nginx:1.27","securityContext":{"privileged":true}}]}`
	for _, k := range allKinds {
		t.Run(k.kind, func(t *testing.T) {
			h := newHarness(t, profile(t, "nsa"))
			resp := h.v.Handle(context.Background(), request(admissionv1.Create, k, "w", k.object("w", violating), ""))
			header, lines := denialLines(t, resp)
			if want := fmt.Sprintf(`%s "w" violates 2 Bulwark checks (profile nsa):`, k.kind); header != want {
				t.Errorf("header %q, want %q", header, want)
			}
			assertLines(t, "denial", lines, []wantLine{
				{"host-pid", k.specPath + ".hostPID", fixHostPID, "process"},
				{"privileged", k.specPath + ".containers[1].securityContext.privileged", fixPrivileged, `container "priv"`},
			})
			wantAudit := k.specPath + ".automountServiceAccountToken: "
			if !strings.HasPrefix(resp.AuditAnnotations["automount-service-account-token"], wantAudit) {
				t.Errorf("audit annotation %q, want prefix %q", resp.AuditAnnotations, wantAudit)
			}

			ok := h.v.Handle(context.Background(), request(admissionv1.Create, k, "ok", k.object("ok", compliant), ""))
			if !ok.Allowed || len(ok.Warnings) != 0 || len(ok.AuditAnnotations) != 0 {
				t.Errorf("compliant %s: allowed %v, warnings %q, audit %q; want allowed with none", k.kind, ok.Allowed, ok.Warnings, ok.AuditAnnotations)
			}
			assertMaps(t, "decisions", h.decisions(), map[string]float64{
				decisionKey("validate", k.resource, "create", "denied"):  1,
				decisionKey("validate", k.resource, "create", "allowed"): 1,
			})
			if got := h.counter("bulwark_check_violations_total", map[string]string{"check": "privileged", "action": "enforce", "resource": k.resource}); got != 1 {
				t.Errorf("privileged violations for %s = %v, want 1", k.resource, got)
			}
		})
	}
}

// TestValidatorObjectName: the message names the object as the user wrote it.
func TestValidatorObjectName(t *testing.T) {
	priv := `{"containers":[{"name":"app","image":"nginx:1.27","securityContext":{"privileged":true}}]}`
	cases := []struct {
		name    string
		obj     string
		reqName string
		want    string
	}{
		{"name", kPod.object("x", priv), "x", `Pod "x" violates 1 Bulwark check (profile nsa):`},
		{"generateName", `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-"},"spec":` + priv + `}`, "", `Pod "web-*" violates 1 Bulwark check (profile nsa):`},
		{"name from request", `{"apiVersion":"v1","kind":"Pod","metadata":{},"spec":` + priv + `}`, "from-req", `Pod "from-req" violates 1 Bulwark check (profile nsa):`},
		{"no name", `{"apiVersion":"v1","kind":"Pod","metadata":{},"spec":` + priv + `}`, "", `Pod violates 1 Bulwark check (profile nsa):`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, profile(t, "nsa"))
			req := request(admissionv1.Create, kPod, c.reqName, c.obj, "")
			header, _ := denialLines(t, h.v.Handle(context.Background(), req))
			if header != c.want {
				t.Errorf("header %q, want %q", header, c.want)
			}
		})
	}
}

// privilegedPod is a Pod that any profile denies.
var privilegedPod = kPod.object("x", `{"containers":[{"name":"app","image":"nginx:1.27","securityContext":{"privileged":true}}]}`)

// TestShortCuts: requests admitted by both handlers without evaluation.
func TestShortCuts(t *testing.T) {
	violating := `{"containers":[{"name":"app","image":"nginx:1.27","securityContext":{"privileged":true}}]}`
	depl := func(replicas int, image string) string {
		return kDeployment.object("web", strings.Replace(violating, "nginx:1.27", image, 1), fmt.Sprintf(`"replicas":%d`, replicas))
	}
	scale := kind{"autoscaling", "v1", "Scale", "deployments", "", ""}
	cases := []struct {
		name       string
		req        admission.Request
		resource   string // metrics label
		operation  string
		wantReason string
	}{
		{
			name:       "DELETE",
			req:        request(admissionv1.Delete, kPod, "x", "", privilegedPod),
			resource:   "pods",
			operation:  "delete",
			wantReason: "operation DELETE is not evaluated",
		},
		{
			name: "CONNECT",
			req: func() admission.Request {
				r := request(admissionv1.Connect, kind{"", "v1", "PodExecOptions", "pods", "", ""}, "x", `{"kind":"PodExecOptions","apiVersion":"v1","command":["sh"]}`, "")
				r.SubResource = "exec"
				return r
			}(),
			resource:   "pods/exec",
			operation:  "connect",
			wantReason: "operation CONNECT is not evaluated",
		},
		{
			name: "status subresource",
			req: func() admission.Request {
				r := request(admissionv1.Update, kPod, "x", privilegedPod, privilegedPod)
				r.SubResource = "status"
				return r
			}(),
			resource:   "pods/status",
			operation:  "update",
			wantReason: "subresource status is not evaluated",
		},
		{
			name: "scale subresource",
			req: func() admission.Request {
				r := request(admissionv1.Update, scale, "web",
					`{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":5}}`,
					`{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":1}}`)
				r.Resource.Group = "apps"
				r.SubResource = "scale"
				return r
			}(),
			resource:   "deployments/scale",
			operation:  "update",
			wantReason: "subresource scale is not evaluated",
		},
		{
			name:       "unknown kind",
			req:        request(admissionv1.Create, kService, "svc", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"ports":[{"port":80}]}}`, ""),
			resource:   "services",
			operation:  "create",
			wantReason: "kind Service carries no pod template Bulwark knows",
		},
		{
			name:       "template unchanged",
			req:        request(admissionv1.Update, kDeployment, "web", depl(5, "nginx:1.27"), depl(1, "nginx:1.27")),
			resource:   "deployments",
			operation:  "update",
			wantReason: "the update leaves the pod template unchanged",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, profile(t, "nsa"))
			for _, hd := range []struct {
				webhook string
				h       admission.Handler
			}{{"validate", h.v}, {"mutate", h.m}} {
				resp := hd.h.Handle(context.Background(), c.req)
				if !resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusOK {
					t.Fatalf("%s: %+v, want allowed", hd.webhook, resp.Result)
				}
				if resp.Result.Message != c.wantReason {
					t.Errorf("%s: reason %q, want %q", hd.webhook, resp.Result.Message, c.wantReason)
				}
				if len(resp.Patches) != 0 || len(resp.Warnings) != 0 || len(resp.AuditAnnotations) != 0 {
					t.Errorf("%s: skipped request has patches %v, warnings %q, audit %q", hd.webhook, resp.Patches, resp.Warnings, resp.AuditAnnotations)
				}
			}
			assertMaps(t, "decisions", h.decisions(), map[string]float64{
				decisionKey("validate", c.resource, c.operation, "skipped"): 1,
				decisionKey("mutate", c.resource, c.operation, "skipped"):   1,
			})
			if v := h.counters("bulwark_check_violations_total"); len(v) != 0 {
				t.Errorf("skipped request evaluated: %v", v)
			}
		})
	}
}

// TestUpdateChangingTemplateIsEvaluated: the counterpart of the unchanged-template short-cut.
func TestUpdateChangingTemplateIsEvaluated(t *testing.T) {
	violating := `{"containers":[{"name":"app","image":"IMAGE","securityContext":{"privileged":true}}]}`
	depl := func(image string, annotations string) string {
		o := kDeployment.object("web", strings.Replace(violating, "IMAGE", image, 1))
		if annotations != "" {
			o = strings.Replace(o, `"template":{"metadata":{`, `"template":{"metadata":{"annotations":`+annotations+`,`, 1)
		}
		return o
	}
	cases := []struct {
		name     string
		old, new string
		want     []wantLine
	}{
		{
			name: "image changed",
			old:  depl("nginx:1.26", ""), new: depl("nginx:1.27", ""),
			want: []wantLine{{"privileged", "spec.template.spec.containers[0].securityContext.privileged", fixPrivileged, `container "app"`}},
		},
		{
			name: "template annotation changed",
			old:  depl("nginx:1.27", ""),
			new:  depl("nginx:1.27", `{"container.apparmor.security.beta.kubernetes.io/app":"unconfined"}`),
			want: []wantLine{
				{"apparmor", "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]",
					`remove annotation "container.apparmor.security.beta.kubernetes.io/app" and set securityContext.appArmorProfile.type to RuntimeDefault`,
					"turns AppArmor confinement off"},
				{"privileged", "spec.template.spec.containers[0].securityContext.privileged", fixPrivileged, `container "app"`},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, profile(t, "nsa"))
			resp := h.v.Handle(context.Background(), request(admissionv1.Update, kDeployment, "web", c.new, c.old))
			_, lines := denialLines(t, resp)
			assertLines(t, "denial", lines, c.want)
			assertMaps(t, "decisions", h.decisions(), map[string]float64{
				decisionKey("validate", "deployments", "update", "denied"): 1,
			})
			// The mutator evaluates the new template too (a Deployment, unlike a Pod, is
			// mutated on update).
			m := h.m.Handle(context.Background(), request(admissionv1.Update, kDeployment, "web", c.new, c.old))
			if !m.Allowed || len(m.Patches) == 0 {
				t.Errorf("mutator on a changed template: allowed %v, %d patches; want a patch", m.Allowed, len(m.Patches))
			}
		})
	}
}

// TestEphemeralContainers: pods/ephemeralcontainers UPDATE reports only what the new
// ephemeral container introduces.
func TestEphemeralContainers(t *testing.T) {
	// The pod was admitted before the policy: a privileged container.
	base := `"containers":[{"name":"app","image":"nginx:1.27","securityContext":{"privileged":true}}]`
	pod := func(ephemeral ...string) string {
		spec := "{" + base
		if len(ephemeral) > 0 {
			spec += `,"ephemeralContainers":[` + strings.Join(ephemeral, ",") + `]`
		}
		return kPod.object("x", spec+"}")
	}
	const (
		dbgPriv  = `{"name":"dbg","image":"busybox:1.36","securityContext":{"privileged":true}}`
		dbg2Priv = `{"name":"dbg2","image":"busybox:1.36","securityContext":{"privileged":true}}`
		dbgPlain = `{"name":"dbg","image":"busybox:1.36"}`
	)
	ephemeralReq := func(newObj, oldObj string) admission.Request {
		r := request(admissionv1.Update, kPod, "x", newObj, oldObj)
		r.SubResource = "ephemeralcontainers"
		return r
	}

	t.Run("privileged ephemeral container denied", func(t *testing.T) {
		h := newHarness(t, profile(t, "nsa"))
		resp := h.v.Handle(context.Background(), ephemeralReq(pod(dbgPriv), pod()))
		header, lines := denialLines(t, resp)
		if want := `Pod "x" violates 1 Bulwark check (profile nsa):`; header != want {
			t.Errorf("header %q, want %q", header, want)
		}
		assertLines(t, "denial", lines, []wantLine{
			{"privileged", "spec.ephemeralContainers[0].securityContext.privileged", fixPrivileged, `ephemeral container "dbg"`},
		})
		for _, w := range resp.Warnings {
			if strings.Contains(w, "spec.containers[0]") {
				t.Errorf("warning about the existing container: %q", w)
			}
		}
		if !containsPrefix(resp.Warnings, "[privilege-escalation] spec.ephemeralContainers[0].securityContext.allowPrivilegeEscalation: ") {
			t.Errorf("no privilege-escalation warning for the ephemeral container: %q", resp.Warnings)
		}
		if len(resp.AuditAnnotations) != 0 {
			t.Errorf("audit annotations %q: automountServiceAccountToken was already unset in the old pod", resp.AuditAnnotations)
		}
		assertMaps(t, "decisions", h.decisions(), map[string]float64{
			decisionKey("validate", "pods/ephemeralcontainers", "update", "denied"): 1,
		})
		assertMaps(t, "enforce violations", filter(h.counters("bulwark_check_violations_total"), "action=enforce"), map[string]float64{
			violationKey("privileged", "enforce", "pods/ephemeralcontainers"): 1,
		})
	})

	t.Run("second ephemeral container", func(t *testing.T) {
		h := newHarness(t, profile(t, "nsa"))
		resp := h.v.Handle(context.Background(), ephemeralReq(pod(dbgPriv, dbg2Priv), pod(dbgPriv)))
		_, lines := denialLines(t, resp)
		assertLines(t, "denial", lines, []wantLine{
			{"privileged", "spec.ephemeralContainers[1].securityContext.privileged", fixPrivileged, `ephemeral container "dbg2"`},
		})
	})

	// What a pod grants every container (host namespaces, host volumes) counts again: a new
	// container would share it.
	t.Run("pod-wide violations of the old pod count", func(t *testing.T) {
		h := newHarness(t, profile(t, "nsa"))
		legacy := func(ephemeral ...string) string {
			spec := `{"hostPID":true,"volumes":[{"name":"root","hostPath":{"path":"/"}}],` + base
			if len(ephemeral) > 0 {
				spec += `,"ephemeralContainers":[` + strings.Join(ephemeral, ",") + `]`
			}
			return kPod.object("x", spec+"}")
		}
		mounting := `{"name":"dbg","image":"busybox:1.36","volumeMounts":[{"name":"root","mountPath":"/host"}]}`
		for _, dbg := range []string{dbgPlain, mounting} {
			resp := h.v.Handle(context.Background(), ephemeralReq(legacy(dbg), legacy()))
			_, lines := denialLines(t, resp)
			assertLines(t, "denial", lines, []wantLine{
				{"host-path", "spec.volumes[0].hostPath", `replace volume "root" with an emptyDir, configMap, secret or persistentVolumeClaim volume`, `volume "root"`},
				{"host-pid", "spec.hostPID", "remove hostPID or set it to false", "process namespace"},
			})
		}
	})

	t.Run("harmless ephemeral container admitted", func(t *testing.T) {
		h := newHarness(t, profile(t, "nsa"))
		resp := h.v.Handle(context.Background(), ephemeralReq(pod(dbgPlain), pod()))
		if !resp.Allowed {
			t.Fatalf("denied: %s", resp.Result.Message)
		}
		if len(resp.Warnings) == 0 {
			t.Error("no warnings for the new ephemeral container")
		}
		for _, w := range resp.Warnings {
			if strings.Contains(w, "spec.containers[0]") || strings.Contains(w, "hostPID") {
				t.Errorf("warning about what the old pod already had: %q", w)
			}
		}
	})

	t.Run("the same request on the pod itself is fully evaluated", func(t *testing.T) {
		// Without the subresource the old violations are reported: the filter is specific
		// to pods/ephemeralcontainers.
		h := newHarness(t, profile(t, "nsa"))
		r := request(admissionv1.Update, kPod, "x", pod(dbgPriv), pod())
		_, lines := denialLines(t, h.v.Handle(context.Background(), r))
		if ids := checkIDs(lines); !reflect.DeepEqual(ids, []string{"privileged", "privileged"}) {
			t.Errorf("checks %v, want privileged twice (the old container's and the new one's)", ids)
		}
	})

	t.Run("mutation touches only the new ephemeral container", func(t *testing.T) {
		h := newHarness(t, profile(t, "nsa"))
		oldObj := pod(dbgPlain)
		newObj := pod(dbgPlain, `{"name":"dbg2","image":"busybox:1.36"}`)
		req := ephemeralReq(newObj, oldObj)
		resp := h.m.Handle(context.Background(), req)
		if !resp.Allowed || len(resp.Patches) == 0 {
			t.Fatalf("allowed %v, %d patches; want a patch", resp.Allowed, len(resp.Patches))
		}
		for _, p := range resp.Patches {
			if !strings.HasPrefix(p.Path, "/spec/ephemeralContainers/1/") {
				t.Errorf("patch outside the new ephemeral container: %s %s", p.Operation, p.Path)
			}
		}
		out := applyPatch(t, req, resp, newObj)
		assertJSONEqual(t, toJSON(t, at(t, out, "spec", "ephemeralContainers", 1)),
			`{"name":"dbg2","image":"busybox:1.36","securityContext":{
				"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},
				"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}}`)
		// Everything else is as it was.
		for _, seg := range [][]any{{"spec", "containers"}, {"spec", "securityContext"}, {"spec", "ephemeralContainers", 0}} {
			if g, w := toJSON(t, at(t, out, seg...)), toJSON(t, at(t, newObj, seg...)); g != w {
				t.Errorf("%v changed: %s, was %s", seg, g, w)
			}
		}
		want := []string{"bulwark set defaults in spec.ephemeralContainers[1].securityContext: seccompProfile.type=RuntimeDefault, " +
			"allowPrivilegeEscalation=false, capabilities.drop=[ALL], runAsNonRoot=true"}
		if !reflect.DeepEqual(resp.Warnings, want) {
			t.Errorf("warnings %q, want %q", resp.Warnings, want)
		}
		assertMaps(t, "decisions", h.decisions(), map[string]float64{
			decisionKey("mutate", "pods/ephemeralcontainers", "update", "allowed"): 1,
		})
	})
}

func filter(m map[string]float64, substr string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.Contains(k, substr) {
			out[k] = v
		}
	}
	return out
}

// TestDenialIsBounded: a pod with many violating containers gets a denial listing the first
// violations and how many more there are, not a message of hundreds of kilobytes.
func TestDenialIsBounded(t *testing.T) {
	h := newHarness(t, profile(t, "nsa"))
	var containers []string
	for i := 0; i < 200; i++ {
		containers = append(containers, fmt.Sprintf(`{"name":"c%d","image":"nginx:1","securityContext":{"privileged":true}}`, i))
	}
	spec := `{"containers":[` + strings.Join(containers, ",") + `]}`
	resp := h.v.Handle(context.Background(), request(admissionv1.Create, kPod, "x", kPod.object("x", spec), ""))
	if resp.Allowed {
		t.Fatal("admitted")
	}
	lines := strings.Split(resp.Result.Message, "\n")
	if got := len(lines); got != 1+maxDenialLines+1 {
		t.Fatalf("%d lines, want the header, %d violations and a trailer", got, maxDenialLines)
	}
	if want := `Pod "x" violates 1 Bulwark check (profile nsa):`; lines[0] != want {
		t.Errorf("header %q, want %q", lines[0], want)
	}
	if want := "... and 150 more; run `bulwark scan` on the manifest to see them all"; lines[len(lines)-1] != want {
		t.Errorf("trailer %q, want %q", lines[len(lines)-1], want)
	}
}
