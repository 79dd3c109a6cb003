import { MlxError, retrySettings, targetConfig, type ConfigOf, type Project, type Target } from '@mlx/core'

const strings = { type: 'object', additionalProperties: { type: 'string' } } as const
const quantity = { type: 'string', pattern: '^[0-9.]+[a-zA-Z]*$' } as const
const envName = '^[A-Za-z_][A-Za-z0-9_]*$'
/** A Secret's name: a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters). */
export const SECRET_NAME = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'
/** A key in a Secret's data. */
export const SECRET_KEY = '[-._a-zA-Z0-9]+'

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: { type: 'string', enum: ['auto', 'helm', 'apply'], default: 'auto', description: 'auto: `helm upgrade --install` when a helm binary is found, else server-side apply of the rendered manifests. helm / apply force one.' },
    release: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 53, description: 'Helm release name (default: the project name). Objects are named <release>-<project> unless the release contains the project name.' },
    namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63, default: 'default', description: 'Namespace the release goes to.' },
    context: { type: 'string', description: 'kubeconfig context (default: the current one). Flag of helm: --kube-context.' },
    createNamespace: { type: 'boolean', default: true, description: 'Create the namespace when it does not exist.' },
    image: { type: 'string', description: 'Run this existing image (REPO:TAG or REPO@sha256:…) instead of building and pushing one.' },
    replicas: { type: 'integer', minimum: 0, default: 1, description: 'Pods when autoscaling is off.' },
    resources: {
      type: 'object',
      additionalProperties: false,
      default: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } },
      properties: {
        requests: { type: 'object', additionalProperties: false, properties: { cpu: quantity, memory: quantity } },
        limits: { type: 'object', additionalProperties: false, properties: { cpu: quantity, memory: quantity } },
      },
      description: 'Container requests and limits (a memory limit but no CPU limit by default: CPU throttling hurts tail latency).',
    },
    service: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        type: { type: 'string', enum: ['ClusterIP', 'NodePort', 'LoadBalancer'], default: 'ClusterIP' },
        port: { type: 'integer', minimum: 1, maximum: 65535, default: 80 },
        nodePort: { type: 'integer', minimum: 30000, maximum: 32767 },
      },
      description: 'The Service in front of the pods.',
    },
    ingress: {
      type: 'object',
      additionalProperties: false,
      required: ['host'],
      properties: {
        host: { type: 'string', pattern: '^[a-z0-9*]([-a-z0-9.]*[a-z0-9])?$', description: 'Public host name; setting it creates an Ingress.' },
        className: { type: 'string', description: 'ingressClassName (e.g. nginx).' },
        path: { type: 'string', default: '/', pattern: '^/' },
        tlsSecret: { type: 'string', description: 'Secret holding the TLS certificate for the host (then the URL is https).' },
        annotations: { ...strings, default: {} },
      },
    },
    autoscaling: {
      type: 'object',
      additionalProperties: false,
      properties: {
        minReplicas: { type: 'integer', minimum: 1, default: 1 },
        maxReplicas: { type: 'integer', minimum: 1, default: 5 },
        cpu: { type: 'integer', minimum: 1, maximum: 1000, default: 80, description: 'Target average CPU utilization, % of the request.' },
        memory: { type: 'integer', minimum: 1, maximum: 1000, description: 'Target average memory utilization, % of the request.' },
      },
      description: 'Setting it creates a HorizontalPodAutoscaler (autoscaling/v2) and leaves replicas to it.',
    },
    startupTimeoutSeconds: { type: 'integer', minimum: 10, default: 300, description: 'How long a pod may take to load its models before the startup probe gives up.' },
    timeoutSeconds: { type: 'integer', minimum: 1, default: 300, description: 'How long deploy waits for the rollout (helm --timeout).' },
    pollIntervalMs: { type: 'integer', minimum: 10, default: 2000, description: 'How often the rollout status is read (apply mode), and the new pods are listed while helm waits (helm mode).' },
    ...retrySettings,
    logLines: { type: 'integer', minimum: 0, maximum: 1000, default: 20, description: 'Log lines of a failing pod shown when a rollout fails.' },
    secrets: {
      type: 'object',
      propertyNames: { pattern: envName },
      additionalProperties: {
        oneOf: [
          { type: 'string', pattern: `^${SECRET_NAME}(:${SECRET_KEY})?$` },
          {
            type: 'object',
            additionalProperties: false,
            required: ['secret'],
            properties: { secret: { type: 'string', pattern: `^${SECRET_NAME}$`, maxLength: 253 }, key: { type: 'string', pattern: `^${SECRET_KEY}$`, maxLength: 253 } },
          },
        ],
      },
      default: {},
      description: 'Environment variables from Kubernetes Secrets in the release namespace, by reference (never the value): ENV_NAME: SECRET[:KEY] or {secret, key}; the key defaults to ENV_NAME. The container gets valueFrom.secretKeyRef; create the Secret with kubectl create secret generic SECRET -n NAMESPACE --from-literal=KEY=….',
    },
    imagePullSecrets: { type: 'array', items: { type: 'string' }, default: [], description: 'Secrets for pulling from a private registry.' },
    podAnnotations: { ...strings, default: {} },
    nodeSelector: { ...strings, default: {} },
    tolerations: { type: 'array', items: { type: 'object' }, default: [] },
    values: { type: 'object', default: {}, description: 'Extra chart values, merged last (e.g. affinity, podLabels).' },
    helmBinary: { type: 'string', default: 'helm', description: 'The helm executable (a name on PATH or a path).' },
    keepReleases: { type: 'integer', minimum: 1, default: 10, description: 'Applied manifest sets kept under .mlx/helm/releases (helm: --history-max).' },
  },
} as const

/** targets.helm after defaults. */
export type HelmConfig = ConfigOf<typeof configSchema>
export type Mode = HelmConfig['mode']

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Maps merge key by key; anything else (arrays included) is replaced, as core's overlays and helm's -f do. */
export function deepMerge(a: unknown, b: unknown): unknown {
  if (!isObject(a) || !isObject(b)) return b === undefined ? a : b
  const out: Record<string, unknown> = { ...a }
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(a[k], v)
  return out
}

/**
 * targets.helm for every declared environment, not only the one deploy runs with: the chart
 * carries a values file per environment. `undefined` is the manifest without overlay.
 */
export function configFor(target: Target<HelmConfig>, project: Project, env: string | undefined): HelmConfig {
  const decl = project.decl
  const base = (decl.targets ?? {}) as Record<string, Record<string, unknown>>
  const overlay = env ? decl.environments?.[env] : undefined
  if (env && !overlay) throw new MlxError('USAGE', `environment '${env}' is not declared in ${project.manifestFile}.`, { hint: 'add it under environments: in mlx.yaml.' })
  const targets = overlay?.targets ? (deepMerge(base, overlay.targets) as Record<string, Record<string, unknown>>) : base
  // targetConfig validates against this schema and fills its defaults: what ConfigOf describes.
  return targetConfig(target, { ...project, targets })
}

/** The container environment of one environment: env: plus the overlay's env:. */
export function envFor(project: Project, env: string | undefined): Record<string, string> {
  const decl = project.decl
  const merged = { ...decl.env, ...(env ? decl.environments?.[env]?.env : undefined) }
  return Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, String(v)]))
}

export const releaseName = (cfg: HelmConfig, project: Project) => cfg.release ?? project.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 53)
