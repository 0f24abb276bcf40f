{{/* The release's base name, at most 63 characters as Kubernetes names are. */}}
{{- define "dstack.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dstack.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: pass (dict "root" $ "component" "web"). */}}
{{- define "dstack.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "dstack.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "dstack.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "dstack.fullname" .)) -}}
{{- end -}}

{{/*
A generated secret keeps its value across upgrades: it is read back from the
release's Secret when one exists. Pass (dict "root" $ "key" "K" "value" V).
*/}}
{{- define "dstack.secretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (printf "%s-secrets" (include "dstack.fullname" .root)) -}}
{{- if and $existing (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 50 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* What every dstack container reads: the ConfigMap, then the Secret. */}}
{{- define "dstack.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "dstack.fullname" . }}-config
  - secretRef:
      name: {{ include "dstack.secretName" . }}
{{- end -}}

{{- define "dstack.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end -}}

{{/* Writable scratch space: the image's file system is read-only. */}}
{{- define "dstack.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "dstack.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "dstack.podSpec" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Checks that the values describe a complete deployment. */}}
{{- define "dstack.validate" -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.url) -}}
{{- fail "set externalDatabase.url, or postgresql.enabled=true for a bundled PostgreSQL" -}}
{{- end -}}
{{- if and (not .Values.minio.enabled) (not .Values.externalS3.bucket) -}}
{{- fail "set externalS3.bucket, or minio.enabled=true for a bundled MinIO" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.secrets.redisUrl) (not .Values.existingSecret) -}}
{{- fail "set secrets.redisUrl (or DSTACK_REDIS_URL in existingSecret), or redis.enabled=true" -}}
{{- end -}}
{{- end -}}
