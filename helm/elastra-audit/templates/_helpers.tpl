{{/* Names ------------------------------------------------------------- */}}
{{- define "audit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "audit.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "audit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "audit.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels: call with (dict "ctx" $ "component" "consumer") ------------ */}}
{{- define "audit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "audit.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "audit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{ include "audit.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: elastra-audit
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end -}}

{{/* Image: by digest when given; never "latest" ---------------------- */}}
{{- define "audit.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must not be 'latest': pin a version or a digest" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Bounds: replicas of partition readers ----------------------------- */}}
{{- define "audit.checkPartitionBound" -}}
{{- $p := int .ctx.Values.kafka.partitions -}}
{{- if gt (int .value) $p -}}
{{- fail (printf "%s is %d but the audit topics have %d partitions (kafka.partitions): a partition is read by one consumer of a group, extra replicas would sit idle" .what (int .value) $p) -}}
{{- end -}}
{{- end -}}

{{/* Environment every process reads ---------------------------------- */}}
{{- define "audit.env" -}}
{{- $v := .ctx.Values -}}
- name: AUDIT_ENVIRONMENT
  value: {{ $v.environment | quote }}
- name: AUDIT_KAFKA_BOOTSTRAP
  value: {{ $v.kafka.bootstrap | quote }}
- name: AUDIT_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL" $v.kafka.securityProtocol }}
- name: AUDIT_KAFKA_SASL_MECHANISM
  value: {{ required "kafka.saslMechanism is required with a SASL security protocol" $v.kafka.saslMechanism | quote }}
- name: AUDIT_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.kafkaSasl.name is required with a SASL security protocol" $v.secrets.kafkaSasl.name }}
      key: {{ $v.secrets.kafkaSasl.usernameKey }}
- name: AUDIT_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.kafkaSasl.name }}
      key: {{ $v.secrets.kafkaSasl.passwordKey }}
{{- end }}
{{- if $v.secrets.kafkaCa.name }}
- name: AUDIT_KAFKA_SSL_CAFILE
  value: /etc/elastra-audit/kafka-ca/{{ $v.secrets.kafkaCa.key }}
{{- end }}
- name: AUDIT_ES_URL
  value: {{ $v.elasticsearch.url | quote }}
{{- if $v.secrets.elasticsearchApiKey.name }}
- name: AUDIT_ES_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.elasticsearchApiKey.name }}
      key: {{ $v.secrets.elasticsearchApiKey.key }}
{{- end }}
{{- if $v.secrets.elasticsearchCa.name }}
- name: AUDIT_ES_CA_CERTS
  value: /etc/elastra-audit/es-ca/{{ $v.secrets.elasticsearchCa.key }}
{{- end }}
- name: AUDIT_TOPIC_AUTH
  value: {{ $v.kafka.topics.auth | quote }}
- name: AUDIT_TOPIC_SECURITY
  value: {{ $v.kafka.topics.security | quote }}
- name: AUDIT_TOPIC_DLQ
  value: {{ $v.kafka.topics.dlq | quote }}
- name: AUDIT_TOPIC_PARTITIONS
  value: {{ $v.kafka.partitions | quote }}
{{- if .group }}
- name: AUDIT_CONSUMER_GROUP
  value: {{ .group | quote }}
- name: AUDIT_DETECTOR_GROUP
  value: {{ .group | quote }}
{{- end }}
{{- /* Each process reads its own port setting; one value per pod. */}}
- name: AUDIT_METRICS_PORT
  value: {{ .metricsPort | quote }}
- name: AUDIT_DETECTOR_METRICS_PORT
  value: {{ .metricsPort | quote }}
- name: AUDIT_SCHEDULER_METRICS_PORT
  value: {{ .metricsPort | quote }}
# Pods are scraped and probed from outside: listen on all interfaces.
- name: AUDIT_METRICS_ADDR
  value: "0.0.0.0"
- name: AUDIT_RULES_DIR
  value: /etc/elastra-audit/rules
- name: AUDIT_RETENTION_POLICY_FILE
  value: /etc/elastra-audit/retention/policy.yaml
{{- end -}}

{{/* Volumes: CA bundles, config maps, writable /tmp -------------------- */}}
{{- define "audit.volumes" -}}
{{- $v := .ctx.Values -}}
{{- $full := include "audit.fullname" .ctx -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: rules
  configMap:
    name: {{ $full }}-rules
- name: retention
  configMap:
    name: {{ $full }}-retention
- name: checklists
  configMap:
    name: {{ $full }}-checklists
{{- if $v.secrets.kafkaCa.name }}
- name: kafka-ca
  secret:
    secretName: {{ $v.secrets.kafkaCa.name }}
    items: [{key: {{ $v.secrets.kafkaCa.key | quote }}, path: {{ $v.secrets.kafkaCa.key | quote }}}]
{{- end }}
{{- if $v.secrets.elasticsearchCa.name }}
- name: es-ca
  secret:
    secretName: {{ $v.secrets.elasticsearchCa.name }}
    items: [{key: {{ $v.secrets.elasticsearchCa.key | quote }}, path: {{ $v.secrets.elasticsearchCa.key | quote }}}]
{{- end }}
{{- end -}}

{{- define "audit.volumeMounts" -}}
{{- $v := .ctx.Values -}}
- name: tmp
  mountPath: /tmp
- name: rules
  mountPath: /etc/elastra-audit/rules
  readOnly: true
- name: retention
  mountPath: /etc/elastra-audit/retention
  readOnly: true
- name: checklists
  mountPath: /etc/elastra-audit/checklists
  readOnly: true
{{- if $v.secrets.kafkaCa.name }}
- name: kafka-ca
  mountPath: /etc/elastra-audit/kafka-ca
  readOnly: true
{{- end }}
{{- if $v.secrets.elasticsearchCa.name }}
- name: es-ca
  mountPath: /etc/elastra-audit/es-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Pod spec parts shared by every Deployment -------------------------- */}}
{{- define "audit.podCommon" -}}
serviceAccountName: {{ include "audit.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "audit.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmaps.yaml") . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "audit.probes" -}}
livenessProbe:
  httpGet:
    path: {{ .liveness }}
    port: {{ .port }}
  {{- toYaml .ctx.Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: {{ .readiness }}
    port: {{ .port }}
  {{- toYaml .ctx.Values.probes.readiness | nindent 2 }}
{{- end -}}
