{{/* The chart's name: nameOverride, else "bulwark"; the app.kubernetes.io/name label. */}}
{{- define "bulwark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The name of every object: fullnameOverride when set; else the release name when it contains
the chart's name, else "<release>-<name>"; truncated to 63 characters (a DNS label).
*/}}
{{- define "bulwark.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bulwark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels selecting this release's pods. */}}
{{- define "bulwark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bulwark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "bulwark.labels" -}}
helm.sh/chart: {{ include "bulwark.chart" . }}
{{ include "bulwark.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: bulwark
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{- range $k, $_ := . }}
{{- if or (eq $k "helm.sh/chart") (hasPrefix "app.kubernetes.io/" $k) }}
{{- fail (printf "commonLabels: %s is one of the chart's own labels (helm.sh/chart, app.kubernetes.io/*); use another key" $k) }}
{{- end }}
{{- end }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The labels of every object with more labels of its own (a ServiceMonitor's, say): one map, so
that a key in both is written once; the object's own labels win over commonLabels, and the
chart's labels over both. Call with (list . $extra).
*/}}
{{- define "bulwark.labelsWith" -}}
{{- $ctx := index . 0 -}}
{{- $own := include "bulwark.labels" (dict "Values" (omit $ctx.Values "commonLabels") "Release" $ctx.Release "Chart" $ctx.Chart) | fromYaml -}}
{{- toYaml (merge $own (index . 1 | default dict) ($ctx.Values.commonLabels | default dict)) -}}
{{- end -}}

{{/* The ServiceAccount Bulwark runs as. */}}
{{- define "bulwark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "bulwark.fullname" .) -}}
{{- else if .Values.serviceAccount.name -}}
{{- .Values.serviceAccount.name -}}
{{- else -}}
{{- fail "serviceAccount.create is false: set serviceAccount.name to the existing ServiceAccount in the release namespace that Bulwark runs as (the chart binds its Role and ClusterRole to it)" -}}
{{- end -}}
{{- end -}}

{{/*
The image: [registry/]repository:tag[@digest]. The registry is global.imageRegistry when set,
else image.registry. A repository that begins with a registry host (a first path component
with a dot or a colon, or localhost, as Docker reads it), as image.repository was given
before image.registry existed, is used as it is, without image.registry; global.imageRegistry
or an image.registry other than the default cannot then apply, and rendering fails.
*/}}
{{- define "bulwark.image" -}}
{{- $repo := .Values.image.repository -}}
{{- $first := index (splitList "/" $repo) 0 -}}
{{- $hasHost := and (contains "/" $repo) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $global := dig "imageRegistry" "" (.Values.global | default dict) -}}
{{- $registry := $global | default .Values.image.registry -}}
{{- if $hasHost -}}
{{- if $global -}}
{{- fail (printf "global.imageRegistry (%s) cannot apply: image.repository (%s) names a registry itself; give image.repository as a path inside the registry, e.g. bulwark-k8s/bulwark" $global $repo) -}}
{{- else if not (has .Values.image.registry (list "" "ghcr.io")) -}}
{{- fail (printf "image.registry (%s) and image.repository (%s) both name a registry; give image.repository as a path inside image.registry, e.g. bulwark-k8s/bulwark" .Values.image.registry $repo) -}}
{{- end -}}
{{- $registry = "" -}}
{{- end -}}
{{- with $registry }}{{ trimSuffix "/" . }}/{{ end -}}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) -}}
{{- with .Values.image.digest }}@{{ . }}{{ end -}}
{{- end -}}

{{/* The pod's imagePullSecrets: imagePullSecrets and image.pullSecrets together, each once; an item is {name} or a name. */}}
{{- define "bulwark.imagePullSecrets" -}}
{{- $names := list -}}
{{- range concat (.Values.imagePullSecrets | default list) (.Values.image.pullSecrets | default list) -}}
{{- if kindIs "string" . -}}
{{- $names = append $names . -}}
{{- else -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- end -}}
{{- range $names | uniq }}
- name: {{ . }}
{{- end -}}
{{- end -}}

{{/* The Secret holding the serving certificate (built-in manager or cert-manager). */}}
{{- define "bulwark.tlsSecret" -}}
{{- printf "%s-tls" (include "bulwark.fullname" .) -}}
{{- end -}}

{{/* "true" when the policy turns guardrail creation on: serve --guardrails and its rights. */}}
{{- define "bulwark.guardrails" -}}
{{- if dig "guardrails" "create" false .Values.policy }}true{{ end -}}
{{- end -}}

{{- define "bulwark.policyConfigMap" -}}
{{- printf "%s-policy" (include "bulwark.fullname" .) -}}
{{- end -}}

{{/* The directory Bulwark reads tls.crt and tls.key from. */}}
{{- define "bulwark.certDir" -}}
/tmp/k8s-webhook-server/serving-certs
{{- end -}}

{{/*
The settings of one webhook, webhooks.validating or webhooks.mutating: failurePolicy and
timeoutSeconds (the top-level values when unset), objectSelector, matchConditions, and the
namespaceSelector: the webhook's own, with the chart's expression added to its
matchExpressions, so that kube-system, the release namespace and .Values.exemptNamespaces are
never sent to Bulwark whatever the selector says. Call with (list . "validating").
*/}}
{{- define "bulwark.webhookSettings" -}}
{{- $ctx := index . 0 -}}
{{- $w := get ($ctx.Values.webhooks | default dict) (index . 1) | default dict -}}
{{- $exempt := concat (list "kube-system" $ctx.Release.Namespace) $ctx.Values.exemptNamespaces | uniq -}}
{{- $selector := deepCopy ($w.namespaceSelector | default dict) -}}
{{- $_ := set $selector "matchExpressions" (append ($selector.matchExpressions | default list) (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" $exempt)) -}}
namespaceSelector:
  {{- toYaml $selector | nindent 2 }}
{{- with $w.objectSelector }}
objectSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $conditions := $w.matchConditions | default list -}}
{{- if eq (index . 1) "rbac" -}}
{{- $conditions = concat (list (dict "name" "not-the-apiservers-own" "expression" "request.userInfo.username != 'system:apiserver'")) $conditions -}}
{{- end }}
{{- with $conditions }}
matchConditions:
  {{- toYaml . | nindent 2 }}
{{- end }}
failurePolicy: {{ include "bulwark.failurePolicy" . }}
timeoutSeconds: {{ include "bulwark.timeoutSeconds" . }}
{{- end -}}

{{/* A webhook's failurePolicy and timeoutSeconds, called with (list . "validating"): its own
     (webhooks.<name>), or the top-level value. */}}
{{- define "bulwark.failurePolicy" -}}
{{- $ctx := index . 0 -}}
{{- dig (index . 1) "failurePolicy" "" ($ctx.Values.webhooks | default dict) | default $ctx.Values.failurePolicy -}}
{{- end -}}
{{- define "bulwark.timeoutSeconds" -}}
{{- $ctx := index . 0 -}}
{{- dig (index . 1) "timeoutSeconds" 0 ($ctx.Values.webhooks | default dict) | default $ctx.Values.timeoutSeconds -}}
{{- end -}}

{{/* The rules of the webhook for RBAC objects: exactly pkg/server.RBACRules(). */}}
{{- define "bulwark.rbacRules" -}}
rules:
  - apiGroups: ["rbac.authorization.k8s.io"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["roles", "clusterroles", "rolebindings", "clusterrolebindings"]
    scope: "*"
{{- end -}}

{{/* The rules of both webhooks: exactly pkg/server.Rules(). */}}
{{- define "bulwark.rules" -}}
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers"]
    scope: Namespaced
  - apiGroups: ["apps"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
    scope: Namespaced
  - apiGroups: ["batch"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["jobs", "cronjobs"]
    scope: Namespaced
{{- end -}}

{{/* Bulwark's graceful shutdown: what is left of the grace period after the preStop sleep and the shutdown delay, less 5s. */}}
{{- define "bulwark.shutdownTimeout" -}}
{{- $left := sub (sub (sub (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) (int .Values.shutdownDelaySeconds)) 5 -}}
{{- if lt $left 5 -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least preStopSleepSeconds (%d) + shutdownDelaySeconds (%d) + 10: Bulwark needs at least 5s to finish in-flight requests and 5s of margin before SIGKILL" (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds) (int .Values.shutdownDelaySeconds)) -}}
{{- end -}}
{{- printf "%ds" $left -}}
{{- end -}}
