{{/* The server's name: "zipkin", or "<release>-zipkin" with global.releasePrefix, the release
name shortened so that the whole, "-zipkin" intact, is a Service name (a DNS-1035 label) of at most
63 characters. A release name that cannot begin a DNS-1035 label (a digit first, a dot) fails. */}}
{{- define "zipkin.fullname" -}}
{{- if .Values.global.releasePrefix -}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" .Release.Name) -}}
{{- fail (printf "global.releasePrefix: the release name %q cannot begin Service names, which are DNS-1035 labels (a lowercase letter, then lowercase letters, digits and \"-\"): choose such a release name, or leave global.releasePrefix off" .Release.Name) -}}
{{- end -}}
{{- trunc (sub 62 (len .Chart.Name) | int) .Release.Name | trimSuffix "-" }}-{{ .Chart.Name }}
{{- else -}}
{{- .Chart.Name -}}
{{- end -}}
{{- end }}

{{- define "zipkin.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zipkin.labels" -}}
{{ include "zipkin.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* Environment for the storage backend, as the image's start script reads it. */}}
{{- define "zipkin.storageEnv" -}}
- name: STORAGE_TYPE
  value: {{ .Values.storage.type }}
{{- if eq .Values.storage.type "mem" }}
- name: MEM_MAX_SPANS
  value: {{ .Values.storage.mem.maxSpans | quote }}
{{- else if eq .Values.storage.type "elasticsearch" }}
{{- with .Values.storage.elasticsearch }}
- name: ES_HOSTS
  value: {{ required "zipkin: storage.elasticsearch.hosts is required" .hosts | quote }}
- name: ES_INDEX
  value: {{ .index | quote }}
{{- if .username }}
- name: ES_USERNAME
  value: {{ .username | quote }}
{{- end }}
{{- if .passwordSecret }}
- name: ES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .passwordSecret }}
      key: password
{{- end }}
{{- end }}
{{- else if eq .Values.storage.type "cassandra3" }}
{{- with .Values.storage.cassandra }}
- name: CASSANDRA_CONTACT_POINTS
  value: {{ required "zipkin: storage.cassandra.contactPoints is required" .contactPoints | quote }}
- name: CASSANDRA_LOCAL_DC
  value: {{ .localDc | quote }}
- name: CASSANDRA_KEYSPACE
  value: {{ .keyspace | quote }}
{{- if .username }}
- name: CASSANDRA_USERNAME
  value: {{ .username | quote }}
{{- end }}
{{- if .passwordSecret }}
- name: CASSANDRA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .passwordSecret }}
      key: password
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* From (list value "its key"): the text of a value that is text to the chart (an image tag, a
password), also when --set made its digits an integer, which keeps them as typed. A number from a
values file comes as a float that may no longer be the text written (0123, 1e3, past 2^53): it
fails, asking to quote it. */}}
{{- define "zipkin.text" -}}
{{- $value := index . 0 -}}
{{- if kindIs "float64" $value -}}
{{- fail (printf "%s is a number in a values file, which may not be the text written (0123, 1e3): quote it, or give it with --set" (index . 1)) -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- $value -}}
{{- end -}}
{{- end }}

{{/* Who sets the pod's runAsUser, runAsGroup and fsGroup, from global.podSecurity.assignIds:
"cluster" when it says so, or says auto and the API server serves security.openshift.io/v1
(OpenShift, whose restricted-v2 SecurityContextConstraints assign them from the namespace's ranges
and admit no other); else "chart", the IDs of the image's zipkin user. */}}
{{- define "zipkin.idsAssignedBy" -}}
{{- $assign := dig "podSecurity" "assignIds" "auto" .Values.global -}}
{{- if eq $assign "auto" -}}
{{- ternary "cluster" "chart" (.Capabilities.APIVersions.Has "security.openshift.io/v1") -}}
{{- else if has $assign (list "cluster" "chart") -}}
{{- $assign -}}
{{- else -}}
{{- fail (printf "global.podSecurity.assignIds is auto, cluster or chart, not %q" $assign) -}}
{{- end -}}
{{- end }}
