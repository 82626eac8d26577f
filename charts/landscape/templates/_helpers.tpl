{{/* A resource name from (list $ "base"): the base, or "<release>-base" with global.releasePrefix,
the release name shortened so that the whole, base intact, is a DNS-1035 label (a Service name) of
at most 63 characters. */}}
{{- define "landscape.name" -}}
{{- $root := index . 0 -}}
{{- $base := index . 1 -}}
{{- if $root.Values.global.releasePrefix -}}
{{- include "landscape.releasePrefix" (list $root.Release.Name (sub 62 (len $base))) -}}-{{ $base }}
{{- else -}}
{{- $base -}}
{{- end -}}
{{- end }}

{{/* A subchart's name (its Service's), from (list $ "rabbitmq") or (list $ "zipkin"), by the
subchart's own rule (its "<chart>.fullname"), so that what points at it always names it. */}}
{{- define "landscape.subchartName" -}}
{{- $root := index . 0 -}}
{{- $chart := index . 1 -}}
{{- include (printf "%s.fullname" $chart) (dict "Values" (dict "global" $root.Values.global) "Release" $root.Release "Chart" (dict "Name" $chart)) -}}
{{- end }}

{{/* From (list "<release name>" max): the release name cut to at most max characters, without a
trailing "-", to begin resource names; a release name that cannot begin a DNS-1035 label fails. */}}
{{- define "landscape.releasePrefix" -}}
{{- $release := index . 0 -}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $release) -}}
{{- fail (printf "global.releasePrefix: the release name %q cannot begin Service names, which are DNS-1035 labels (a lowercase letter, then lowercase letters, digits and \"-\"): choose such a release name, or leave global.releasePrefix off" $release) -}}
{{- end -}}
{{- trunc (int (index . 1)) $release | trimSuffix "-" -}}
{{- end }}

{{/* Selector labels of a component, from (list $ "component"); subcharts use the same two. */}}
{{- define "landscape.selectorLabels" -}}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
{{- end }}

{{- define "landscape.labels" -}}
{{ include "landscape.selectorLabels" . }}
app.kubernetes.io/part-of: landscape
app.kubernetes.io/version: {{ (index . 0).Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version }}
{{- end }}

{{/* The base URL of one of our services, from (list $ "quotes-service"). */}}
{{- define "landscape.serviceUrl" -}}
{{- $root := index . 0 -}}
{{- $service := index $root.Values.services (index . 1) -}}
{{- printf "http://%s:%v" (include "landscape.name" .) $service.port -}}
{{- end }}

{{/* ZIPKIN_URL: the chart's Zipkin, or externalZipkin.url when that is off. */}}
{{- define "landscape.zipkinUrl" -}}
{{- if .Values.zipkin.enabled -}}
{{- printf "http://%s:%v" (include "landscape.subchartName" (list . "zipkin")) .Values.zipkin.service.port -}}
{{- else -}}
{{- required "externalZipkin.url is required when zipkin.enabled is false" .Values.externalZipkin.url | trimSuffix "/" -}}
{{- end -}}
{{- end }}

{{/* ZIPKIN_QUERY_URL, the base URL of the Zipkin query API (GET /api/v2/trace/{id}) the helm test
reads the trace back from: the chart's Zipkin, else externalZipkin.queryUrl, else externalZipkin.url
(a Zipkin server answers both; a write-only receiver there answers no query). */}}
{{- define "landscape.zipkinQueryUrl" -}}
{{- $query := .Values.externalZipkin.queryUrl -}}
{{- if and .Values.zipkin.enabled $query -}}
{{- fail "externalZipkin.queryUrl is read only with zipkin.enabled=false: the chart's Zipkin answers the query API itself" -}}
{{- else if regexMatch "/api/v[12](/.*)?$" $query -}}
{{- fail (printf "externalZipkin.queryUrl is a base URL, without Zipkin's /api/v2 (the test adds /api/v2/trace/<id>): %s" (regexReplaceAll "^([a-z]+://[^:@/]*):[^@/]*@" $query "${1}:***@")) -}}
{{- else if .Values.zipkin.enabled -}}
{{- include "landscape.zipkinUrl" . -}}
{{- else -}}
{{- $query | default (include "landscape.zipkinUrl" .) | trimSuffix "/" -}}
{{- end -}}
{{- end }}

{{/* The Secret holding ZIPKIN_URL (key url) and ZIPKIN_QUERY_URL (key queryUrl), each when it
carries credentials (user:password@); empty when neither does, and pods get them as plain values. */}}
{{- define "landscape.zipkinSecretName" -}}
{{- if or (urlParse (include "landscape.zipkinUrl" .)).userinfo (urlParse (include "landscape.zipkinQueryUrl" .)).userinfo -}}
{{- printf "%s-zipkin" .Release.Name -}}
{{- end -}}
{{- end }}

{{/* An EnvVar from (list $ "NAME" url "key"): from the Secret <release>-zipkin's key when the URL
carries credentials, else the value. */}}
{{- define "landscape.env.zipkinSecretUrl" -}}
{{- $root := index . 0 -}}
{{- $url := index . 2 -}}
- name: {{ index . 1 }}
  {{- if (urlParse $url).userinfo }}
  valueFrom:
    secretKeyRef:
      name: {{ include "landscape.zipkinSecretName" $root }}
      key: {{ index . 3 }}
  {{- else }}
  value: {{ $url | quote }}
  {{- end }}
{{- end }}

{{/* ZIPKIN_URL as an EnvVar: from its Secret when it carries credentials, else the value. */}}
{{- define "landscape.env.zipkinUrl" -}}
{{ include "landscape.env.zipkinSecretUrl" (list . "ZIPKIN_URL" (include "landscape.zipkinUrl" .) "url") }}
{{- end }}

{{/* ZIPKIN_QUERY_URL as an EnvVar, the same way. */}}
{{- define "landscape.env.zipkinQueryUrl" -}}
{{ include "landscape.env.zipkinSecretUrl" (list . "ZIPKIN_QUERY_URL" (include "landscape.zipkinQueryUrl" .) "queryUrl") }}
{{- end }}

{{/* tracing.sampleRate in decimal notation ("0.1", "0.00001", "1"), the form the services read,
whether the values hold a number or, from --set, its text. */}}
{{- define "landscape.sampleRate" -}}
{{- regexReplaceAll "\\.?0+$" (printf "%.10f" (float64 .Values.tracing.sampleRate)) "" -}}
{{- end }}

{{/* The Secret whose key url is the services' AMQP_URL: amqp.existingSecret (an external
broker's), else the one the chart makes, with the broker's username and password beside it. */}}
{{- define "landscape.amqpSecretName" -}}
{{- if and (not .Values.rabbitmq.enabled) .Values.amqp.existingSecret -}}
{{- .Values.amqp.existingSecret -}}
{{- else -}}
{{- printf "%s-amqp" .Release.Name -}}
{{- end -}}
{{- end }}

{{/* A user name or password percent-encoded for a URL's userinfo: every character but letters,
digits and "-._~" as %XX, a space too (urlquery's "+" means a plus sign there). */}}
{{- define "landscape.userinfoEscape" -}}
{{- urlquery . | replace "+" "%20" -}}
{{- end }}

{{/* The TLS Secret the edge serves. */}}
{{- define "landscape.tlsSecretName" -}}
{{- if eq .Values.edge.tls.source "secret" -}}
{{- required "edge.tls.secretName is required when edge.tls.source is secret" .Values.edge.tls.secretName -}}
{{- else -}}
{{- printf "%s-edge-tls" .Release.Name -}}
{{- end -}}
{{- end }}

{{/* The port of a URL, from (list "amqp://host:5672/vhost"), with the scheme's default; an IPv6
literal's colons ("amqps://[2001:db8::1]/vhost") are not a port. */}}
{{- define "landscape.urlPort" -}}
{{- $url := urlParse (index . 0) -}}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" -}}
{{- $port | default (get (dict "amqp" "5672" "amqps" "5671" "http" "80" "https" "443") $url.scheme) | default "443" -}}
{{- end }}

{{/* Fails unless edge.host is empty or one lowercase DNS name (not an IP address, at most 253
characters, labels of at most 63), as Ingress and Gateway hosts, the certificate and the links in
answers (PUBLIC_URL) need it. */}}
{{- define "landscape.checkEdgeHost" -}}
{{- with .Values.edge.host -}}
{{- if or (regexMatch "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$" .) (regexMatch "^\\[?[0-9a-fA-F.]*(:[0-9a-fA-F.]*){2,}\\]?$" .) -}}
{{- fail "edge.host is an IP address: Ingress and Gateway hosts are DNS names only. Leave edge.host empty (any host) and set edge.publicUrl to https://<the address> for the links in answers" -}}
{{- else if contains ":" . -}}
{{- fail "edge.host is a host name without a port: set the port clients connect to in edge.publicPort" -}}
{{- else if hasPrefix "*" . -}}
{{- fail "edge.host must name one host: the links in answers point at it; a wildcard has no address to link to" -}}
{{- else if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" .) -}}
{{- fail "edge.host must be a DNS name in lowercase (letters, digits, \"-\" and dots), as Ingress and Gateway hosts are" -}}
{{- else if gt (len .) 253 -}}
{{- fail "edge.host is longer than a DNS name (253 characters), which Ingress and Gateway hosts are" -}}
{{- else if regexMatch "[^.]{64}" . -}}
{{- fail "edge.host has a label of more than 63 characters between its dots, which no DNS name has" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* A pod spec's imagePullSecrets field from global.imagePullSecrets, or nothing without any. */}}
{{- define "landscape.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Who sets the pods' runAsUser, runAsGroup and fsGroup, from global.podSecurity.assignIds:
"cluster" when it says so, or says auto and the API server serves security.openshift.io/v1
(OpenShift's SecurityContextConstraints: restricted-v2 assigns a user from the namespace's
openshift.io/sa.scc.uid-range and an fsGroup from its openshift.io/sa.scc.supplemental-groups, and
admits no other); else "chart", the IDs of the images' own users. The rabbitmq and zipkin charts
decide alike. */}}
{{- define "landscape.idsAssignedBy" -}}
{{- $assign := dig "podSecurity" "assignIds" "auto" .Values.global -}}
{{- if eq $assign "auto" -}}
{{- ternary "cluster" "chart" (.Capabilities.APIVersions.Has "security.openshift.io/v1") -}}
{{- else if has $assign (list "cluster" "chart") -}}
{{- $assign -}}
{{- else -}}
{{- fail (printf "global.podSecurity.assignIds is auto, cluster or chart, not %q" $assign) -}}
{{- end -}}
{{- end }}

{{/* The restricted Pod Security profile for a pod, from (list $ runAsUser runAsGroup fsGroup), an
empty fsGroup leaving it out: the image's user, group and volume group when the chart assigns IDs,
none when the cluster does (landscape.idsAssignedBy), the rest alike. */}}
{{- define "landscape.podSecurityContext" -}}
runAsNonRoot: true
{{- if eq (include "landscape.idsAssignedBy" (index . 0)) "chart" }}
runAsUser: {{ index . 1 }}
runAsGroup: {{ index . 2 }}
{{- with index . 3 }}
fsGroup: {{ . }}
{{- end }}
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* From (true): whether the root file system is read-only. */}}
{{- define "landscape.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ . }}
capabilities:
  drop: [ALL]
{{- end }}

{{/* The edge's public base URL: edge.publicUrl, else https://<edge.host> with edge.publicPort
(the port clients connect to, left out when it is HTTPS's 443), else empty: no public address.
Not the Gateway's listener port: a controller such as Traefik listens on 8443 in its pod behind
a Service on 443. */}}
{{- define "landscape.publicUrl" -}}
{{- $edge := .Values.edge -}}
{{- if $edge.publicUrl -}}
{{- $edge.publicUrl | trimSuffix "/" -}}
{{- else if and $edge.host (or $edge.ingress.enabled $edge.gateway.enabled) -}}
{{- printf "https://%s" $edge.host -}}{{ if ne (int $edge.publicPort) 443 }}:{{ $edge.publicPort }}{{ end }}
{{- end -}}
{{- end }}

{{/* What the edge routes, as a YAML list of {path, type (Ingress pathType), service}: the
accounts API, and what its answers link to (sepia images, the placeholder image). */}}
{{- define "landscape.edgeRoutes" -}}
- { path: /api/accounts, type: Prefix, service: accountservice }
- { path: /file, type: Prefix, service: imageservice }
- { path: /placeholder.jpg, type: Exact, service: accountservice }
{{- end }}

{{/* From (list value "its key"): the text of a value that is text to the chart (an image tag, a
password), also when --set made its digits an integer, which keeps them as typed. A number from a
values file comes as a float that may no longer be the text written (0123, 1e3, past 2^53): it
fails, asking to quote it. */}}
{{- define "landscape.text" -}}
{{- $value := index . 0 -}}
{{- if kindIs "float64" $value -}}
{{- fail (printf "%s is a number in a values file, which may not be the text written (0123, 1e3): quote it, or give it with --set" (index . 1)) -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- $value -}}
{{- end -}}
{{- end }}
