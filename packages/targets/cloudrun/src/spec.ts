import type { CloudRunConfig } from './config.js'

/** The parts of a Cloud Run v2 Service (camelCase JSON, as the REST API and the Node client take it) mlx sets. */
export interface ServiceSpec {
  name?: string
  labels: Record<string, string>
  client: string
  clientVersion: string
  ingress: string
  template: {
    /** Set only to force a new revision (a retry of a failed one); Cloud Run names it otherwise. */
    revision?: string
    labels: Record<string, string>
    scaling: { minInstanceCount: number; maxInstanceCount?: number }
    maxInstanceRequestConcurrency: number
    timeout: string
    serviceAccount?: string
    containers: ContainerSpec[]
  }
  traffic: TrafficTarget[]
}

export interface ContainerSpec {
  name: string
  image: string
  ports: { name: string; containerPort: number }[]
  env: EnvVar[]
  resources: { limits: { cpu: string; memory: string }; cpuIdle: boolean; startupCpuBoost: boolean }
  startupProbe: Probe
  livenessProbe: Probe
}

export type EnvVar = { name: string; value: string } | { name: string; valueSource: { secretKeyRef: { secret: string; version: string } } }
interface Probe {
  httpGet: { path: string; port: number }
  periodSeconds: number
  timeoutSeconds: number
  failureThreshold: number
  initialDelaySeconds?: number
}
export interface TrafficTarget {
  type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST' | 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION'
  revision?: string
  percent: number
  tag?: string
}

export const LATEST: TrafficTarget = { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 }

const INGRESS = { all: 'INGRESS_TRAFFIC_ALL', internal: 'INGRESS_TRAFFIC_INTERNAL_ONLY', 'internal-and-cloud-load-balancing': 'INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER' } as const

// Models load before /readyz answers: up to 24 × 5 s = 2 minutes of startup before Cloud Run gives up.
const STARTUP = { periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 24 }
const LIVENESS = { periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 3 }

/** Label values: lowercase letters, digits, _ and -, at most 63 characters. */
export const labelValue = (s: string) => s.toLowerCase().replace(/[^a-z0-9_-]/g, '-').slice(0, 63)

/** `NAME: SECRET[:VERSION]`, `projects/P/secrets/S[/versions/V]` or `{secret, version}` → secretKeyRef. */
export function secretRef(ref: CloudRunConfig['secrets'][string]): { secret: string; version: string } {
  if (typeof ref === 'object') return { secret: ref.secret, version: ref.version ?? 'latest' }
  const full = /^(projects\/[^/]+\/secrets\/[^/]+)(?:\/versions\/(.+))?$/.exec(ref)
  if (full) return { secret: full[1]!, version: full[2] ?? 'latest' }
  const [secret, version] = ref.split(':')
  return { secret: secret!, version: version ?? 'latest' }
}

export interface SpecInput {
  cfg: CloudRunConfig
  /** REGISTRY/REPO@sha256:… — by digest, so the revision runs exactly what was pushed. */
  image: string
  projectName: string
  version: string
  modelDigest: string
}

/** The desired v2 Service: everything mlx owns; Cloud Run fills in the rest (uri, conditions, revisions). */
export function serviceSpec(input: SpecInput): ServiceSpec {
  const { cfg } = input
  const labels = { ...cfg.labels, 'managed-by': 'mlx', 'mlx-project': labelValue(input.projectName) }
  const env: EnvVar[] = [
    ...Object.entries(cfg.env).map(([name, value]) => ({ name, value: String(value) })),
    ...Object.entries(cfg.secrets).map(([name, ref]) => ({ name, valueSource: { secretKeyRef: secretRef(ref) } })),
  ]
  return {
    labels,
    client: 'mlx',
    clientVersion: input.version,
    ingress: INGRESS[cfg.ingress],
    template: {
      // The revision says which model and version it serves, so `mlx rollback` can name them.
      labels: { ...labels, 'mlx-version': labelValue(input.version), 'mlx-model': input.modelDigest.replace(/^sha256:/, '').slice(0, 12) },
      scaling: { minInstanceCount: cfg.minInstances, ...(cfg.maxInstances !== undefined ? { maxInstanceCount: cfg.maxInstances } : {}) },
      maxInstanceRequestConcurrency: cfg.concurrency,
      // There is no grace setting: Cloud Run kills the instance 10 s after SIGTERM. The server's
      // drain (server.shutdownGraceSeconds, default 8) and the second it takes to exit fit in it.
      timeout: `${cfg.timeoutSeconds}s`,
      ...(cfg.serviceAccount ? { serviceAccount: cfg.serviceAccount } : {}),
      containers: [
        {
          name: 'server',
          image: input.image,
          ports: [{ name: 'http1', containerPort: cfg.port }],
          env,
          resources: { limits: { cpu: cfg.cpu, memory: cfg.memory }, cpuIdle: cfg.cpuIdle, startupCpuBoost: cfg.startupCpuBoost },
          startupProbe: { httpGet: { path: '/readyz', port: cfg.port }, ...STARTUP },
          livenessProbe: { httpGet: { path: '/healthz', port: cfg.port }, ...LIVENESS },
        },
      ],
    },
    traffic: [LATEST],
  }
}

/**
 * The same service in the Knative serving.knative.dev/v1 form that
 * `gcloud run services replace service.yaml --region R` accepts (Cloud Run Admin API v1).
 */
export function knativeService(spec: ServiceSpec, serviceName: string, cfg: CloudRunConfig): Record<string, unknown> {
  const c = spec.template.containers[0]!
  const templateAnnotations: Record<string, string> = {
    'autoscaling.knative.dev/minScale': String(spec.template.scaling.minInstanceCount),
    ...(spec.template.scaling.maxInstanceCount !== undefined ? { 'autoscaling.knative.dev/maxScale': String(spec.template.scaling.maxInstanceCount) } : {}),
    'run.googleapis.com/cpu-throttling': String(c.resources.cpuIdle),
    'run.googleapis.com/startup-cpu-boost': String(c.resources.startupCpuBoost),
  }
  const probe = (p: Probe) => ({ httpGet: { path: p.httpGet.path, port: p.httpGet.port }, periodSeconds: p.periodSeconds, timeoutSeconds: p.timeoutSeconds, failureThreshold: p.failureThreshold })
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name: serviceName,
      labels: spec.labels,
      annotations: { 'run.googleapis.com/ingress': cfg.ingress, 'run.googleapis.com/client-name': 'mlx' },
    },
    spec: {
      template: {
        metadata: { labels: spec.template.labels, annotations: templateAnnotations },
        spec: {
          containerConcurrency: spec.template.maxInstanceRequestConcurrency,
          timeoutSeconds: cfg.timeoutSeconds,
          ...(spec.template.serviceAccount ? { serviceAccountName: spec.template.serviceAccount } : {}),
          containers: [
            {
              name: c.name,
              image: c.image,
              ports: c.ports,
              env: c.env.map((e) => ('value' in e ? e : { name: e.name, valueFrom: { secretKeyRef: { name: e.valueSource.secretKeyRef.secret, key: e.valueSource.secretKeyRef.version } } })),
              resources: { limits: c.resources.limits },
              startupProbe: probe(c.startupProbe),
              livenessProbe: probe(c.livenessProbe),
            },
          ],
        },
      },
      traffic: [{ latestRevision: true, percent: 100 }],
    },
  }
}
