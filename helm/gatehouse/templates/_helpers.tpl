{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every resource: `<release>-<chart>`, or the release name when it already
contains the chart name.
*/}}
{{- define "gatehouse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of one component's resources: `<fullname>-<component>`.
Usage: include "gatehouse.componentName" (dict "context" $ "component" "web")
*/}}
{{- define "gatehouse.componentName" -}}
{{- printf "%s-%s" (include "gatehouse.fullname" .context | trunc 52 | trimSuffix "-") .component }}
{{- end }}

{{- define "gatehouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels; the component label is added when a component is given.
Usage: include "gatehouse.selectorLabels" (dict "context" $ "component" "web")
*/}}
{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
Standard labels of every object.
Usage: include "gatehouse.labels" (dict "context" $ "component" "web")
*/}}
{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ include "gatehouse.chart" .context }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: gatehouse
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}

{{/*
Pod labels: the object labels plus global and per-component extras.
Usage: include "gatehouse.podLabels" (dict "context" $ "component" "web" "values" .Values.web)
*/}}
{{- define "gatehouse.podLabels" -}}
{{- $labels := fromYaml (include "gatehouse.labels" .) }}
{{- toYaml (merge $labels .values.podLabels .context.Values.global.podLabels) }}
{{- end }}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount of the migration Job: a hook copy when the chart creates accounts, because
the Job runs before the release's own objects exist.
*/}}
{{- define "gatehouse.migrations.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- include "gatehouse.componentName" (dict "context" . "component" "migrations") }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatehouse.secretName" -}}
{{- default (include "gatehouse.fullname" .) .Values.gatehouse.existingSecret }}
{{- end }}

{{- define "gatehouse.migrations.secretName" -}}
{{- default (include "gatehouse.componentName" (dict "context" . "component" "migrations")) .Values.gatehouse.existingSecret }}
{{- end }}

{{- define "gatehouse.baseDomain" -}}
{{- required "gatehouse.baseDomain is required: set it to the public domain tenants live under, e.g. --set gatehouse.baseDomain=auth.example.com" .Values.gatehouse.baseDomain }}
{{- end }}

{{/*
The ConfigMap's data: non-secret settings only. Rendered into the release ConfigMap and its
migration hook copy, and hashed into the pods' checksum/config annotation.
*/}}
{{- define "gatehouse.configData" -}}
DATABASE_POOL_MODE: {{ .Values.gatehouse.database.poolMode | quote }}
{{- with .Values.gatehouse.mailFrom }}
DEFAULT_FROM_EMAIL: {{ . | quote }}
{{- end }}
DJANGO_SETTINGS_MODULE: {{ .Values.gatehouse.settingsModule | quote }}
GATEHOUSE_BASE_DOMAIN: {{ include "gatehouse.baseDomain" . | quote }}
GATEHOUSE_EXTRA_HOSTS: {{ join "," .Values.gatehouse.customDomains | quote }}
GATEHOUSE_TRUSTED_PROXY_COUNT: {{ .Values.gatehouse.trustedProxyCount | quote }}
PROMETHEUS_MULTIPROC_DIR: "/tmp/prometheus"
TENANT_MULTIPROCESSING_MAX_PROCESSES: {{ .Values.migrations.processes | quote }}
WEB_CONCURRENCY: {{ .Values.web.concurrency | quote }}
{{- end }}

{{/*
The Secret's data. Rendered into the release Secret and its migration hook copy, and hashed into
the pods' checksum/secret annotation. With existingSecret only the name is hashed: rolling the
pods after that Secret changes is the operator's step (see the chart README).
*/}}
{{- define "gatehouse.secretData" -}}
{{- $hint := "or name a Secret holding all four keys with gatehouse.existingSecret" -}}
{{- if .Values.gatehouse.existingSecret -}}
existingSecret: {{ .Values.gatehouse.existingSecret | quote }}
{{- else -}}
{{- with .Values.gatehouse.secret -}}
DATABASE_URL: {{ required (printf "gatehouse.secret.databaseUrl is required (postgres://USER:PASSWORD@HOST:5432/DB), %s" $hint) .databaseUrl | b64enc | quote }}
REDIS_URL: {{ required (printf "gatehouse.secret.redisUrl is required (redis://HOST:6379/0), %s" $hint) .redisUrl | b64enc | quote }}
SECRET_KEY: {{ required (printf "gatehouse.secret.secretKey is required (a long random string), %s" $hint) .secretKey | b64enc | quote }}
GATEHOUSE_KEY_ENCRYPTION_KEY: {{ required (printf "gatehouse.secret.keyEncryptionKeys is required (comma-separated Fernet keys, newest first), %s" $hint) .keyEncryptionKeys | b64enc | quote }}
{{- with .emailUrl }}
EMAIL_URL: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gatehouse.image" -}}
{{- $image := .Values.global.image }}
{{- $tag := default .Chart.AppVersion $image.tag }}
{{- if $image.digest }}
{{- printf "%s:%s@%s" $image.repository $tag $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Pod annotations that roll the Deployments when the configuration or the secret values change.
*/}}
{{- define "gatehouse.checksumAnnotations" -}}
checksum/config: {{ include "gatehouse.configData" . | sha256sum }}
checksum/secret: {{ include "gatehouse.secretData" . | sha256sum }}
{{- end }}

{{/*
Pod-level settings shared by every Gatehouse pod: identity, security context, scheduling.
Usage: include "gatehouse.podSpec" (dict "context" $ "values" .Values.web "serviceAccountName" "...")
*/}}
{{- define "gatehouse.podSpec" -}}
{{- $ctx := .context -}}
serviceAccountName: {{ .serviceAccountName }}
automountServiceAccountToken: false
{{- /* Service links would inject GATEHOUSE_*-style variables for every Service in the namespace. */}}
enableServiceLinks: false
{{- with $ctx.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  {{- range $key, $value := $ctx.Values.global.podSecurityContext }}
  {{- if not (kindIs "invalid" $value) }}
  {{ $key }}: {{ $value | int64 }}
  {{- end }}
  {{- end }}
  seccompProfile:
    type: RuntimeDefault
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds | int64 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ $ctx.Values.global.tmpSizeLimit }}
{{- end }}

{{/*
Container settings shared by every Gatehouse container: image, environment, hardening, /tmp.
Usage: include "gatehouse.container" (dict "context" $ "values" .Values.web "configMapName" "..." "secretName" "...")
*/}}
{{- define "gatehouse.container" -}}
{{- $ctx := .context -}}
image: {{ include "gatehouse.image" $ctx | quote }}
imagePullPolicy: {{ $ctx.Values.global.image.pullPolicy }}
envFrom:
  - configMapRef:
      name: {{ .configMapName }}
  - secretRef:
      name: {{ .secretName }}
{{- with $ctx.Values.global.extraEnv }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop:
      - ALL
{{- with .values.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/*
Pod annotations: global, per component, and (for long-running pods) the checksums.
Usage: include "gatehouse.podAnnotations" (dict "context" $ "values" .Values.web "checksums" true)
*/}}
{{- define "gatehouse.podAnnotations" -}}
{{- $annotations := merge (dict) .values.podAnnotations .context.Values.global.podAnnotations }}
{{- if .checksums }}
{{- $annotations = merge $annotations (fromYaml (include "gatehouse.checksumAnnotations" .context)) }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
HorizontalPodAutoscaler for a Deployment.
Usage: include "gatehouse.hpa" (dict "context" $ "component" "web" "values" .Values.web)
*/}}
{{- define "gatehouse.hpa" -}}
{{- $autoscaling := .values.autoscaling }}
{{- $name := include "gatehouse.componentName" . }}
{{- if gt (int $autoscaling.minReplicas) (int $autoscaling.maxReplicas) }}
{{- fail (printf "%s.autoscaling.minReplicas (%d) is greater than maxReplicas (%d)" .component (int $autoscaling.minReplicas) (int $autoscaling.maxReplicas)) }}
{{- end }}
{{- if not (or $autoscaling.targetCPUUtilizationPercentage $autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail (printf "%s.autoscaling needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" .component) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "gatehouse.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $autoscaling.minReplicas }}
  maxReplicas: {{ $autoscaling.maxReplicas }}
  metrics:
    {{- with $autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}

{{/*
PodDisruptionBudget for a Deployment.
Usage: include "gatehouse.pdb" (dict "context" $ "component" "web" "values" .Values.web)
*/}}
{{- define "gatehouse.pdb" -}}
{{- $pdb := .values.pdb }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "gatehouse.componentName" . }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "gatehouse.labels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $pdb.minAvailable) }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else if not (kindIs "invalid" $pdb.maxUnavailable) }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- else }}
  {{- fail (printf "%s.pdb needs minAvailable or maxUnavailable" .component) }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "gatehouse.selectorLabels" . | nindent 6 }}
{{- end }}

{{/*
Egress rules: name resolution plus the operator's rules (PostgreSQL, Redis, ...).
*/}}
{{- define "gatehouse.networkPolicy.egress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{ toYaml .Values.networkPolicy.egress }}
{{- end }}
