package checks

import (
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// restrictedVolumeTypes are the volume sources the restricted Pod Security Standard allows,
// by json field name of corev1.VolumeSource.
var restrictedVolumeTypes = map[string]bool{
	"configMap":             true,
	"csi":                   true,
	"downwardAPI":           true,
	"emptyDir":              true,
	"ephemeral":             true,
	"image":                 true,
	"persistentVolumeClaim": true,
	"projected":             true,
	"secret":                true,
}

const restrictedVolumeList = "configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected or secret"

func init() {
	Register(Check{
		ID:         "volume-types",
		Category:   LeastPrivilege,
		Profiles:   ProfileActions{Restricted: Enforce, NSA: Warn},
		Summary:    "Pods may use only the restricted volume types: configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret.",
		Supersedes: []string{"host-path"},
		Evaluate: func(c *Context) {
			for i := range c.Pod.Spec.Volumes {
				v := &c.Pod.Spec.Volumes[i]
				types := volumeSourceTypes(&v.VolumeSource)
				allowed := false
				for _, t := range types {
					allowed = allowed || restrictedVolumeTypes[t]
				}
				if allowed {
					continue
				}
				field := c.Pod.SpecField(fmt.Sprintf("volumes[%d]", i))
				if len(types) == 0 {
					c.Report(field,
						fmt.Sprintf("volume %q has no source, so its type cannot be checked against the restricted volume types", v.Name),
						fmt.Sprintf("give volume %q a %s source", v.Name, restrictedVolumeList))
					continue
				}
				c.Report(field,
					fmt.Sprintf("volume %q is of type %s, outside the restricted volume types; it can expose node or shared storage", v.Name, types[0]),
					fmt.Sprintf("replace volume %q with a %s volume", v.Name, restrictedVolumeList))
			}
		},
	})
}

// volumeSourceTypes returns the json names of the sources set in vs, in field order (a valid
// volume has exactly one).
func volumeSourceTypes(vs *corev1.VolumeSource) []string {
	var out []string
	rv := reflect.ValueOf(vs).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rv.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}
