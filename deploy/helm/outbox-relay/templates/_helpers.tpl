{{- define "outbox-relay.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "outbox-relay.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "outbox-relay.labels" -}}
{{ include "outbox-relay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "outbox-relay.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "outbox-relay.fullname" .)) -}}
{{- end -}}

{{- define "outbox-relay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ .Values.serviceAccount.name | default (include "outbox-relay.fullname" .) }}{{- else -}}{{ .Values.serviceAccount.name | default "default" }}{{- end -}}
{{- end -}}

{{- define "outbox-relay.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Plain settings; a name that looks like a credential is refused. */}}
{{- define "outbox-relay.configEnv" -}}
{{- range $name, $value := .Values.config }}
{{- if regexMatch "(?i)URL|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|(^|_)KEY($|_)" $name }}
{{- fail (printf "config.%s looks like a credential: put it in the Secret (secrets.*), not in config" $name) }}
{{- end }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Credentials, each from the Secret; optional ones may be absent from it. */}}
{{- define "outbox-relay.secretEnv" -}}
{{- $secret := include "outbox-relay.secretName" . -}}
{{- $multi := .Values.multiTenant.enabled -}}
{{- range $item := list (list "DATABASE_URL" "database-url" $multi) (list "MONGO_URL" "mongo-url" $multi) (list "OUTBOX_RELAY_LISTEN_DATABASE_URL" "listen-database-url" true) (list "OUTBOX_RELAY_CONTROL_DATABASE_URL" "control-database-url" true) (list "OUTBOX_RELAY_OPS_TOKEN" "ops-token" true) (list "OUTBOX_RELAY_OPS_TOKENS" "ops-tokens" true) }}
- name: {{ index $item 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ index $item 1 }}
      optional: {{ index $item 2 }}
{{- end }}
{{- end -}}

{{- define "outbox-relay.envFrom" -}}
{{- if .Values.multiTenant.envFromSecrets }}
envFrom:
{{- range .Values.multiTenant.envFromSecrets }}
  - secretRef:
      name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "outbox-relay.validate" -}}
{{- if not .Values.secrets.existingSecret -}}
{{- if .Values.multiTenant.enabled -}}
{{- if not (or .Values.secrets.controlDatabaseUrl .Values.secrets.databaseUrl) -}}{{- fail "multiTenant: set secrets.controlDatabaseUrl (or secrets.existingSecret with key control-database-url)" -}}{{- end -}}
{{- else -}}
{{- if not .Values.secrets.databaseUrl -}}{{- fail "set secrets.databaseUrl (or secrets.existingSecret with keys database-url and mongo-url)" -}}{{- end -}}
{{- if not .Values.secrets.mongoUrl -}}{{- fail "set secrets.mongoUrl (or secrets.existingSecret with keys database-url and mongo-url)" -}}{{- end -}}
{{- end -}}
{{- if and .Values.secrets.opsToken (lt (len .Values.secrets.opsToken) 16) -}}{{- fail "secrets.opsToken must be at least 16 characters" -}}{{- end -}}
{{- end -}}
{{- if and .Values.keda.enabled .Values.multiTenant.enabled -}}
{{- fail "keda with multiTenant: outbox_lag lives in each tenant's database, not the control database; scale a multi-tenant fleet on outbox_relay_tenant_pending_events (Prometheus) instead" -}}
{{- end -}}
{{- end -}}
