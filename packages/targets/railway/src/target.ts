import { copyFile, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError, type Artifact, type Deployment, type Target, type TargetContext } from '@mlx/core'
import { findCredentials, imageBundlePlatform, imageContext, packageImageBuildContext, packageImageIfBaseReadable, pushArtifact, requireBuiltImage, type ImageError } from '@mlx/target-docker'
import { RailwayClient } from './api.js'
import { configSchema, findToken, requireToken, settings, type Settings } from './config.js'
import { renderProcfile, renderRailwayJson } from './files.js'
import * as op from './operations.js'
import { checkHealth, configure, domainUrl, ensureDomain, ensureService, locate, rollbackTo, waitForDeployment, type Place, type RunContext } from './rollout.js'

const NAME = 'railway'

function client(ctx: TargetContext, s: Settings): RailwayClient {
  return new RailwayClient({
    url: s.apiUrl,
    token: requireToken(ctx.credentials),
    signal: ctx.signal,
    retries: s.cfg.retries,
    retryBaseMs: s.cfg.retryBaseMs,
    onRetry: (r) => ctx.log.info(`  Railway ${r.operation}: ${r.reason}; retry ${r.attempt} in ${(r.waitMs / 1000).toFixed(1)}s`),
  })
}

/** The docker settings (targets.docker + flags) the image is built and pushed with. */
function dockerSide(ctx: TargetContext) {
  const ictx = imageContext(ctx)
  const flag = typeof ctx.flags.registry === 'string' && ctx.flags.registry ? ctx.flags.registry : undefined
  const owner = ctx.credentials.get('GITHUB_REPOSITORY_OWNER')
  const registry = flag ?? (ictx.config.registry as string | undefined) ?? (owner ? `ghcr.io/${owner.toLowerCase()}` : undefined)
  return { ictx, registry, port: Number(ictx.config.port ?? 8080) }
}

/** PORT, the manifest's env, then secrets as Railway references (values never leave Railway). */
export function variablesFor(ctx: TargetContext, s: Settings, port: number): Record<string, string> {
  const clash = Object.keys(s.secrets).filter((k) => k in ctx.project.env || k === 'PORT')
  if (clash.length) {
    throw new MlxError('TARGET_CONFIG_INVALID', `targets.railway.secrets names ${clash.join(', ')}, which ${clash.length === 1 ? 'is' : 'are'} also set by env: in mlx.yaml (or is PORT).`, {
      hint: 'a variable is either a plain value in env: or a secret reference, not both.',
      file: ctx.project.manifestFile,
    })
  }
  return { ...ctx.project.env, PORT: String(port), ...s.secrets }
}

/** Registry credentials Railway pulls a private image with; only a long-lived token will do. */
async function pullCredentials(ctx: TargetContext, s: Settings, image: string) {
  if (!s.cfg.privateImage) return undefined
  const host = image.slice(0, image.indexOf('/'))
  const found = await findCredentials(host, ctx.credentials, { destination: true })
  if (!found) {
    throw new MlxError('CREDENTIALS_MISSING', `targets.railway.privateImage is set, but there are no credentials for ${host} to give Railway.`, {
      hint: host === 'ghcr.io' ? 'set GHCR_TOKEN to a personal access token with read:packages (or make the GHCR package public and drop privateImage).' : 'set MLX_REGISTRY_USER and MLX_REGISTRY_PASSWORD (a read-only token is enough).',
    })
  }
  if (found.source === 'GITHUB_TOKEN') {
    throw new MlxError('CREDENTIALS_MISSING', 'Railway would pull the private image with GITHUB_TOKEN, which expires when the CI job ends: restarts and rollbacks would then fail to pull.', {
      hint: 'store a personal access token with read:packages as GHCR_TOKEN (repository secret), or make the GHCR package public and drop privateImage.',
    })
  }
  if (found.kind === 'identity-token') {
    throw new MlxError('CREDENTIALS_MISSING', `the credentials for ${host} (from ${found.source}) are an identity token, which only a token service accepts: Railway needs a user name and a password or access token to pull.`, {
      hint: 'set MLX_REGISTRY_USER and MLX_REGISTRY_PASSWORD to a read-only token for the registry.',
    })
  }
  return { username: found.username, password: found.password }
}

function record(ctx: TargetContext, place: Place, d: op.DeploymentInfo, fields: { version: string; digest?: string; url: string; domain: string; image?: string; extra?: Record<string, unknown> }): Deployment {
  return {
    target: NAME,
    env: ctx.env,
    url: fields.url,
    version: fields.version,
    digest: fields.digest,
    revision: d.id,
    time: new Date().toISOString(),
    status: 'ready',
    details: {
      projectId: place.projectId,
      project: place.projectName,
      environmentId: place.environmentId,
      environment: place.environmentName,
      serviceId: place.serviceId,
      service: place.serviceName,
      deploymentId: d.id,
      domain: fields.domain,
      ...(fields.image ? { image: fields.image } : {}),
      ...(place.created.length ? { created: place.created } : {}),
      ...fields.extra,
    },
  }
}

/** Where the recorded deployments say the service is, so status/rollback skip the lookups. */
function recordedPlace(ctx: TargetContext, s: Settings): Place | undefined {
  const last = ctx.history.list(NAME).filter((d) => d.status === 'ready' && (ctx.env === undefined || d.env === ctx.env) && d.details?.serviceId).at(-1)
  const x = last?.details
  if (!x) return undefined
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

/**
 * Railway, by image: the docker target's image is pushed to GHCR (or any registry), then the
 * public GraphQL API points a service at it, sets variables, deploys and waits for SUCCESS.
 * `mlx package` also writes railway.json + Procfile so `railway up` works from the app folder.
 */
export const railwayTarget: Target = {
  name: NAME,
  description: 'Railway: the image pushed to GHCR (or any registry) and deployed through Railway’s GraphQL API, with a domain.',
  configSchema,
  // The image's platform (--platform, else targets.docker.platform, else linux/amd64), so the bundle's native modules match it.
  bundlePlatform: (_config, flags, project) => imageBundlePlatform({}, flags, project),

  async package(bundle, ctx): Promise<Artifact> {
    const s = settings(ctx)
    const imageDir = path.join(ctx.outDir, 'image')
    // What `railway up` needs (Dockerfile, context, railway.json) does not need the base's bytes.
    const { image, imageError } = await packageImageIfBaseReadable(bundle, ctx, 'app/ for `railway up` is written with an unpinned base', { outDir: imageDir })
    const built = image ? { context: image.paths.context!, dockerfile: image.paths.dockerfile! } : await packageImageBuildContext(bundle, ctx, { outDir: imageDir })
    // The bundle (the image's build context) becomes the folder `railway up` uploads.
    const app = path.join(ctx.outDir, 'app')
    await rm(app, { recursive: true, force: true })
    await rename(built.context, app)
    const dockerfile = (await readFile(built.dockerfile, 'utf8')).replace('-f Dockerfile context', '.')
    const files = { railwayJson: path.join(app, 'railway.json'), procfile: path.join(app, 'Procfile'), dockerfile: path.join(app, 'Dockerfile') }
    await writeFile(files.railwayJson, renderRailwayJson(s.cfg))
    await writeFile(files.procfile, renderProcfile())
    await writeFile(files.dockerfile, dockerfile)
    await copyFile(files.railwayJson, path.join(ctx.outDir, 'railway.json'))
    return {
      target: NAME,
      version: bundle.info.version,
      digest: image?.digest,
      paths: { ...(image ? { layout: image.paths.layout! } : {}), app, ...files },
      details: { ...image?.details, ...(imageError ? { imageError } : {}) },
    }
  },

  async plan(artifact, ctx) {
    const s = settings(ctx)
    const { registry, port } = dockerSide(ctx)
    const token = findToken(ctx.credentials)
    const imageError = artifact.details?.imageError as ImageError | undefined
    const image = registry ? `${registry}/${ctx.project.name}@${artifact.digest}` : `(no registry: pass --registry or set targets.docker.registry)@${artifact.digest}`
    const where = token?.kind === 'project' ? 'the project and environment of RAILWAY_TOKEN' : s.projectId ? `project ${s.projectId}` : `project '${s.projectName}' (created if missing)`
    const vars = Object.keys(variablesFor(ctx, s, port))
    return {
      target: NAME,
      steps: [
        { action: 'push', detail: imageError ? `none: the image could not be built (${imageError.message.split('\n')[0]}); deploy will stop here` : `image ${image} (only blobs the registry lacks)` },
        { action: 'locate', detail: `${where}, environment '${s.cfg.environment}', service '${s.serviceName}' (created if missing) via ${s.apiUrl}` },
        { action: 'configure', detail: `serviceInstanceUpdate: source image by digest, healthcheck ${s.cfg.healthcheckPath} (${s.cfg.healthcheckTimeout}s), restart ${s.cfg.restartPolicy}${s.cfg.privateImage ? ', registry credentials' : ''}` },
        { action: 'variables', detail: `variableCollectionUpsert ${vars.join(', ')}${Object.keys(s.secrets).length ? ` (${Object.keys(s.secrets).join(', ')} as references)` : ''}` },
        { action: 'deploy', detail: `serviceInstanceDeployV2, then wait for SUCCESS (up to ${s.cfg.deployTimeoutSeconds}s; the running deployment serves until then)` },
        { action: 'domain', detail: `the service domain, created on port ${port} if there is none` },
        { action: 'check', detail: `GET https://<domain>${s.cfg.healthcheckPath} answers 200` },
      ],
    }
  },

  async deploy(artifact, ctx): Promise<Deployment> {
    requireBuiltImage(artifact.details?.imageError as ImageError | undefined)
    const s = settings(ctx)
    const { ictx, registry, port } = dockerSide(ctx)
    const variables = variablesFor(ctx, s, port)
    const c = client(ctx, s)
    const rc: RunContext = { log: ctx.log, signal: ctx.signal }
    // Local checks, then Railway: a bad token or project fails in a second, not after a long push.
    const registryCredentials = registry ? await pullCredentials(ctx, s, registry) : undefined
    const place = (await ctx.log.step('Finding the Railway project', () => locate(c, s, rc, { create: true, description: ctx.project.description?.trim() })))!
    const pushed = await pushArtifact(artifact, ictx, { registry })
    await ctx.log.step(`Configuring service ${place.serviceName} in ${place.projectName}/${place.environmentName}`, async () => {
      await ensureService(c, place, rc)
      await configure(c, s, place, { image: pushed.ref, registryCredentials, variables })
    })
    const id = await op.deployServiceInstance(c, place.serviceId!, place.environmentId)
    ctx.log.info(`  Railway deployment ${id}`)
    const d = await ctx.log.step(`Waiting for Railway deployment ${id}`, () => waitForDeployment(c, s, id, rc))
    const domain = await ensureDomain(c, place, port, rc)
    const url = domainUrl(domain)
    await ctx.log.step(`Checking ${url}${s.cfg.healthcheckPath}`, () => checkHealth(url, s, rc))
    return record(ctx, place, d, { version: artifact.version, digest: pushed.digest, url, domain, image: pushed.ref, extra: { tags: pushed.tags, ...(c.retried ? { apiRetries: c.retried } : {}) } })
  },

  async status(ctx) {
    const last = ctx.history.latest(NAME, ctx.env)
    if (!last?.revision || last.status !== 'ready' || !findToken(ctx.credentials)) return last
    const s = settings(ctx)
    try {
      const d = await op.getDeployment(client(ctx, s), last.revision)
      const status: Deployment['status'] = d.status === 'SUCCESS' || d.status === 'SLEEPING' ? 'ready' : d.status === 'FAILED' || d.status === 'CRASHED' ? 'failed' : d.status === 'REMOVED' ? 'stopped' : 'unknown'
      return { ...last, status, details: { ...last.details, railwayStatus: d.status } }
    } catch {
      return { ...last, status: 'unknown' }
    }
  },

  async rollback(to, ctx): Promise<Deployment> {
    const s = settings(ctx)
    const c = client(ctx, s)
    const rc: RunContext = { log: ctx.log, signal: ctx.signal }
    const place = recordedPlace(ctx, s) ?? (await locate(c, s, rc, { create: false }))
    if (!place?.serviceId) {
      throw new MlxError('USAGE', `no Railway service '${s.serviceName}' to roll back.`, { hint: 'deploy it first with `mlx deploy --target railway`.' })
    }
    const input = { projectId: place.projectId, environmentId: place.environmentId, serviceId: place.serviceId }
    const list = await op.listDeployments(c, input, 20)
    const current = list.find((d) => d.status === 'SUCCESS' || d.status === 'SLEEPING')
    const asked = typeof ctx.flags.to === 'string' ? ctx.flags.to : undefined
    // --to is a recorded version/digest/revision (resolved by the CLI), or a Railway deployment id.
    // Railway lists newest first: the default is the newest rollback-able one older than the current.
    const older = current ? list.slice(list.indexOf(current) + 1) : list
    const id = to?.revision ?? asked ?? older.find((d) => d.canRollback)?.id
    if (!id) {
      throw new MlxError('USAGE', 'Railway lists no earlier deployment of this service that can be rolled back to.', {
        hint: '`mlx status --target railway --history` lists what mlx deployed; redeploy an earlier version with `mlx deploy` from that commit.',
      })
    }
    if (current && id === current.id) throw new MlxError('USAGE', `Railway deployment ${id} is the one serving now.`, { hint: 'pick an earlier one from `mlx status --target railway --history`.' })
    const info = list.find((d) => d.id === id) ?? (await op.getDeployment(c, id))
    if (!info.canRollback) {
      throw new MlxError('USAGE', `Railway does not allow rolling back to deployment ${id} (canRollback is false: e.g. it never succeeded, or it is older than the plan keeps).`, {
        hint: 'redeploy that version with `mlx deploy --target railway` from its commit instead.',
      })
    }
    const known = to ?? ctx.history.list(NAME).filter((d) => d.revision === id).at(-1)
    const d = await ctx.log.step(`Rolling back ${place.serviceName} to Railway deployment ${id}`, () => rollbackTo(c, s, place, id, rc))
    const port = dockerSide(ctx).port
    const domain = await ensureDomain(c, place, port, rc)
    const url = domainUrl(domain)
    await ctx.log.step(`Checking ${url}${s.cfg.healthcheckPath}`, () => checkHealth(url, s, rc))
    return record(ctx, place, d, {
      version: known?.version ?? 'unknown',
      digest: known?.digest,
      url,
      domain,
      image: known?.details?.image as string | undefined,
      extra: { rolledBackTo: id },
    })
  },
}
