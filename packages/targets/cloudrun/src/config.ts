import { MlxError, retrySettings, type ConfigOf, type TargetContext } from '@mlx/core'

export const DEFAULT_API_ENDPOINT = 'https://run.googleapis.com'

const envName = '^[A-Za-z_][A-Za-z0-9_]*$'
const labelKey = '^[a-z][a-z0-9_-]{0,62}$'

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    project: { type: 'string', pattern: '^[a-z][a-z0-9-]{4,28}[a-z0-9]$', description: 'Google Cloud project ID. Default: the Application Default Credentials project (GOOGLE_CLOUD_PROJECT, the service-account file, gcloud, or the metadata server).' },
    region: { type: 'string', pattern: '^[a-z]+-[a-z]+[0-9]+$', description: 'Cloud Run region, e.g. europe-west1. Default: CLOUDSDK_RUN_REGION or GOOGLE_CLOUD_REGION.' },
    service: { type: 'string', pattern: '^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$', description: 'Service name (at most 49 characters, a letter first, no trailing -). Default: the project name.' },
    repository: { type: 'string', pattern: '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$', default: 'mlx', description: 'Artifact Registry Docker repository the image is pushed to (REGION-docker.pkg.dev/PROJECT/REPOSITORY/NAME). It must exist: gcloud artifacts repositories create REPOSITORY --repository-format=docker --location=REGION.' },
    registry: { type: 'string', description: 'Push somewhere else than Artifact Registry: HOST[:PORT]/NAMESPACE (the image is NAMESPACE/<project name>). Flag: --registry. Cloud Run can pull only from Artifact Registry, Container Registry or Docker Hub.' },
    cpu: { type: 'string', pattern: '^(0\\.[0-9]+|[1-9][0-9]*|[0-9]+m)$', default: '1', description: 'CPU limit per instance: 1, 2, 4, 8 (or below 1, e.g. 0.5, with concurrency 1).' },
    memory: { type: 'string', pattern: '^[0-9]+(Mi|Gi)$', default: '512Mi', description: 'Memory limit per instance, e.g. 512Mi or 2Gi.' },
    minInstances: { type: 'integer', minimum: 0, default: 0, description: 'Instances kept warm (0 scales to zero; cold starts load the model).' },
    maxInstances: { type: 'integer', minimum: 1, description: 'Upper bound of instances (Cloud Run default: 100).' },
    concurrency: { type: 'integer', minimum: 1, maximum: 1000, default: 80, description: 'Requests one instance serves at once (maxInstanceRequestConcurrency / containerConcurrency).' },
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 300, description: 'Request timeout.' },
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 8080, description: 'Container port; Cloud Run passes it as $PORT, which the mlx server listens on.' },
    cpuIdle: { type: 'boolean', default: true, description: 'CPU only during requests (request-based billing). false keeps CPU always allocated.' },
    startupCpuBoost: { type: 'boolean', default: true, description: 'Extra CPU while an instance starts (loading the model).' },
    env: { type: 'object', propertyNames: { pattern: envName }, additionalProperties: { type: ['string', 'number', 'boolean'] }, default: {}, description: 'Plain environment variables (on top of env: in mlx.yaml, which is baked into the image). Not for secrets: use secrets.' },
    secrets: {
      type: 'object',
      propertyNames: { pattern: envName },
      additionalProperties: {
        oneOf: [
          { type: 'string', pattern: '^[A-Za-z0-9_-]+(:([0-9]+|latest))?$|^projects/[^/]+/secrets/[A-Za-z0-9_-]+(/versions/([0-9]+|latest))?$' },
          { type: 'object', additionalProperties: false, required: ['secret'], properties: { secret: { type: 'string' }, version: { type: 'string', default: 'latest' } } },
        ],
      },
      default: {},
      description: 'Environment variables from Secret Manager, by reference (never the value): ENV_NAME: SECRET[:VERSION] or {secret, version}. The runtime service account needs roles/secretmanager.secretAccessor.',
    },
    allowUnauthenticated: { type: 'boolean', default: true, description: 'Grant roles/run.invoker to allUsers (a public API, as `gcloud run deploy --allow-unauthenticated`). false removes that grant.' },
    ingress: { type: 'string', enum: ['all', 'internal', 'internal-and-cloud-load-balancing'], default: 'all', description: 'Where requests may come from.' },
    serviceAccount: { type: 'string', description: 'Runtime service account email (default: the project\'s Compute Engine default service account).' },
    labels: { type: 'object', propertyNames: { pattern: labelKey }, additionalProperties: { type: 'string', pattern: '^[a-z0-9_-]{0,63}$' }, default: {}, description: 'Labels on the service and its revisions.' },
    apiEndpoint: { type: 'string', default: DEFAULT_API_ENDPOINT, description: 'Cloud Run Admin API endpoint: a regional endpoint (https://europe-west1-run.googleapis.com), Private Service Connect, or a local emulator (http://127.0.0.1:PORT).' },
    readyTimeoutSeconds: { type: 'integer', minimum: 10, default: 900, description: 'How long to wait for the new revision to become ready.' },
    ...retrySettings,
  },
} as const

/** targets.cloudrun in mlx.yaml after defaults (environment overlays are applied by core). */
export type CloudRunConfig = ConfigOf<typeof configSchema>
export type CloudRunContext = TargetContext<CloudRunConfig>

export interface Resolved {
  cfg: CloudRunConfig
  region: string
  service: string
  /** Known before any network call only if set in mlx.yaml or the environment. */
  project?: string
}

/** Settings that do not need credentials: region and service name, with the fixes named. */
export function resolveSettings(ctx: CloudRunContext): Resolved {
  const cfg = ctx.config
  const region = cfg.region ?? ctx.credentials.setting('CLOUDSDK_RUN_REGION') ?? ctx.credentials.setting('GOOGLE_CLOUD_REGION')
  if (!region) {
    throw new MlxError('USAGE', 'the cloudrun target needs a region.', {
      hint: 'set targets.cloudrun.region in mlx.yaml (e.g. europe-west1), or CLOUDSDK_RUN_REGION in the environment.',
    })
  }
  const service = cfg.service ?? serviceIdFor(ctx.project.name)
  const project = cfg.project ?? ctx.credentials.setting('GOOGLE_CLOUD_PROJECT') ?? ctx.credentials.setting('CLOUDSDK_CORE_PROJECT')
  return { cfg, region, service, project }
}

/** Project names become valid Cloud Run service IDs: lowercase, a letter first, <50 chars. */
export function serviceIdFor(name: string): string {
  let id = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 49).replace(/-+$/, '')
  if (!id) id = 'mlx-service'
  return id
}

/** Where images go: the flag, then targets.cloudrun.registry, then Artifact Registry in the region. */
export function registryFor(ctx: CloudRunContext, r: Resolved, project: string): string {
  const flag = typeof ctx.flags.registry === 'string' && ctx.flags.registry ? ctx.flags.registry : undefined
  return flag ?? r.cfg.registry ?? `${r.region}-docker.pkg.dev/${project}/${r.cfg.repository}`
}

/** apiEndpoint as the gax client wants it: host, port, protocol. */
export function endpointOptions(apiEndpoint: string): { apiEndpoint: string; port: number; protocol: 'http' | 'https' } {
  const withScheme = /^[a-z]+:\/\//.test(apiEndpoint) ? apiEndpoint : `https://${apiEndpoint}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new MlxError('TARGET_CONFIG_INVALID', `targets.cloudrun.apiEndpoint: '${apiEndpoint}' is not a URL.`, { hint: `e.g. ${DEFAULT_API_ENDPOINT} or https://europe-west1-run.googleapis.com.` })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MlxError('TARGET_CONFIG_INVALID', `targets.cloudrun.apiEndpoint: '${apiEndpoint}' must be http(s).`, { hint: `e.g. ${DEFAULT_API_ENDPOINT}.` })
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https'
  return { apiEndpoint: url.hostname, port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443, protocol }
}
