{{/*
The roles, in the order their objects are rendered. The list is the
server's (apps/server/src/config.ts, ROLES).
*/}}
{{- define "lectern.roles" -}}
api relay projections workers realtime
{{- end }}

{{- define "lectern.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's prefix: `<release>` when it already names the chart, else `<release>-lectern`. */}}
{{- define "lectern.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "lectern.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "lectern.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "lectern.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lectern
{{- end }}

{{/* Selector labels of one role's pods; call with (dict "root" $ "role" $role). */}}
{{- define "lectern.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lectern.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "lectern.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lectern.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lectern.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest pins it. */}}
{{- define "lectern.image" -}}
{{- $repository := required "image.repository is required" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (include "lectern.tag" .) }}
{{- end }}
{{- end }}

{{/* One role's shutdown timings: its own overrides over the chart-wide ones, as YAML. */}}
{{- define "lectern.shutdown" -}}
{{- $role := index .root.Values.roles .role }}
{{- toYaml (merge (deepCopy ($role.shutdown | default dict)) (deepCopy .root.Values.shutdown)) }}
{{- end }}

{{/*
Whether a secret entry (from secrets.env or secrets.files) reaches a role:
"true" or "". An entry without `roles` reaches every role.
*/}}
{{- define "lectern.secretForRole" -}}
{{- if or (not .entry.roles) (has .role .entry.roles) }}true{{ end }}
{{- end }}

{{/*
Refusals, checked once per render. Each names the value to change, so a bad
values file fails `helm template`/`helm install` instead of making pods that
misbehave.
*/}}
{{- define "lectern.validate" -}}
{{- $v := .Values }}
{{- if eq (include "lectern.tag" .) "latest" }}
{{- fail "image.tag must name a build, not latest (or set image.digest)" }}
{{- end }}
{{- /* The chart sets these itself; a second value would be a duplicate env var. */}}
{{- $reserved := list "PORT" "LECTERN_ROLES" "LECTERN_SHUTDOWN_GRACE_MS" }}
{{- range $name, $value := $v.config }}
{{- if has $name $reserved }}
{{- fail (printf "config.%s is set by the chart; remove it (port, roles and shutdown.drainSeconds set it)" $name) }}
{{- end }}
{{- if or (regexMatch "^(DATABASE_URL|CLICKHOUSE_URL|EVENTSTORE_URL|LECTERN_MESSAGE_KEYS|S3_ACCESS_KEY)$" $name) (regexMatch "(PASSWORD|TOKEN|SECRET|PRIVATE)" $name) (regexMatch "_FILE$" $name) }}
{{- fail (printf "config.%s holds a secret: reference it from a Kubernetes Secret under secrets.env or secrets.files instead" $name) }}
{{- end }}
{{- if regexMatch "://[^/@\\s]*:[^/@\\s]*@" (toString $value) }}
{{- fail (printf "config.%s carries credentials in a URL: put the URL in a Secret and reference it under secrets.env" $name) }}
{{- end }}
{{- if hasKey $v.secrets.env $name }}
{{- fail (printf "%s is given both in config and in secrets.env" $name) }}
{{- end }}
{{- end }}
{{- range $name, $entry := $v.secrets.env }}
{{- if regexMatch "_FILE$" $name }}
{{- fail (printf "secrets.env.%s names a file: move it to secrets.files" $name) }}
{{- end }}
{{- if has $name $reserved }}
{{- fail (printf "secrets.env.%s is set by the chart" $name) }}
{{- end }}
{{- if not $entry.key }}
{{- fail (printf "secrets.env.%s.key (the key in the Secret) is required" $name) }}
{{- end }}
{{- end }}
{{- range $name, $entry := $v.secrets.files }}
{{- if not (regexMatch "_FILE$" $name) }}
{{- fail (printf "secrets.files.%s: only *_FILE variables name a file (see the README's configuration table)" $name) }}
{{- end }}
{{- if not (regexMatch "^[A-Za-z0-9._-]+$" (toString $entry.key)) }}
{{- fail (printf "secrets.files.%s.key must be a Secret key (letters, digits, ., _ or -)" $name) }}
{{- end }}
{{- end }}
{{- $partitions := int $v.partitions }}
{{- with $v.roles.projections }}
{{- if and .enabled (gt (int .replicas) $partitions) }}
{{- fail (printf "roles.projections.replicas (%d) exceeds partitions (%d): a read model's group uses one member per partition, the rest would idle" (int .replicas) $partitions) }}
{{- end }}
{{- end }}
{{- with $v.roles.workers }}
{{- $max := include "lectern.maxReplicas" . | int }}
{{- if and .enabled (gt $max $partitions) }}
{{- fail (printf "roles.workers: at most %d replicas (partitions); got %d: a reaction's group uses one member per partition, the rest would idle" $partitions $max) }}
{{- end }}
{{- end }}
{{- with $v.roles.realtime }}
{{- $max := include "lectern.maxReplicas" . | int }}
{{- if and .enabled (gt $max 1) (not $v.config.REDIS_URL) }}
{{- fail "roles.realtime runs more than one gateway: presence across gateways needs Redis (config.REDIS_URL, its password under secrets.files.REDIS_PASSWORD_FILE)" }}
{{- end }}
{{- end }}
{{- with $v.roles.relay }}
{{- if and (hasKey . "replicas") (ne (int .replicas) 1) }}
{{- fail "roles.relay.replicas: the relay runs exactly one replica; remove the value" }}
{{- end }}
{{- if .autoscaling }}
{{- fail "roles.relay.autoscaling: the relay runs exactly one replica and is never autoscaled" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The most replicas a role's values allow: the HPA's maximum, else its replica count. */}}
{{- define "lectern.maxReplicas" -}}
{{- if and .autoscaling .autoscaling.enabled }}
{{- .autoscaling.maxReplicas | int }}
{{- else }}
{{- .replicas | default 1 | int }}
{{- end }}
{{- end }}

{{/* Whether a role is scaled by an HPA: "true" or "". The relay never is. */}}
{{- define "lectern.autoscaled" -}}
{{- $role := index .root.Values.roles .role }}
{{- if and (ne .role "relay") $role.autoscaling $role.autoscaling.enabled }}true{{ end }}
{{- end }}

{{/* The Secrets a role's files come from, space-separated, each once. */}}
{{- define "lectern.secretNames" -}}
{{- $names := list }}
{{- range $name, $entry := .files }}
{{- $names = append $names ($entry.secretName | default $.root.Values.secrets.name) }}
{{- end }}
{{- $names | uniq | sortAlpha | join " " }}
{{- end }}
