package mutate

import (
	"encoding/json"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// skeleton returns the object that pod was decoded from, as the JSON tree the defaulters work
// on, with only the members they read: the template's annotations (legacy seccomp), and of
// the spec its os, securityContext, resources, automountServiceAccountToken and containers,
// each container with its name, securityContext and resources. Values have the types
// decoding JSON gives (strings, booleans, json.Number, []any, map[string]any), and a member
// is there exactly when it was in the JSON (pod.Present tells where the typed pod cannot), so
// that the operations computed on the skeleton apply to the object as it came.
func skeleton(pod *podspec.Pod) map[string]any {
	root := map[string]any{}
	template := root
	for _, seg := range pod.Shape.Template {
		m := map[string]any{}
		template[seg] = m
		template = m
	}
	if len(pod.Meta.Annotations) > 0 {
		annotations := make(map[string]any, len(pod.Meta.Annotations))
		for k, v := range pod.Meta.Annotations {
			annotations[k] = v
		}
		template["metadata"] = map[string]any{"annotations": annotations}
	}
	template["spec"] = specSkeleton(&pod.Spec, &pod.Present)
	return root
}

func specSkeleton(spec *corev1.PodSpec, present *podspec.Presence) map[string]any {
	s := map[string]any{}
	if spec.OS != nil {
		s["os"] = map[string]any{"name": string(spec.OS.Name)}
	}
	if sc := spec.SecurityContext; sc != nil {
		m := map[string]any{}
		putInt(m, "runAsUser", sc.RunAsUser)
		putBool(m, "runAsNonRoot", sc.RunAsNonRoot)
		putSeccomp(m, sc.SeccompProfile)
		putWindows(m, sc.WindowsOptions)
		s["securityContext"] = m
	}
	if spec.Resources != nil {
		s["resources"] = map[string]any{} // only its presence is read
	}
	putBool(s, "automountServiceAccountToken", spec.AutomountServiceAccountToken)
	init, regular, ephemeral := spec.InitContainers, spec.Containers, spec.EphemeralContainers
	putContainers(s, "initContainers", init != nil, len(init), present.InitContainers, func(i int) containerFields {
		return containerFields{init[i].Name, init[i].SecurityContext, &init[i].Resources}
	})
	putContainers(s, "containers", regular != nil, len(regular), present.Containers, func(i int) containerFields {
		return containerFields{regular[i].Name, regular[i].SecurityContext, &regular[i].Resources}
	})
	putContainers(s, "ephemeralContainers", ephemeral != nil, len(ephemeral), present.EphemeralContainers, func(i int) containerFields {
		return containerFields{ephemeral[i].Name, ephemeral[i].SecurityContext, &ephemeral[i].Resources}
	})
	return s
}

// containerFields are the members of a container, of any of the three lists, that the
// defaults read.
type containerFields struct {
	name string
	sc   *corev1.SecurityContext
	res  *corev1.ResourceRequirements
}

// putContainers sets the list of n containers under key when the spec has it (set); at gives
// the i-th container's fields.
func putContainers(m map[string]any, key string, set bool, n int, items []podspec.Item, at func(i int) containerFields) {
	if !set {
		return
	}
	out := make([]any, n)
	for i := range out {
		out[i] = containerSkeleton(items[i], at(i))
	}
	m[key] = out
}

// containerSkeleton returns one container, or nil (JSON null) for a null item.
func containerSkeleton(item podspec.Item, f containerFields) any {
	if item.Null {
		return nil
	}
	sc, res := f.sc, f.res
	c := map[string]any{"name": f.name}
	if sc != nil {
		m := map[string]any{}
		putBool(m, "privileged", sc.Privileged)
		putBool(m, "allowPrivilegeEscalation", sc.AllowPrivilegeEscalation)
		putBool(m, "readOnlyRootFilesystem", sc.ReadOnlyRootFilesystem)
		putBool(m, "runAsNonRoot", sc.RunAsNonRoot)
		putInt(m, "runAsUser", sc.RunAsUser)
		putSeccomp(m, sc.SeccompProfile)
		putWindows(m, sc.WindowsOptions)
		if caps := sc.Capabilities; caps != nil {
			cm := map[string]any{}
			putCapabilities(cm, "add", caps.Add)
			putCapabilities(cm, "drop", caps.Drop)
			m["capabilities"] = cm
		}
		c["securityContext"] = m
	}
	if item.Resources {
		r := map[string]any{}
		putQuantities(r, "requests", res.Requests)
		putQuantities(r, "limits", res.Limits)
		c["resources"] = r
	}
	return c
}

func putBool(m map[string]any, key string, v *bool) {
	if v != nil {
		m[key] = *v
	}
}

func putInt(m map[string]any, key string, v *int64) {
	if v != nil {
		m[key] = json.Number(strconv.FormatInt(*v, 10))
	}
}

func putSeccomp(m map[string]any, p *corev1.SeccompProfile) {
	if p != nil {
		m["seccompProfile"] = map[string]any{"type": string(p.Type)}
	}
}

func putWindows(m map[string]any, w *corev1.WindowsSecurityContextOptions) {
	if w == nil {
		return
	}
	wm := map[string]any{}
	if w.RunAsUserName != nil {
		wm["runAsUserName"] = *w.RunAsUserName
	}
	m["windowsOptions"] = wm
}

// putCapabilities keeps a list that is there, even empty, apart from one that is not.
func putCapabilities(m map[string]any, key string, caps []corev1.Capability) {
	if caps == nil {
		return
	}
	list := make([]any, len(caps))
	for i, c := range caps {
		list[i] = string(c)
	}
	m[key] = list
}

// putQuantities keeps the cpu and memory quantities, the ones the resources default reads. A
// quantity without a format was null in the JSON (parsing always sets one): missing, as any
// null member.
func putQuantities(m map[string]any, key string, list corev1.ResourceList) {
	if list == nil {
		return
	}
	qm := map[string]any{}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := list[name]; ok && q.Format != "" {
			qm[string(name)] = q.String()
		}
	}
	m[key] = qm
}
