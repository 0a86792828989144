{{/* Chart name, overridable. */}}
{{- define "trolley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name (63 chars: a DNS label). The release name alone when
it already contains the chart name.
*/}}
{{- define "trolley.fullname" -}}
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

{{- define "trolley.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "trolley.labels" -}}
helm.sh/chart: {{ include "trolley.chart" . }}
{{ include "trolley.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Immutable once deployed: never add labels here. */}}
{{- define "trolley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trolley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "trolley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "trolley.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "trolley.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
TROLLEY_REDIS_URL, without credentials (it goes into a ConfigMap; the password
reaches the pod as TROLLEY_REDIS_PASSWORD from a Secret). fred URL syntax:
  standalone  redis://host:port/db
  sentinel    redis-sentinel://s1:26379,s2:26379/db?sentinelServiceName=master
  cluster     redis-cluster://n1:6379,n2:6379
tls: true swaps "redis" for "rediss" in each scheme.
*/}}
{{- define "trolley.redisUrl" -}}
{{- $r := .Values.redis }}
{{- if $r.url }}
{{- $r.url }}
{{- else }}
{{- $tls := ternary "s" "" (eq (toString $r.tls) "true") }}
{{- if eq $r.mode "standalone" }}
{{- $host := required "redis.standalone.host is required in standalone mode (or set redis.url)" $r.standalone.host }}
{{- printf "redis%s://%s:%v/%v" $tls $host $r.standalone.port $r.database }}
{{- else if eq $r.mode "sentinel" }}
{{- if not $r.sentinel.hosts }}{{ fail "redis.sentinel.hosts must list at least one host:port in sentinel mode" }}{{ end }}
{{- $master := required "redis.sentinel.masterName is required in sentinel mode" $r.sentinel.masterName }}
{{- printf "redis%s-sentinel://%s/%v?sentinelServiceName=%s" $tls (join "," $r.sentinel.hosts) $r.database $master }}
{{- else if eq $r.mode "cluster" }}
{{- if not $r.cluster.nodes }}{{ fail "redis.cluster.nodes must list at least one host:port in cluster mode" }}{{ end }}
{{- /* Redis Cluster has a single database (0): no path. */}}
{{- printf "redis%s-cluster://%s" $tls (join "," $r.cluster.nodes) }}
{{- else }}
{{- fail (printf "redis.mode must be standalone, sentinel or cluster, not %q" $r.mode) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret holding the Redis password, or "" when there is none. */}}
{{- define "trolley.redisSecretName" -}}
{{- if .Values.redis.existingSecret }}
{{- .Values.redis.existingSecret }}
{{- else if .Values.redis.password }}
{{- printf "%s-redis" (include "trolley.fullname" .) }}
{{- end }}
{{- end }}

{{- define "trolley.trustForwardedFor" -}}
{{- if kindIs "invalid" .Values.config.trustForwardedFor }}
{{- .Values.ingress.enabled }}
{{- else }}
{{- .Values.config.trustForwardedFor }}
{{- end }}
{{- end }}

{{- define "trolley.newSessionsPerMinute" -}}
{{- if kindIs "invalid" .Values.config.newSessionsPerMinute }}
{{- if eq (include "trolley.trustForwardedFor" .) "true" }}300{{ else }}0{{ end }}
{{- else }}
{{- .Values.config.newSessionsPerMinute }}
{{- end }}
{{- end }}

{{- define "trolley.cookieSecure" -}}
{{- if kindIs "invalid" .Values.config.cookieSecure }}
{{- and .Values.ingress.enabled (gt (len .Values.ingress.tls) 0) }}
{{- else }}
{{- .Values.config.cookieSecure }}
{{- end }}
{{- end }}

{{/*
Long enough for the preStop sleep plus the drain, with slack: the kubelet
SIGKILLs at the deadline, cutting in-flight requests.
*/}}
{{- define "trolley.terminationGracePeriodSeconds" -}}
{{- $minimum := add (int .Values.lifecycle.preStopSleepSeconds) (int .Values.config.shutdownTimeoutSeconds) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $minimum 5 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) $minimum }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed lifecycle.preStopSleepSeconds + config.shutdownTimeoutSeconds (%v)" .Values.terminationGracePeriodSeconds $minimum) }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}
