{{/* Name of the SeldonDeployment: nameOverride, else the release name (DNS label, <= 40 chars so
the Deployment/Service names the operator derives stay under 63). */}}
{{- define "wharf-mab.name" -}}
{{- default .Release.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "wharf-mab.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The router image from either form of mab.image: upstream's {name, version} or one string. */}}
{{- define "wharf-mab.routerImage" -}}
{{- $image := required "mab.image is required: the epsilon-greedy router's image; --set mab.image=registry/repository:tag, or upstream's mab.image.name and mab.image.version" . -}}
{{- if kindIs "map" $image }}{{ printf "%s:%v" $image.name $image.version }}{{ else }}{{ $image }}{{ end -}}
{{- end -}}

{{/* Upstream env is a map; a container wants a list. */}}
{{- define "wharf-mab.env" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* A resource quantity as a quoted string, the form Kubernetes itself writes. A number is printed
as its JSON text, which keeps every digit and never takes Go's %v exponent form (1e+06). */}}
{{- define "wharf-mab.quantity" -}}
{{- if kindIs "string" . }}{{ quote . }}{{ else }}{{ toJson . | quote }}{{ end -}}
{{- end -}}

{{/* core/v1 ResourceRequirements from values: every request and limit through wharf-mab.quantity. */}}
{{- define "wharf-mab.resources" -}}
{{- range $section, $entries := . }}
{{ $section }}:
{{- if eq $section "claims" }}
{{- toYaml $entries | nindent 2 }}
{{- else if not $entries }} {}
{{- else }}
{{- range $name, $value := $entries }}
  {{ $name | quote }}: {{ include "wharf-mab.quantity" $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The image of model A or B ("modela"/"modelb" in .key). Required, but checked here rather than by
the values schema: Helm prints a schema failure as "minLength: got 0, want 1", while `required`
shows this message, under Helm 3 and Helm 4 alike.
*/}}
{{- define "wharf-mab.modelImage" -}}
{{- $m := index .v .key -}}
{{- $hint := printf "--set %s.image.name=registry/repository,%s.image.version=tag (or in a values file)" .key .key -}}
{{- $name := required (printf "%s.image.name is required: the model image without its tag; %s" .key $hint) $m.image.name -}}
{{- $version := required (printf "%s.image.version is required: the model image's tag; %s" .key $hint) $m.image.version -}}
{{- printf "%s:%v" $name $version -}}
{{- end -}}
