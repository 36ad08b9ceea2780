{{/* Name of the chart's objects: release-chart, unless overridden. */}}
{{- define "exoprobe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "exoprobe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "exoprobe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "exoprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "exoprobe.labels" -}}
{{ include "exoprobe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: exoprobe
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The headless Service that gives each member a stable DNS name for --cluster.peer. */}}
{{- define "exoprobe.clusterService" -}}
{{- printf "%s-cluster" (include "exoprobe.fullname" .) -}}
{{- end -}}

{{- define "exoprobe.secretName" -}}
{{- if .Values.credentials.existingSecret -}}
{{- .Values.credentials.existingSecret -}}
{{- else -}}
{{- printf "%s-credentials" (include "exoprobe.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "exoprobe.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The configuration file: values' config, else the chart's copy of examples/exoprobe.yml. */}}
{{- define "exoprobe.config" -}}
{{- default (.Files.Get "files/exoprobe.yml") .Values.config -}}
{{- end -}}
