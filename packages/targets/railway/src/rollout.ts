/**
 * The Railway side of a deploy, once the image is in a registry: find (or create) the project and
 * service, point the service at the image, upsert variables, deploy, wait for SUCCESS, make sure
 * there is a public domain, and check the served health endpoint through it. Railway keeps the
 * previous deployment serving until the new one passes its healthcheck, so a failure here never
 * takes the running version down.
 */
import { ApiError, done, MlxError, networkReason, pending, type Deployment, type TargetContext } from '@mlx/core'
import { isLoopback } from '@mlx/target-docker'
import type { RailwayClient } from './api.js'
import type { RailwayConfig, Settings } from './config.js'
import * as op from './operations.js'

export interface Place {
  projectId: string
  projectName: string
  environmentId: string
  environmentName: string
  serviceId?: string
  serviceName: string
  /** What this run created (project, service, domain), for the log and the record. */
  created: string[]
}

/** What the rollout steps use of the target context. */
export type RunContext = Pick<TargetContext<RailwayConfig>, 'log' | 'signal' | 'waitUntil' | 'http'>

/** Where the last ready deployment says the service is, so status and rollback skip the lookups. */
export function recordedPlace(last: Deployment | undefined, s: Settings): Place | undefined {
  const x = last?.details
  if (!x?.serviceId) return undefined
  return {
    projectId: String(x.projectId),
    projectName: String(x.project ?? s.projectName),
    environmentId: String(x.environmentId),
    environmentName: String(x.environment ?? s.cfg.environment),
    serviceId: String(x.serviceId),
    serviceName: String(x.service ?? s.serviceName),
    created: [],
  }
}

/** What a record says about where it went, so the next status or rollback needs no lookup. */
export function placeDetails(place: Place, deploymentId: string): Record<string, unknown> {
  return {
    projectId: place.projectId,
    project: place.projectName,
    environmentId: place.environmentId,
    environment: place.environmentName,
    serviceId: place.serviceId,
    service: place.serviceName,
    deploymentId,
    ...(place.created.length ? { created: place.created } : {}),
  }
}

/**
 * Where the service lives. A project token names its own project and environment; an account
 * token finds the project by id or name, and creates it when `create` is set.
 */
export async function locate(c: RailwayClient, s: Settings, rc: Pick<RunContext, 'log'>, opts: { create: boolean; description?: string }): Promise<Place | undefined> {
  const created: string[] = []
  let project: op.ProjectInfo | undefined
  let environment: op.Named | undefined
  if (c.tokenKind === 'project') {
    const pt = await op.projectToken(c)
    if (s.projectId && s.projectId !== pt.project.id) {
      throw new MlxError('USAGE', `RAILWAY_TOKEN belongs to project ${pt.project.name} (${pt.project.id}), not to targets.railway.projectId ${s.projectId}.`, {
        hint: 'use a project token of that project, or remove projectId (a project token names its own project).',
      })
    }
    project = await op.getProject(c, pt.project.id)
    environment = pt.environment
    if (environment.name !== s.cfg.environment) rc.log.warn(`RAILWAY_TOKEN is scoped to environment '${environment.name}'; deploying there (targets.railway.environment says '${s.cfg.environment}').`)
  } else {
    if (s.projectId) project = await op.getProject(c, s.projectId)
    else {
      const matches = (await op.listProjects(c, s.workspaceId)).filter((p) => p.name === s.projectName)
      if (matches.length > 1) {
        throw new MlxError('USAGE', `${matches.length} Railway projects are named '${s.projectName}' (${matches.map((p) => p.id).join(', ')}).`, {
          hint: 'set targets.railway.projectId (or RAILWAY_PROJECT_ID) to the one to deploy to.',
        })
      }
      project = matches[0]
      if (!project) {
        if (!opts.create) return undefined
        project = await op.createProject(c, { name: s.projectName, description: opts.description, workspaceId: s.workspaceId, defaultEnvironmentName: s.cfg.environment })
        created.push(`project ${project.name}`)
        rc.log.info(`  created Railway project ${project.name} (${project.id})`)
      }
    }
    environment = project.environments.find((e) => e.name === s.cfg.environment)
    if (!environment) {
      throw new MlxError('TARGET_CONFIG_INVALID', `Railway project ${project.name} has no environment '${s.cfg.environment}' (it has: ${project.environments.map((e) => e.name).join(', ') || 'none'}).`, {
        hint: 'create it in Railway (project → Environments), or set targets.railway.environment to one of those.',
      })
    }
  }
  const service = project.services.find((x) => x.name === s.serviceName)
  return { projectId: project.id, projectName: project.name, environmentId: environment.id, environmentName: environment.name, serviceId: service?.id, serviceName: s.serviceName, created }
}

export async function ensureService(c: RailwayClient, place: Place, rc: Pick<RunContext, 'log'>): Promise<string> {
  if (place.serviceId) return place.serviceId
  const svc = await op.createService(c, { projectId: place.projectId, environmentId: place.environmentId, name: place.serviceName })
  place.serviceId = svc.id
  place.created.push(`service ${svc.name}`)
  rc.log.info(`  created Railway service ${svc.name} (${svc.id})`)
  return svc.id
}

export interface Configure {
  image: string
  registryCredentials?: { username: string; password: string }
  variables: Record<string, string>
}

/** Service source, healthcheck, restart policy and variables: everything the deploy will use. */
export async function configure(c: RailwayClient, s: Settings, place: Place, what: Configure): Promise<void> {
  const serviceId = place.serviceId!
  await op.updateServiceInstance(c, serviceId, place.environmentId, {
    source: { image: what.image },
    ...(what.registryCredentials ? { registryCredentials: what.registryCredentials } : {}),
    healthcheckPath: s.cfg.healthcheckPath,
    healthcheckTimeout: s.cfg.healthcheckTimeout,
    restartPolicyType: s.cfg.restartPolicy,
    restartPolicyMaxRetries: s.cfg.restartPolicyMaxRetries,
    ...(s.cfg.replicas ? { numReplicas: s.cfg.replicas } : {}),
    ...(s.cfg.region ? { region: s.cfg.region } : {}),
  })
  await op.upsertVariables(c, { projectId: place.projectId, environmentId: place.environmentId, serviceId, variables: what.variables })
}

const FAILED: readonly op.DeploymentStatus[] = ['FAILED', 'CRASHED', 'REMOVED', 'SKIPPED', 'NEEDS_APPROVAL']
const READY: readonly op.DeploymentStatus[] = ['SUCCESS', 'SLEEPING']

const WHY: Partial<Record<op.DeploymentStatus, string>> = {
  FAILED: 'failed',
  CRASHED: 'crashed',
  REMOVED: 'was removed (another deploy replaced it)',
  SKIPPED: 'was skipped by Railway',
  NEEDS_APPROVAL: 'is waiting for approval in the Railway dashboard',
}

/** Polls until SUCCESS; a failed, crashed or superseded deployment throws with its log tail. */
export function waitForDeployment(c: RailwayClient, s: Settings, id: string, rc: RunContext): Promise<op.DeploymentInfo> {
  return rc.waitUntil(
    `Railway deployment ${id}`,
    async () => {
      const d = await op.getDeployment(c, id)
      if (READY.includes(d.status)) return done(d)
      if (FAILED.includes(d.status)) {
        const tail = await logTail(c, id, s.cfg.logLines)
        throw new MlxError('DEPLOY_FAILED', `Railway deployment ${id} ${WHY[d.status] ?? d.status}.${tail ? ` Last deploy log lines:\n${tail}` : ' Railway returned no deploy logs.'}`, {
          hint:
            d.status === 'NEEDS_APPROVAL'
              ? 'approve it in the Railway dashboard, then run `mlx status --target railway`.'
              : 'the previous deployment (if any) keeps serving; fix the cause above and deploy again. `railway logs --deployment` shows the full log.',
        })
      }
      return pending(d.status)
    },
    {
      timeoutMs: s.cfg.deployTimeoutSeconds * 1000,
      intervalMs: s.cfg.pollIntervalMs,
      setting: 'targets.railway.deployTimeoutSeconds',
      hint: 'it keeps going in Railway: `mlx status --target railway` checks on it; raise targets.railway.deployTimeoutSeconds for slow starts.',
    },
  )
}

async function logTail(c: RailwayClient, id: string, lines: number): Promise<string> {
  try {
    const logs = await op.deploymentLogs(c, id, lines)
    return logs
      .slice(-lines)
      .map((l) => `  ${l.severity ? `[${l.severity}] ` : ''}${l.message}`)
      .join('\n')
  } catch {
    return '' // the failure itself matters more than its logs
  }
}

/** The service's public domain (a custom one if set), created when there is none. */
export async function ensureDomain(c: RailwayClient, place: Place, port: number, rc: Pick<RunContext, 'log'>): Promise<string> {
  const input = { projectId: place.projectId, environmentId: place.environmentId, serviceId: place.serviceId! }
  const { serviceDomains, customDomains } = await op.listDomains(c, input)
  const existing = customDomains[0] ?? serviceDomains[0]
  if (existing) return existing.domain
  const d = await op.createServiceDomain(c, { environmentId: place.environmentId, serviceId: place.serviceId!, targetPort: port })
  place.created.push(`domain ${d.domain}`)
  rc.log.info(`  created domain ${d.domain} → port ${port}`)
  return d.domain
}

/** Railway domains are served over HTTPS; a loopback host (a local stand-in) is plain HTTP, as docker treats registries. */
export function domainUrl(domain: string): string {
  return `${isLoopback(domain) ? 'http' : 'https'}://${domain}`
}

/**
 * GETs the health path through the public domain until it answers 200: Railway's own healthcheck
 * hits the container directly, this proves the domain routes to it.
 */
export function checkHealth(url: string, s: Settings, rc: RunContext): Promise<void> {
  const target = `${url}${s.cfg.healthcheckPath}`
  // One try per look: the poll is the retry, and a domain that does not resolve yet is a state, not an error.
  const probe = rc.http({ platform: 'Railway domain', timeoutMs: 10_000 })
  return rc.waitUntil(
    `GET ${target}`,
    async () => {
      try {
        const res = await probe.request({ path: target, retry: 'never' })
        return res.status === 200 ? done(undefined) : pending(`HTTP ${res.status}`)
      } catch (err) {
        if (rc.signal.aborted) throw err
        return pending(err instanceof ApiError ? `HTTP ${err.status}` : networkReason((err as Error).cause ?? err))
      }
    },
    {
      timeoutMs: s.cfg.healthTimeoutSeconds * 1000,
      intervalMs: Math.min(2000, s.cfg.pollIntervalMs),
      setting: 'targets.railway.healthTimeoutSeconds',
      hint: 'the deployment is live on Railway, but a new domain can take a few minutes to resolve: try the URL again shortly, or raise targets.railway.healthTimeoutSeconds.',
    },
  )
}

/**
 * deploymentRollback on `id` (only when Railway says canRollback), then waits for the deployment
 * that serves again. Railway answers a Boolean, not the new deployment: mlx watches the service's
 * deployment list for the one that appears (or for `id` itself going back to SUCCESS). (unverified:
 * whether Railway makes a new deployment record or reactivates the old one; both are handled.)
 */
export async function rollbackTo(c: RailwayClient, s: Settings, place: Place, id: string, rc: RunContext): Promise<op.DeploymentInfo> {
  const input = { projectId: place.projectId, environmentId: place.environmentId, serviceId: place.serviceId! }
  const before = new Set((await op.listDeployments(c, input, 10)).map((d) => d.id))
  await op.rollbackDeployment(c, id)
  const serving = await rc.waitUntil<{ fresh: string } | { self: op.DeploymentInfo }>(
    `Railway rollback to ${id}`,
    async () => {
      const list = await op.listDeployments(c, input, 10)
      const fresh = list.find((d) => !before.has(d.id))
      if (fresh) return done({ fresh: fresh.id })
      const self = list.find((d) => d.id === id)
      if (self && READY.includes(self.status)) return done({ self })
      return pending(self?.status)
    },
    {
      timeoutMs: s.cfg.deployTimeoutSeconds * 1000,
      intervalMs: s.cfg.pollIntervalMs,
      setting: 'targets.railway.deployTimeoutSeconds',
      hint: 'Railway accepted the rollback, but no deployment became active: `mlx status --target railway` and the Railway dashboard show where it stands.',
    },
  )
  return 'self' in serving ? serving.self : waitForDeployment(c, s, serving.fresh, rc)
}
