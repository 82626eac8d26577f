{{/* Environment every service gets. */}}
{{- define "landscape.env.common" -}}
{{- $root := index . 0 -}}
- name: PORT
  value: {{ (index $root.Values.services (index . 1)).port | quote }}
{{- /* The pod's own address for its spans (localEndpoint.ipv4 or .ipv6, by its family), where the
container sees only the node-facing interface of the cluster's first family. */}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{ include "landscape.env.zipkinUrl" $root }}
- name: TRACING_SAMPLE_RATE
  value: {{ include "landscape.sampleRate" $root | quote }}
- name: TESTABILITY_ENABLED
  value: {{ $root.Values.testability | quote }}
{{- if (index $root.Values.services (index . 1)).data }}
- name: DATA_DIR
  value: /data
{{- end }}
{{- $service := index $root.Values.services (index . 1) }}
{{- $v8 := list }}
{{- with $service.heapLimitMiB }}
{{- $v8 = append $v8 (printf "--max-old-space-size=%d" (int .)) }}
{{- end }}
{{- /* The service's own semi-space limit, else the chart's. */}}
{{- $semiSpace := hasKey $service "maxSemiSpaceMiB" | ternary $service.maxSemiSpaceMiB $root.Values.maxSemiSpaceMiB }}
{{- with $semiSpace }}
{{- $v8 = append $v8 (printf "--max-semi-space-size=%d" (int .)) }}
{{- end }}
{{- with $v8 }}
- name: DENO_V8_FLAGS
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}

{{- define "landscape.env.amqp" -}}
- name: AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "landscape.amqpSecretName" . }}
      key: url
{{- end }}

{{/* What each service calls, beyond Zipkin. */}}
{{- define "landscape.env.accountservice" -}}
- name: QUOTES_SERVICE_URL
  value: {{ include "landscape.serviceUrl" (list . "quotes-service") | quote }}
- name: IMAGE_SERVICE_URL
  value: {{ include "landscape.serviceUrl" (list . "imageservice") | quote }}
{{ include "landscape.env.amqp" . }}
{{- include "landscape.env.publicUrl" . }}
{{- end }}

{{- define "landscape.env.vipservice" -}}
{{ include "landscape.env.amqp" . }}
{{- end }}

{{- define "landscape.env.imageservice" -}}
{{- with .Values.services.imageservice.toning }}
- name: IMAGE_WORKERS
  value: {{ .workers | quote }}
- name: IMAGE_MAX_PIXELS
  value: {{ .maxPixels | int64 | quote }}
{{- end }}
{{- include "landscape.env.publicUrl" . }}
{{- end }}

{{/* PUBLIC_URL, for links in answers that clients follow through the edge, when the edge has an address. */}}
{{- define "landscape.env.publicUrl" -}}
{{- with include "landscape.publicUrl" . }}
- name: PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{- define "landscape.env.quotes-service" -}}
{{- end }}
