import { stringify } from 'yaml'
import type { Values } from './values.js'

/**
 * The chart's templates evaluated in TypeScript, object for object: what `helm template` prints
 * for the same values (test/helm.test.ts checks that with the real helm). This is what mlx
 * applies without helm and what it writes as plain manifests for `kubectl apply -f`.
 */
export interface ChartMeta {
  name: string
  version: string
  appVersion: string
}

export interface ReleaseMeta {
  name: string
  namespace: string
}

export type KubeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: unknown }

const trunc63 = (s: string) => s.slice(0, 63).replace(/-+$/, '')
const nonEmpty = (v: unknown): boolean => {
  if (v === undefined || v === null || v === false || v === '' || v === 0) return false
  if (Array.isArray(v)) return v.length > 0
  if (typeof v === 'object') return Object.keys(v).length > 0
  return true
}

type V = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export function names(values: Values, chart: ChartMeta, release: ReleaseMeta) {
  const v = values as V
  const name = trunc63(v.nameOverride || chart.name)
  const base = v.nameOverride || chart.name
  const fullname = v.fullnameOverride ? trunc63(v.fullnameOverride) : release.name.includes(base) ? trunc63(release.name) : trunc63(`${release.name}-${base}`)
  const selector = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': release.name }
  const labels: Record<string, string> = {
    'helm.sh/chart': trunc63(`${chart.name}-${chart.version}`.replace(/\+/g, '_')),
    ...selector,
    ...(chart.appVersion ? { 'app.kubernetes.io/version': chart.appVersion } : {}),
    'app.kubernetes.io/managed-by': 'Helm',
  }
  const serviceAccount = v.serviceAccount.create ? v.serviceAccount.name || fullname : v.serviceAccount.name || 'default'
  return { name, fullname, selector, labels, serviceAccount }
}

export function imageRef(values: Values, chart: ChartMeta): string {
  const img = (values as V).image
  return img.digest ? `${img.repository}@${img.digest}` : `${img.repository}:${img.tag || chart.appVersion}`
}

/** The manifests in helm's install order (ServiceAccount, Service, Deployment, HPA, Ingress); the test hook is left out. */
export function renderManifests(values: Values, chart: ChartMeta, release: ReleaseMeta): KubeObject[] {
  const v = values as V
  const n = names(values, chart, release)
  const meta = (extra: Record<string, unknown> = {}) => ({ name: n.fullname, namespace: release.namespace, labels: { ...n.labels }, ...extra })
  const out: KubeObject[] = []

  if (v.serviceAccount.create) {
    out.push({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { ...meta(), name: n.serviceAccount, ...(nonEmpty(v.serviceAccount.annotations) ? { annotations: v.serviceAccount.annotations } : {}) },
      automountServiceAccountToken: v.serviceAccount.automount,
    })
  }

  out.push({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(),
    spec: {
      type: v.service.type,
      ports: [{ port: v.service.port, targetPort: 'http', protocol: 'TCP', name: 'http', ...(v.service.type !== 'ClusterIP' && nonEmpty(v.service.nodePort) ? { nodePort: v.service.nodePort } : {}) }],
      selector: n.selector,
    },
  })

  const container: Record<string, unknown> = {
    name: chart.name,
    image: imageRef(values, chart),
    imagePullPolicy: v.image.pullPolicy,
    securityContext: v.securityContext,
    ports: [{ name: 'http', containerPort: v.containerPort, protocol: 'TCP' }],
    env: [
      { name: 'PORT', value: String(v.containerPort) },
      ...Object.keys(v.env ?? {}).sort().map((k) => ({ name: k, value: String(v.env[k]) })),
      ...Object.keys(v.secretEnv ?? {}).sort().map((k) => ({ name: k, valueFrom: { secretKeyRef: { name: String(v.secretEnv[k].name), key: String(v.secretEnv[k].key) } } })),
    ],
  }
  for (const k of ['startupProbe', 'livenessProbe', 'readinessProbe', 'resources']) if (nonEmpty(v[k])) container[k] = v[k]
  container.volumeMounts = [{ name: 'tmp', mountPath: '/tmp' }]
  const podSpec: Record<string, unknown> = {
    ...(nonEmpty(v.imagePullSecrets) ? { imagePullSecrets: v.imagePullSecrets } : {}),
    serviceAccountName: n.serviceAccount,
    automountServiceAccountToken: v.serviceAccount.automount,
    securityContext: v.podSecurityContext,
    terminationGracePeriodSeconds: v.terminationGracePeriodSeconds,
    containers: [container],
    volumes: [{ name: 'tmp', emptyDir: {} }],
  }
  for (const k of ['nodeSelector', 'affinity', 'tolerations']) if (nonEmpty(v[k])) podSpec[k] = v[k]
  out.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(),
    spec: {
      ...(v.autoscaling.enabled ? {} : { replicas: v.replicaCount }),
      selector: { matchLabels: n.selector },
      template: {
        metadata: { ...(nonEmpty(v.podAnnotations) ? { annotations: v.podAnnotations } : {}), labels: { ...n.labels, ...v.podLabels } },
        spec: podSpec,
      },
    },
  })

  if (v.autoscaling.enabled) {
    const metric = (name: string, pct: unknown) => (nonEmpty(pct) ? [{ type: 'Resource', resource: { name, target: { type: 'Utilization', averageUtilization: pct } } }] : [])
    out.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta(),
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: n.fullname },
        minReplicas: v.autoscaling.minReplicas,
        maxReplicas: v.autoscaling.maxReplicas,
        metrics: [...metric('cpu', v.autoscaling.targetCPUUtilizationPercentage), ...metric('memory', v.autoscaling.targetMemoryUtilizationPercentage)],
      },
    })
  }

  if (v.ingress.enabled) {
    out.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: meta(nonEmpty(v.ingress.annotations) ? { annotations: v.ingress.annotations } : {}),
      spec: {
        ...(nonEmpty(v.ingress.className) ? { ingressClassName: v.ingress.className } : {}),
        ...(nonEmpty(v.ingress.tls) ? { tls: v.ingress.tls } : {}),
        rules: (v.ingress.hosts as { host: string; paths: { path: string; pathType: string }[] }[]).map((h) => ({
          host: h.host,
          http: { paths: h.paths.map((p) => ({ path: p.path, pathType: p.pathType, backend: { service: { name: n.fullname, port: { name: 'http' } } } })) },
        })),
      },
    })
  }
  return out
}

/** A multi-document YAML stream, with the same `# Source:` comments helm writes. */
export function manifestsYaml(objects: readonly KubeObject[], chartName: string, header = ''): string {
  const file: Record<string, string> = { ServiceAccount: 'serviceaccount', Service: 'service', Deployment: 'deployment', HorizontalPodAutoscaler: 'hpa', Ingress: 'ingress' }
  const docs = objects.map((o) => `---\n# Source: ${chartName}/templates/${file[o.kind] ?? o.kind.toLowerCase()}.yaml\n${stringify(o, { lineWidth: 0 })}`)
  return header + docs.join('')
}
