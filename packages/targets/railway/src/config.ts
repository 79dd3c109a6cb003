/**
 * targets.railway in mlx.yaml: its JSON Schema (validated by core, defaults filled in) and the
 * settings a deploy runs with, after the environment (RAILWAY_*) has had its say.
 */
import { MlxError, retrySettings, type ConfigOf, type Credentials, type TargetContext } from '@mlx/core'
import { DEFAULT_API_URL, type RailwayToken } from './api.js'

export const RESTART_POLICIES = ['ON_FAILURE', 'ALWAYS', 'NEVER'] as const

/** A Railway reference variable: `${{ shared.NAME }}`, `${{ Postgres.DATABASE_URL }}`, ... */
export const REFERENCE = /^\$\{\{\s*[A-Za-z0-9_.-]+\s*\}\}$/

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    apiUrl: { type: 'string', pattern: '^https?://', description: `GraphQL endpoint. Env: RAILWAY_API_URL. Default: ${DEFAULT_API_URL}.` },
    project: { type: 'string', minLength: 1, description: 'Railway project name, found or created (account/workspace token). Default: the manifest name. Ignored with a project token, which names its own project.' },
    projectId: { type: 'string', minLength: 1, description: 'Railway project id (wins over `project`). Env: RAILWAY_PROJECT_ID.' },
    workspaceId: { type: 'string', minLength: 1, description: 'Workspace to list and create projects in (needed when the token sees several). Env: RAILWAY_WORKSPACE_ID.' },
    environment: { type: 'string', minLength: 1, default: 'production', description: 'Railway environment name (must exist; new projects get it as their default environment).' },
    service: { type: 'string', minLength: 1, maxLength: 63, description: 'Railway service name, found or created. Default: the manifest name.' },
    region: { type: 'string', description: 'Deployment region, e.g. us-west2 (default: the project default).' },
    replicas: { type: 'integer', minimum: 1, maximum: 50, description: 'Replicas (numReplicas; default: Railway default, 1).' },
    healthcheckPath: { type: 'string', pattern: '^/', default: '/readyz', description: 'Path Railway probes before it switches traffic: /readyz answers 200 once the models are loaded.' },
    healthcheckTimeout: { type: 'integer', minimum: 1, maximum: 3600, default: 300, description: 'Seconds Railway waits for the healthcheck (Railway default 300).' },
    restartPolicy: { type: 'string', enum: RESTART_POLICIES, default: 'ON_FAILURE', description: 'restartPolicyType.' },
    restartPolicyMaxRetries: { type: 'integer', minimum: 0, maximum: 100, default: 10, description: 'Restarts before Railway gives up (ON_FAILURE).' },
    privateImage: {
      type: 'boolean',
      default: false,
      description: 'Give Railway registry credentials to pull the image (Railway Pro). From MLX_REGISTRY_USER/MLX_REGISTRY_PASSWORD, GHCR_TOKEN (read:packages), or docker config; never GITHUB_TOKEN, which expires with the CI job.',
    },
    secrets: {
      description: 'Variables whose values stay in Railway: a list of names (each becomes ${{ shared.NAME }}) or NAME: "${{ ref }}" pairs. mlx sends references only, never a value.',
      oneOf: [
        { type: 'array', items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, uniqueItems: true },
        { type: 'object', propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, additionalProperties: { type: 'string', pattern: REFERENCE.source } },
      ],
      default: [],
    },
    deployTimeoutSeconds: { type: 'integer', minimum: 10, default: 900, description: 'How long to wait for the deployment to reach SUCCESS.' },
    healthTimeoutSeconds: { type: 'integer', minimum: 1, default: 180, description: 'How long to wait for the public domain to answer the health check (a new domain takes a while to resolve).' },
    pollIntervalMs: { type: 'integer', minimum: 10, default: 3000, description: 'Time between deployment status polls.' },
    logLines: { type: 'integer', minimum: 1, maximum: 5000, default: 40, description: 'Deploy log lines shown when a deployment fails or crashes.' },
    ...retrySettings,
  },
} as const

export type RailwayConfig = ConfigOf<typeof configSchema>

export interface Settings {
  cfg: RailwayConfig
  apiUrl: string
  projectName: string
  projectId?: string
  workspaceId?: string
  serviceName: string
  /** NAME → `${{ ref }}` */
  secrets: Record<string, string>
}

export function settings(ctx: Pick<TargetContext<RailwayConfig>, 'config' | 'credentials' | 'project'>): Settings {
  const cfg = ctx.config
  const env = ctx.credentials
  const secrets = Array.isArray(cfg.secrets) ? Object.fromEntries(cfg.secrets.map((n) => [n, `\${{ shared.${n} }}`])) : { ...(cfg.secrets ?? {}) }
  return {
    cfg,
    apiUrl: cfg.apiUrl ?? env.setting('RAILWAY_API_URL') ?? DEFAULT_API_URL,
    projectName: cfg.project ?? ctx.project.name,
    projectId: cfg.projectId ?? env.setting('RAILWAY_PROJECT_ID'),
    workspaceId: cfg.workspaceId ?? env.setting('RAILWAY_WORKSPACE_ID'),
    serviceName: cfg.service ?? ctx.project.name,
    secrets,
  }
}

/**
 * RAILWAY_TOKEN is a project token (header Project-Access-Token), RAILWAY_API_TOKEN an account or
 * workspace token (Authorization: Bearer): the same names and precedence as Railway's own CLI.
 */
export function findToken(env: Credentials): RailwayToken | undefined {
  const project = env.get('RAILWAY_TOKEN')
  if (project) return { kind: 'project', value: project, source: 'RAILWAY_TOKEN' }
  const account = env.get('RAILWAY_API_TOKEN')
  if (account) return { kind: 'account', value: account, source: 'RAILWAY_API_TOKEN' }
  return undefined
}

export function requireToken(env: Credentials): RailwayToken {
  const t = findToken(env)
  if (t) return t
  throw new MlxError('CREDENTIALS_MISSING', 'no Railway token: set RAILWAY_TOKEN (a project token) or RAILWAY_API_TOKEN (an account or workspace token).', {
    hint: 'create one in Railway (project settings → Tokens for a project token; account settings → Tokens otherwise); in GitHub Actions, store it as a repository secret.',
  })
}
