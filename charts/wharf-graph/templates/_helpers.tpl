{{/* Name of the SeldonDeployment: nameOverride, else the release name (DNS label, <= 40 chars so
the Deployment/Service names the operator derives stay under 63). */}}
{{- define "wharf-graph.name" -}}
{{- default .Release.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "wharf-graph.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Upstream env is a map; a container wants a list. */}}
{{- define "wharf-graph.env" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* A resource quantity as a quoted string, the form Kubernetes itself writes. A number is printed
as its JSON text, which keeps every digit and never takes Go's %v exponent form (1e+06). */}}
{{- define "wharf-graph.quantity" -}}
{{- if kindIs "string" . }}{{ quote . }}{{ else }}{{ toJson . | quote }}{{ end -}}
{{- end -}}

{{/* core/v1 ResourceRequirements from values: every request and limit through wharf-graph.quantity. */}}
{{- define "wharf-graph.resources" -}}
{{- range $section, $entries := . }}
{{ $section }}:
{{- if eq $section "claims" }}
{{- toYaml $entries | nindent 2 }}
{{- else if not $entries }} {}
{{- else }}
{{- range $name, $value := $entries }}
  {{ $name | quote }}: {{ include "wharf-graph.quantity" $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
