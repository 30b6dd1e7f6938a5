{{/* The base name of every object: the release name, with the chart's name unless it holds it. */}}
{{- define "frontdesk.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "frontdesk.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "controller"). */}}
{{- define "frontdesk.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "frontdesk.componentLabels" -}}
{{ include "frontdesk.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "frontdesk.controller.name" -}}
{{- printf "%s-controller" (include "frontdesk.fullname" .) -}}
{{- end -}}

{{- define "frontdesk.speaker.name" -}}
{{- printf "%s-speaker" (include "frontdesk.fullname" .) -}}
{{- end -}}

{{- define "frontdesk.controller.serviceAccountName" -}}
{{- default (include "frontdesk.controller.name" .) .Values.controller.serviceAccount.name -}}
{{- end -}}

{{- define "frontdesk.speaker.serviceAccountName" -}}
{{- default (include "frontdesk.speaker.name" .) .Values.speaker.serviceAccount.name -}}
{{- end -}}

{{/* The Lease the controller replicas elect their leader with (--leader-elect-resource-name). */}}
{{- define "frontdesk.controller.leaseName" -}}
{{- include "frontdesk.controller.name" . -}}
{{- end -}}

{{/* The image of one component: call with (dict "root" $ "component" "controller"). The registry
has no default: frontdesk publishes no images, so the chart must not guess where they come from
(whoever owned a guessed name would run code as root with NET_ADMIN on every node). A digest wins
over the tag. */}}
{{- define "frontdesk.image" -}}
{{- $img := index .root.Values .component "image" | default dict -}}
{{- $top := .root.Values.image | default dict -}}
{{- $registry := default (get $top "registry") (get $img "registry") -}}
{{- $msg := printf "image.registry is required: frontdesk publishes no images yet; build them with `make images`, push them to your registry and set image.registry (or %s.image.registry), e.g. --set image.registry=<your-registry>" .component -}}
{{- $registry = required $msg $registry | trimSuffix "/" -}}
{{- if get $img "digest" -}}
{{- printf "%s/%s@%s" $registry (get $img "repository") (get $img "digest") -}}
{{- else -}}
{{- printf "%s/%s:%s" $registry (get $img "repository") (default .root.Chart.AppVersion (get $img "tag")) -}}
{{- end -}}
{{- end -}}

{{/* The speaker runs when something needs it on the nodes: an announce mode or the proxy. */}}
{{- define "frontdesk.speaker.enabled" -}}
{{- if or .Values.announce.l2.enabled .Values.announce.bgp.enabled .Values.proxy.enabled -}}true{{- end -}}
{{- end -}}

{{- define "frontdesk.livenessSecretName" -}}
{{- default (printf "%s-liveness-key" (include "frontdesk.fullname" .)) .Values.speaker.livenessKey.existingSecret -}}
{{- end -}}

{{- define "frontdesk.livenessSecretKey" -}}
{{- if .Values.speaker.livenessKey.existingSecret -}}{{ .Values.speaker.livenessKey.secretKey }}{{- else -}}key{{- end -}}
{{- end -}}

{{/* The data key of the accepted second heartbeat key (a rotation's); optional in the Secret. */}}
{{- define "frontdesk.livenessAcceptKey" -}}
{{- if .Values.speaker.livenessKey.existingSecret -}}{{ .Values.speaker.livenessKey.acceptSecretKey }}{{- else -}}accept{{- end -}}
{{- end -}}

{{/* Whether --controllers runs a controller, known by any of .names (its alias and full name):
"true" or "". Call with (dict "root" $ "names" (list "cloud-node" "cloud-node-controller")). */}}
{{- define "frontdesk.controller.runs" -}}
{{- $c := .root.Values.controller.controllers -}}
{{- $named := false -}}
{{- $disabled := false -}}
{{- range .names -}}
{{- if has . $c }}{{ $named = true }}{{ end -}}
{{- if has (printf "-%s" .) $c }}{{ $disabled = true }}{{ end -}}
{{- end -}}
{{- if or $named (and (has "*" $c) (not $disabled)) -}}true{{- end -}}
{{- end -}}

{{/* The AWS provider's cloud config: the user's aws.cloudConfig with clusterName set from
clusterName unless it names one itself. The provider reports no cluster without it (its sweep
must know whose resources it may delete), so the default "kubernetes" is refused: two clusters
in one account would delete each other's load balancers. */}}
{{- define "frontdesk.aws.cloudConfig" -}}
{{- $cfg := fromYaml (default "" .Values.aws.cloudConfig) -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "aws.cloudConfig is not YAML: %s" (get $cfg "Error")) -}}
{{- end -}}
{{- if not (hasKey $cfg "clusterName") -}}
{{- $_ := set $cfg "clusterName" .Values.clusterName -}}
{{- end -}}
{{- if eq (toString (get $cfg "clusterName")) "kubernetes" -}}
{{- fail "provider aws needs a cluster name of its own: set clusterName (or clusterName in aws.cloudConfig) to something other than \"kubernetes\"; resources are tagged kubernetes.io/cluster/<name>=owned and the sweep deletes owned ones whose Service is gone" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
