import { deepMerge, type HelmConfig } from './config.js'
import { secretEnvFor } from './secrets.js'

/** Where the chart's image comes from: a repository plus a tag, and a digest once pushed. */
export interface ImageValues {
  repository: string
  tag: string
  digest?: string
}

export interface ValuesInput {
  cfg: HelmConfig
  image: ImageValues
  env: Record<string, string>
  /** The port the server listens on in the image (targets.docker.port). */
  containerPort: number
  /** The image's user, "UID:GID" (targets.docker.user); numeric ids let runAsNonRoot be checked. */
  user: string
  /** The environment's server.shutdownGraceSeconds (core's default, 8, when not given). */
  shutdownGraceSeconds?: number
}

export type Values = Record<string, unknown>

/** Used when no registry is configured: deploy refuses it, package explains it in values.yaml. */
export const PLACEHOLDER_REGISTRY = 'registry.invalid'

const PROBE_PERIOD = 5

/** The chart's values for one environment's settings: what values.yaml (or its overlay) holds. */
export function chartValues({ cfg, image, env, containerPort, user, shutdownGraceSeconds = 8 }: ValuesInput): Values {
  const [uid, gid] = user.split(':').map((s) => (/^\d+$/.test(s) ? Number(s) : undefined))
  const ingress = cfg.ingress
  const values: Values = {
    nameOverride: '',
    fullnameOverride: '',
    replicaCount: cfg.replicas,
    image: { repository: image.repository, tag: image.tag, digest: image.digest ?? '', pullPolicy: 'IfNotPresent' },
    imagePullSecrets: cfg.imagePullSecrets.map((name) => ({ name })),
    serviceAccount: { create: true, automount: false, annotations: {}, name: '' },
    podAnnotations: cfg.podAnnotations,
    podLabels: {},
    podSecurityContext: {
      runAsNonRoot: true,
      ...(uid !== undefined ? { runAsUser: uid } : {}),
      ...(gid !== undefined ? { runAsGroup: gid, fsGroup: gid } : {}),
      seccompProfile: { type: 'RuntimeDefault' },
    },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    containerPort,
    env,
    // targets.helm.secrets: references only (Secret name and key), never a value.
    secretEnv: secretEnvFor(cfg),
    service: { type: cfg.service.type, port: cfg.service.port, ...(cfg.service.nodePort ? { nodePort: cfg.service.nodePort } : {}) },
    ingress: {
      enabled: Boolean(ingress),
      className: ingress?.className ?? '',
      annotations: ingress?.annotations ?? {},
      hosts: ingress ? [{ host: ingress.host, paths: [{ path: ingress.path, pathType: 'Prefix' }] }] : [],
      tls: ingress?.tlsSecret ? [{ secretName: ingress.tlsSecret, hosts: [ingress.host] }] : [],
    },
    resources: cfg.resources,
    // The server listens only once its models are loaded, so the startup probe is what allows
    // for a slow load; liveness and readiness take over after it.
    startupProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: PROBE_PERIOD, failureThreshold: Math.ceil(cfg.startupTimeoutSeconds / PROBE_PERIOD) },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: PROBE_PERIOD, timeoutSeconds: 2, failureThreshold: 2 },
    autoscaling: {
      enabled: Boolean(cfg.autoscaling),
      minReplicas: cfg.autoscaling?.minReplicas ?? 1,
      maxReplicas: cfg.autoscaling?.maxReplicas ?? 5,
      targetCPUUtilizationPercentage: cfg.autoscaling ? (cfg.autoscaling.cpu ?? 0) : 80,
      targetMemoryUtilizationPercentage: cfg.autoscaling?.memory ?? 0,
    },
    // Kubernetes kills the pod this long after SIGTERM. The server drains for at most
    // server.shutdownGraceSeconds and gives itself 1 s more to exit; a second of margin on top.
    terminationGracePeriodSeconds: shutdownGraceSeconds + 2,
    nodeSelector: cfg.nodeSelector,
    tolerations: cfg.tolerations,
    affinity: {},
  }
  return deepMerge(values, cfg.values) as Values
}

/**
 * What an environment's values file must hold on top of values.yaml: only what differs, as a
 * person would write it (maps recurse, lists are replaced whole, a removed key becomes null,
 * which is how helm deletes a key from the defaults).
 */
export function valuesOverlay(base: unknown, env: unknown): unknown {
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (!obj(base) || !obj(env)) return JSON.stringify(base) === JSON.stringify(env) ? undefined : env
  const out: Record<string, unknown> = {}
  for (const k of new Set([...Object.keys(base), ...Object.keys(env)])) {
    if (!(k in env)) out[k] = null
    else if (!(k in base)) out[k] = env[k]
    else {
      const d = valuesOverlay(base[k], env[k])
      if (d !== undefined) out[k] = d
    }
  }
  return Object.keys(out).length ? out : undefined
}

/** values.yaml with each overlay applied in order, as `helm -f a -f b` merges them. */
export function mergeValues(...layers: unknown[]): Values {
  const strip = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, strip(x)]))
  }
  return strip(layers.reduce((a, b) => deepMerge(a, b ?? {}), {})) as Values
}
