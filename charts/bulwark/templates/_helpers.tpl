{{/*
The name of every object: the release name when it contains "bulwark", else
"<release>-bulwark", truncated to 63 characters (a DNS label).
*/}}
{{- define "bulwark.fullname" -}}
{{- if contains "bulwark" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-bulwark" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bulwark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels selecting this release's pods. */}}
{{- define "bulwark.selectorLabels" -}}
app.kubernetes.io/name: bulwark
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
{{- end -}}

{{- define "bulwark.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- with .Values.image.digest }}@{{ . }}{{ end -}}
{{- end -}}

{{/* The Secret holding the serving certificate (built-in manager or cert-manager). */}}
{{- define "bulwark.tlsSecret" -}}
{{- printf "%s-tls" (include "bulwark.fullname" .) -}}
{{- end -}}

{{- define "bulwark.policyConfigMap" -}}
{{- printf "%s-policy" (include "bulwark.fullname" .) -}}
{{- end -}}

{{/* The directory Bulwark reads tls.crt and tls.key from. */}}
{{- define "bulwark.certDir" -}}
/tmp/k8s-webhook-server/serving-certs
{{- end -}}

{{/*
The namespaceSelector of both webhooks: kube-system, the release namespace and
.Values.exemptNamespaces are never sent to Bulwark.
*/}}
{{- define "bulwark.namespaceSelector" -}}
{{- $exempt := concat (list "kube-system" .Release.Namespace) .Values.exemptNamespaces | uniq -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- range $exempt }}
        - {{ . | quote }}
        {{- end }}
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
