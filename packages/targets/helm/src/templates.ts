/**
 * The chart's templates, in the shape `helm create` gives (same helpers, same value names) with
 * what a model server needs on top: PORT, a startup probe for slow model loads, a non-root
 * read-only container with /tmp as an emptyDir, and the namespace written into every object so
 * the rendered manifests can be `kubectl apply`d as they are. render.ts builds the same objects
 * in TypeScript; the tests hold the two together with the real helm.
 */
export const HELPERS = `{{/*
The chart name, or nameOverride.
*/}}
{{- define "mlx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Object names: <release>-<chart>, or just the release when it already contains the chart name.
Truncated to 63 characters (the DNS label limit some object names have).
*/}}
{{- define "mlx.fullname" -}}
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
helm.sh/chart: <chart>-<version>.
*/}}
{{- define "mlx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The standard app.kubernetes.io labels.
*/}}
{{- define "mlx.labels" -}}
helm.sh/chart: {{ include "mlx.chart" . }}
{{ include "mlx.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: they never change over the life of a release.
*/}}
{{- define "mlx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The service account the pods run as.
*/}}
{{- define "mlx.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlx.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image: by digest once mlx has pushed it (a tag can move, a digest cannot), else by tag.
*/}}
{{- define "mlx.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}
`

export const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mlx.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mlx.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "mlx.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      labels:
        {{- include "mlx.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      serviceAccountName: {{ include "mlx.serviceAccountName" . }}
      automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .Chart.Name }}
          image: {{ include "mlx.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ .Values.containerPort }}
              protocol: TCP
          env:
            - name: PORT
              value: {{ .Values.containerPort | quote }}
            {{- range $name, $value := .Values.env }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
            {{- range $name, $ref := .Values.secretEnv }}
            - name: {{ $name }}
              valueFrom:
                secretKeyRef:
                  name: {{ $ref.name | quote }}
                  key: {{ $ref.key | quote }}
            {{- end }}
          {{- with .Values.startupProbe }}
          startupProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .Values.livenessProbe }}
          livenessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .Values.readinessProbe }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .Values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
`

export const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: {{ include "mlx.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mlx.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
      name: http
      {{- if and (ne .Values.service.type "ClusterIP") .Values.service.nodePort }}
      nodePort: {{ .Values.service.nodePort }}
      {{- end }}
  selector:
    {{- include "mlx.selectorLabels" . | nindent 4 }}
`

export const SERVICE_ACCOUNT = `{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "mlx.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mlx.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
{{- end }}
`

export const HPA = `{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "mlx.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mlx.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "mlx.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    {{- if .Values.autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
    {{- end }}
    {{- if .Values.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetMemoryUtilizationPercentage }}
    {{- end }}
{{- end }}
`

export const INGRESS = `{{- if .Values.ingress.enabled -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "mlx.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mlx.labels" . | nindent 4 }}
  {{- with .Values.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .Values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with .Values.ingress.tls }}
  tls:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- range .Values.ingress.hosts }}
    - host: {{ .host | quote }}
      http:
        paths:
          {{- range .paths }}
          - path: {{ .path }}
            pathType: {{ .pathType }}
            backend:
              service:
                name: {{ include "mlx.fullname" $ }}
                port:
                  name: http
          {{- end }}
    {{- end }}
{{- end }}
`

export const TEST_CONNECTION = `apiVersion: v1
kind: Pod
metadata:
  name: "{{ include "mlx.fullname" . }}-test-connection"
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mlx.labels" . | nindent 4 }}
  annotations:
    "helm.sh/hook": test
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 65534
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: readyz
      image: busybox:1.36
      command: ["wget", "-q", "-O-", "http://{{ include "mlx.fullname" . }}:{{ .Values.service.port }}/readyz"]
      securityContext:
        allowPrivilegeEscalation: false
        capabilities:
          drop: ["ALL"]
  restartPolicy: Never
`

export const NOTES = `{{ .Chart.Name }} {{ .Chart.AppVersion }} is released as {{ .Release.Name }} in namespace {{ .Release.Namespace }}.

Wait for it:
  kubectl rollout status deployment/{{ include "mlx.fullname" . }} -n {{ .Release.Namespace }}

Reach it:
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
  http{{ if $.Values.ingress.tls }}s{{ end }}://{{ .host }}{{ (first .paths).path }}
{{- end }}
{{- else if eq .Values.service.type "NodePort" }}
  export NODE_PORT=$(kubectl get -n {{ .Release.Namespace }} -o jsonpath="{.spec.ports[0].nodePort}" services {{ include "mlx.fullname" . }})
  export NODE_IP=$(kubectl get nodes -o jsonpath="{.items[0].status.addresses[0].address}")
  curl http://$NODE_IP:$NODE_PORT/readyz
{{- else if eq .Values.service.type "LoadBalancer" }}
  (the external IP can take a minute: kubectl get svc -w {{ include "mlx.fullname" . }} -n {{ .Release.Namespace }})
  export SERVICE_IP=$(kubectl get svc -n {{ .Release.Namespace }} {{ include "mlx.fullname" . }} -o jsonpath="{.status.loadBalancer.ingress[0].ip}")
  curl http://$SERVICE_IP:{{ .Values.service.port }}/readyz
{{- else }}
  kubectl port-forward svc/{{ include "mlx.fullname" . }} 8080:{{ .Values.service.port }} -n {{ .Release.Namespace }}
  curl http://127.0.0.1:8080/readyz
{{- end }}

API docs are at /docs, the OpenAPI document at /openapi.json.
Check it in the cluster: helm test {{ .Release.Name }} -n {{ .Release.Namespace }}
`

export const HELMIGNORE = `# Patterns to ignore when building packages (helm package).
.DS_Store
.git/
*.swp
*.bak
*.tmp
*.orig
*~
`
