import { MlxError, retrySettings, type ConfigOf, type Project, type TargetContext } from '@mlx/core'

export const DEFAULT_API_URL = 'https://api.ubiops.com/v2.1'

const NAME = '^[a-z0-9][a-z0-9-]{0,62}$'

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...retrySettings,
    apiUrl: { type: 'string', description: `UbiOps API base URL (env UBIOPS_API_URL wins). Default ${DEFAULT_API_URL}; set it for a private UbiOps installation.` },
    project: { type: 'string', description: 'UbiOps project name (env UBIOPS_PROJECT wins). Needed by deploy, not by package.' },
    deployment: { type: 'string', pattern: NAME, description: 'Deployment name. Default: the project name, lower-cased, other characters turned into "-".' },
    endpoint: { type: 'string', description: 'The endpoint the deployment serves (UbiOps has one input/output per deployment). Default: the first endpoint that uses a model.' },
    version: { type: 'string', pattern: NAME, description: 'Version to create or update. Default: the next free v{i} (v1, v2, ...).' },
    description: { type: 'string', description: "Deployment description. Default: the manifest's description." },
    labels: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Labels on the deployment and its versions.' },
    environment: { type: 'string', default: 'python3-12', description: 'Base environment of new versions; ubiops.yaml in the zip extends it with Node.js.' },
    instanceTypeGroup: { type: 'string', default: '2048 MB + 0.5 vCPU', description: "Instance type group name (memory for the models plus ~150 MB for Node)." },
    minimumInstances: { type: 'integer', minimum: 0, default: 0, description: 'Instances kept warm (0 scales to zero; the first request then waits for a cold start).' },
    maximumInstances: { type: 'integer', minimum: 1, default: 5 },
    maximumIdleTime: { type: 'integer', minimum: 10, maximum: 3600, default: 300, description: 'Seconds an idle instance lives.' },
    instanceProcesses: { type: 'integer', minimum: 1, default: 1, description: 'Processes per instance (each starts its own Node server).' },
    requestRetentionMode: { enum: ['none', 'metadata', 'full'], default: 'metadata', description: 'What UbiOps stores of each request; "full" keeps inputs such as photos.' },
    maxVersions: { type: 'integer', minimum: 1, maximum: 5, default: 5, description: 'UbiOps allows 5 versions per deployment; when this many exist, the oldest non-default one is deleted to make room.' },
    promote: { type: 'boolean', default: true, description: 'Make the new version the default once its test request succeeded.' },
    jsonFields: { type: 'array', items: { type: 'string' }, default: [], description: 'Fields UbiOps has no data type for (arrays of objects, null-only, mixed types) travel as JSON text in a string field.' },
    outputField: { type: 'string', default: 'output', description: 'Name of the single output field when the output schema is not an object.' },
    node: { type: 'integer', minimum: 20, default: 24, description: 'Node.js major version that ubiops.yaml installs from NodeSource.' },
    platform: { type: 'string', default: 'linux/amd64', description: 'OS/ARCH the bundle is built for (UbiOps runs x86-64 Linux).' },
    readyTimeoutSeconds: { type: 'integer', minimum: 1, default: 300, description: 'How long deployment.py waits for the Node server to load the models.' },
    buildTimeoutSeconds: { type: 'integer', minimum: 1, default: 1800, description: 'How long deploy waits for the UbiOps build.' },
    // Wins over retrySettings' entry of the same name: users set it for the test request and deployment.py before that one existed.
    requestTimeoutSeconds: { type: 'integer', minimum: 10, maximum: 3600, default: 300, description: 'Timeout of the test request (cold start included) and of deployment.py forwarding a request; also how long any one API call may take.' },
    pollIntervalMs: { type: 'integer', minimum: 1, default: 5000, description: 'Interval between build status polls.' },
    localCheck: { enum: ['run', 'structure'], default: 'run', description: '"run": before anything is uploaded, python3 unpacks the zip, imports deployment.py and answers the reference example. "structure": only the zip layout and specs.' },
    testRequest: { type: 'boolean', default: true, description: "Send the endpoint's reference example to the new version after the build (before it becomes the default)." },
    bucket: { type: 'string', default: 'default', description: "Bucket the test request's file fields are uploaded to (ubiops-file://<bucket>/mlx/...)." },
  },
} as const

/** targets.ubiops after defaults. */
export type UbiopsConfig = ConfigOf<typeof configSchema>

export const deploymentNameFor = (project: Project) =>
  project.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'mlx'

/** The endpoint the deployment serves: the configured one, else the first that runs a model. */
export function chosenEndpoint(project: Project, cfg: UbiopsConfig) {
  if (cfg.endpoint) {
    const ep = project.endpoints.find((e) => e.name === cfg.endpoint)
    if (!ep) {
      throw new MlxError('TARGET_CONFIG_INVALID', `targets.ubiops.endpoint: '${cfg.endpoint}' is not an endpoint of ${project.name} (endpoints: ${project.endpoints.map((e) => e.name).join(', ')}).`, {
        hint: 'name one of the endpoints declared under endpoints: in mlx.yaml.',
        file: project.manifestFile,
      })
    }
    return ep
  }
  return project.endpoints.find((e) => e.models.length > 0) ?? project.endpoints[0]!
}

export interface Settings {
  cfg: UbiopsConfig
  apiUrl: string
  project?: string
  deployment: string
}

/** Environment wins over mlx.yaml, which wins over the defaults. */
export function settings(ctx: Pick<TargetContext<UbiopsConfig>, 'config' | 'credentials' | 'project'>): Settings {
  const cfg = ctx.config
  return {
    cfg,
    apiUrl: (ctx.credentials.setting('UBIOPS_API_URL') ?? cfg.apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, ''),
    project: ctx.credentials.setting('UBIOPS_PROJECT') ?? cfg.project,
    deployment: cfg.deployment ?? deploymentNameFor(ctx.project),
  }
}

export function requireProject(s: Settings): string {
  if (!s.project) {
    throw new MlxError('TARGET_CONFIG_INVALID', 'no UbiOps project: set targets.ubiops.project in mlx.yaml or UBIOPS_PROJECT in the environment.', {
      hint: 'the project must exist already (UbiOps web app → Projects); mlx creates the deployment and its versions inside it.',
    })
  }
  return s.project
}
