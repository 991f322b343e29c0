{{/* Base name of this release's objects: the release name if it already says "wharf", else "<release>-wharf". */}}
{{- define "wharf-core.fullname" -}}
{{- if contains "wharf" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-wharf" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wharf-core.operatorName" -}}
{{- printf "%s-operator" (include "wharf-core.fullname" .) -}}
{{- end -}}

{{/* Cluster-scoped objects carry the namespace so two installs never collide. */}}
{{- define "wharf-core.clusterName" -}}
{{- printf "%s-operator-%s" (include "wharf-core.fullname" .) (include "wharf-core.namespace" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wharf-core.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "wharf-core.selectorLabels" -}}
app.kubernetes.io/name: wharf-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wharf-core.labels" -}}
{{ include "wharf-core.selectorLabels" . }}
app.kubernetes.io/part-of: wharf
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "wharf-core.serviceAccountName" -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}

{{/* An image reference from {registry, repository, tag, digest}; call with (dict "image" .Values.image "root" $). */}}
{{- define "wharf-core.image" -}}
{{- $registry := .image.registry -}}
{{- with .root.Values.global -}}{{- with .imageRegistry -}}{{- $registry = . -}}{{- end -}}{{- end -}}
{{- $ref := .image.repository -}}
{{- if $registry -}}{{- $ref = printf "%s/%s" $registry $ref -}}{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the operator watches in single-namespace mode. */}}
{{- define "wharf-core.watchNamespaces" -}}
{{- $all := list (include "wharf-core.namespace" .) -}}
{{- range .Values.watchNamespaces -}}{{- $all = append $all . -}}{{- end -}}
{{- $all | uniq | join "," -}}
{{- end -}}

{{/* The container securityContext: secure defaults, no fixed UID in OpenShift mode, user extras on top. */}}
{{- define "wharf-core.containerSecurityContext" -}}
{{- $ctx := dict "runAsNonRoot" true "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "capabilities" (dict "drop" (list "ALL")) -}}
{{- if not .Values.openshift.enabled -}}{{- $_ := set $ctx "runAsUser" 1001 -}}{{- $_ := set $ctx "runAsGroup" 0 -}}{{- end -}}
{{- toYaml (mergeOverwrite $ctx .Values.manager.containerSecurityContext) -}}
{{- end -}}

{{/* A resource quantity as a quoted string, the form Kubernetes itself writes. A number is printed
as its JSON text, which keeps every digit and never takes Go's %v exponent form (1e+06). */}}
{{- define "wharf-core.quantity" -}}
{{- if kindIs "string" . }}{{ quote . }}{{ else }}{{ toJson . | quote }}{{ end -}}
{{- end -}}
