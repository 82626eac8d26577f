{{/* The broker's name: "rabbitmq", or "<release>-rabbitmq" with global.releasePrefix, the
release name shortened so that the whole is at most 52 characters: the StatefulSet's pods carry it
in labels of at most 63 (controller-revision-hash adds 11), and "-headless" still makes a Service
name of at most 63. A release name that cannot begin a DNS-1035 label (a digit first, a dot) fails. */}}
{{- define "rabbitmq.fullname" -}}
{{- if .Values.global.releasePrefix -}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" .Release.Name) -}}
{{- fail (printf "global.releasePrefix: the release name %q cannot begin Service names, which are DNS-1035 labels (a lowercase letter, then lowercase letters, digits and \"-\"): choose such a release name, or leave global.releasePrefix off" .Release.Name) -}}
{{- end -}}
{{- trunc (sub 51 (len .Chart.Name) | int) .Release.Name | trimSuffix "-" }}-{{ .Chart.Name }}
{{- else -}}
{{- .Chart.Name -}}
{{- end -}}
{{- end }}

{{- define "rabbitmq.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rabbitmq.labels" -}}
{{ include "rabbitmq.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The Secret holding the broker's username and password. */}}
{{- define "rabbitmq.secretName" -}}
{{- if .Values.auth.existingSecret -}}
{{- tpl .Values.auth.existingSecret . -}}
{{- else -}}
{{- printf "%s-auth" (include "rabbitmq.fullname" .) -}}
{{- end -}}
{{- end }}

{{/* From (list value "its key"): the text of a value that is text to the chart (an image tag, a
password), also when --set made its digits an integer, which keeps them as typed. A number from a
values file comes as a float that may no longer be the text written (0123, 1e3, past 2^53): it
fails, asking to quote it. */}}
{{- define "rabbitmq.text" -}}
{{- $value := index . 0 -}}
{{- if kindIs "float64" $value -}}
{{- fail (printf "%s is a number in a values file, which may not be the text written (0123, 1e3): quote it, or give it with --set" (index . 1)) -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- $value -}}
{{- end -}}
{{- end }}

{{/*
rabbitmq-env.conf: sourced by rabbitmq-server and by the CLI tools (the liveness probe's
rabbitmq-diagnostics), both of which read RABBITMQ_CONF_ENV_FILE. Erlang distribution, which the
CLI tools reach the node by, speaks IPv4 unless told otherwise: in a pod whose address is IPv6
(POD_IP, from status.podIP) the node's host name resolves to that address only, so there both
sides speak inet6_tcp. AMQP needs nothing: RabbitMQ listens on IPv6 and IPv4 where the pod has them.
*/}}
{{- define "rabbitmq.envConf" -}}
case "${POD_IP:-}" in
  *:*)
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} -proto_dist inet6_tcp"
    RABBITMQ_CTL_ERL_ARGS="${RABBITMQ_CTL_ERL_ARGS:-} -proto_dist inet6_tcp"
    ;;
esac
{{- end }}

{{/* Who sets the pod's runAsUser, runAsGroup and fsGroup, from global.podSecurity.assignIds:
"cluster" when it says so, or says auto and the API server serves security.openshift.io/v1
(OpenShift, whose restricted-v2 SecurityContextConstraints assign them from the namespace's ranges
and admit no other); else "chart", the IDs of the image's rabbitmq user. */}}
{{- define "rabbitmq.idsAssignedBy" -}}
{{- $assign := dig "podSecurity" "assignIds" "auto" .Values.global -}}
{{- if eq $assign "auto" -}}
{{- ternary "cluster" "chart" (.Capabilities.APIVersions.Has "security.openshift.io/v1") -}}
{{- else if has $assign (list "cluster" "chart") -}}
{{- $assign -}}
{{- else -}}
{{- fail (printf "global.podSecurity.assignIds is auto, cluster or chart, not %q" $assign) -}}
{{- end -}}
{{- end }}
