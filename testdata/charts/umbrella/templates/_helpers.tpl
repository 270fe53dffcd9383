{{/* The release-qualified name of the chart. */}}
{{- define "umbrella.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: the library chart's, plus the global ones. */}}
{{- define "umbrella.labels" -}}
{{ include "common.labels" . }}
{{- range $k, $v := .Values.global.labels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}
