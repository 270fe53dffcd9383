{{/* common.configmap renders a ConfigMap from (dict "name" "data" "top"). */}}
{{- define "common.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .name }}
  labels:
    {{- include "common.labels" .top | nindent 4 }}
data:
  {{- range $k, $v := .data }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
{{- end -}}
