{{/* Name of the SeldonDeployment: nameOverride, else the release name (DNS label, <= 40 chars so
the Deployment/Service names the operator derives stay under 63). */}}
{{- define "wharf-model.name" -}}
{{- default .Release.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "wharf-model.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Upstream env is a map; a container wants a list. */}}
{{- define "wharf-model.env" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The predictor's Service the operator creates for the orchestrator (`<sdep>-<predictor>`,
port `http` 8000): what the Ingress, the Route and the helm test call. */}}
{{- define "wharf-model.predictorService" -}}
{{- include "wharf-model.name" . }}-default
{{- end -}}

{{/* A resource quantity as a quoted string, the form Kubernetes itself writes. A number is printed
as its JSON text, which keeps every digit and never takes Go's %v exponent form (1e+06). */}}
{{- define "wharf-model.quantity" -}}
{{- if kindIs "string" . }}{{ quote . }}{{ else }}{{ toJson . | quote }}{{ end -}}
{{- end -}}

{{/* core/v1 ResourceRequirements from values: every request and limit through wharf-model.quantity. */}}
{{- define "wharf-model.resources" -}}
{{- range $section, $entries := . }}
{{ $section }}:
{{- if eq $section "claims" }}
{{- toYaml $entries | nindent 2 }}
{{- else if not $entries }} {}
{{- else }}
{{- range $name, $value := $entries }}
  {{ $name | quote }}: {{ include "wharf-model.quantity" $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
