{{/*
One Deployment of the audit image. Called with a dict:
  ctx, component, args (list), replicas (int; -1 omits the field when an
  autoscaler owns it), recreate (bool), group, port, portName,
  liveness, readiness (HTTP paths), resources, extraEnv, secretFiles
  (list of dicts name/secret/key/mountPath/env), envSecrets (list of dicts
  env/secret/key), workVolume (optional: the sizeLimit of a writable
  emptyDir mounted at /var/lib/elastra-audit) with workEnv (list of dicts
  name/value set with it).
*/}}
{{- define "audit.deployment" -}}
{{- $ctx := .ctx -}}
{{- $full := include "audit.fullname" $ctx -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $full }}-{{ .component }}
  labels:
    {{- include "audit.labels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
spec:
  {{- if ge (int .replicas) 0 }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- if .recreate }}
  strategy:
    type: Recreate
  {{- else }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  {{- end }}
  selector:
    matchLabels:
      {{- include "audit.selectorLabels" (dict "ctx" $ctx "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "audit.selectorLabels" (dict "ctx" $ctx "component" .component) | nindent 8 }}
        {{- with $ctx.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "audit.podAnnotations" $ctx | nindent 8 }}
    spec:
      {{- include "audit.podCommon" $ctx | nindent 6 }}
      terminationGracePeriodSeconds: 60
      containers:
        - name: {{ .component }}
          image: {{ include "audit.image" $ctx }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          ports:
            - name: {{ .portName }}
              containerPort: {{ .port }}
              protocol: TCP
          env:
            {{- include "audit.env" (dict "ctx" $ctx "group" .group "metricsPort" .metricsPort) | nindent 12 }}
            {{- range .envSecrets }}
            - name: {{ .env }}
              valueFrom:
                secretKeyRef:
                  name: {{ .secret }}
                  key: {{ .key }}
            {{- end }}
            {{- range .secretFiles }}
            - name: {{ .env }}
              value: {{ printf "%s/%s" .mountPath .key | quote }}
            {{- end }}
            {{- if .workVolume }}
            {{- range .workEnv }}
            - name: {{ .name }}
              value: {{ .value | quote }}
            {{- end }}
            {{- end }}
            {{- with .extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          securityContext:
            {{- toYaml $ctx.Values.containerSecurityContext | nindent 12 }}
          resources:
            {{- toYaml .resources | nindent 12 }}
          {{- include "audit.probes" (dict "ctx" $ctx "port" .portName "liveness" .liveness "readiness" .readiness) | nindent 10 }}
          volumeMounts:
            {{- include "audit.volumeMounts" (dict "ctx" $ctx) | nindent 12 }}
            {{- range .secretFiles }}
            - name: {{ .name }}
              mountPath: {{ .mountPath }}
              readOnly: true
            {{- end }}
            {{- if .workVolume }}
            - name: work
              mountPath: /var/lib/elastra-audit
            {{- end }}
      volumes:
        {{- include "audit.volumes" (dict "ctx" $ctx) | nindent 8 }}
        {{- range .secretFiles }}
        - name: {{ .name }}
          secret:
            secretName: {{ .secret }}
            defaultMode: 0440
            items: [{key: {{ .key | quote }}, path: {{ .key | quote }}}]
        {{- end }}
        {{- if .workVolume }}
        - name: work
          emptyDir:
            sizeLimit: {{ .workVolume }}
        {{- end }}
{{- end -}}
