{{/* Base name of the namespaced objects. */}}
{{- define "jc.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "jc.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "jc.labels" -}}
{{ include "jc.selectorLabels" . }}
app.kubernetes.io/part-of: jupyter-containers
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "jc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "jc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name an existing ServiceAccount" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "jc.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "jc.webhookServiceName" -}}
{{- printf "%s-webhook" (include "jc.fullname" .) -}}
{{- end -}}

{{- define "jc.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "jc.fullname" .) -}}
{{- end -}}

{{/* The DNS name the API server uses for the webhook Service: the certificate's subject. */}}
{{- define "jc.webhookHost" -}}
{{- printf "%s.%s.svc" (include "jc.webhookServiceName" .) .Release.Namespace -}}
{{- end -}}

{{/* The Lease whose holder reconciles (in the release namespace). */}}
{{/* Namespace of the pre-pull DaemonSets (prePull.namespace, default the release's). */}}
{{- define "jc.prePullNamespace" -}}
{{- default .Release.Namespace .Values.prePull.namespace -}}
{{- end -}}

{{- define "jc.leaseName" -}}
{{- printf "%s-leader" (include "jc.fullname" .) -}}
{{- end -}}

{{/* Names of the cluster-scoped objects: one release per cluster, prefixed by its full name. */}}
{{- define "jc.operatorClusterRole" -}}
{{- printf "%s-operator" (include "jc.fullname" .) -}}
{{- end -}}

{{/*
  The operator's admission handlers (kopf ids = URL paths), by webhook kind.
  Keep in sync with jupyter_containers/shell/admission.py: tests/unit/test_chart.py checks it.
*/}}
{{- define "jc.webhookHandlers" -}}
validating:
  - id: validate-jupytercontainer
    resources: [jupytercontainers]
    operations: [CREATE, UPDATE, DELETE]
  - id: validate-resourcebundle
    resources: [resourcebundles]
    operations: [CREATE, UPDATE, DELETE]
mutating:
  - id: mutate-jupytercontainer
    resources: [jupytercontainers]
    operations: [CREATE, UPDATE]
  - id: mutate-resourcebundle
    resources: [resourcebundles]
    operations: [CREATE]
{{- end -}}

{{/*
The probes of an operator process. "health": the port name of its liveness endpoint;
"webhook": whether it serves the webhooks (then it is ready once their server accepts
connections: only then does the webhook Service route admission requests to the pod; a
standby is ready too, admission does not depend on leadership).
*/}}
{{- define "jc.operatorProbes" -}}
# Fails when a watch stream is stuck (jupyter_containers/shell/health.py) or the event loop
# is blocked. kopf caches probe results for 10 s.
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .health }}
  initialDelaySeconds: 10
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
{{- if not .noReadiness }}
readinessProbe:
  {{- if .webhook }}
  tcpSocket:
    port: webhook
  {{- else }}
  httpGet:
    path: /healthz
    port: {{ .health }}
  {{- end }}
  periodSeconds: 5
  failureThreshold: 2
{{- end }}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .health }}
  periodSeconds: 2
  failureThreshold: 60
{{- end }}

{{/* The restricted Pod Security Standard, per container. */}}
{{- define "jc.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{/* The webhook server's certificate (and the API server's client CA) mounts. */}}
{{- define "jc.webhookMounts" -}}
- name: webhook-tls
  mountPath: /etc/jupyter-containers/webhook-tls
  readOnly: true
{{- if .Values.webhook.clientCA }}
- name: webhook-client-ca
  mountPath: /etc/jupyter-containers/webhook-client-ca
  readOnly: true
{{- end }}
{{- end }}
