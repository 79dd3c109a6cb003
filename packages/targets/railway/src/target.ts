import { copyFile, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { defineTarget, MlxError, type Deployment, type TargetContext } from '@mlx/core'
import { dockerConfig, dockerImages } from '@mlx/target-docker'
import { RailwayClient } from './api.js'
import { checkApiKey } from './api-key.js'
import { configSchema, findToken, requireToken, settings, type RailwayConfig, type Settings } from './config.js'
import { renderProcfile, renderRailwayJson } from './files.js'
import * as op from './operations.js'
import { pullCredentials } from './pull-credentials.js'
import { checkHealth, configure, domainUrl, ensureDomain, ensureService, locate, placeDetails, recordedPlace, rollbackTo, waitForDeployment } from './rollout.js'
import { variablesFor } from './variables.js'

const NAME = 'railway'

const client = (ctx: TargetContext<RailwayConfig>, s: Settings) => new RailwayClient(ctx, { url: s.apiUrl, token: requireToken(ctx.credentials) })

/** The container port: the image's, or targets.docker.port when there is no image at hand (rollback). */
const portOf = (ctx: TargetContext<RailwayConfig>) => ctx.image?.port ?? dockerConfig(ctx.project).port

/** Where core will push the image (--registry, targets.docker.registry, ghcr.io/$GITHUB_REPOSITORY_OWNER). */
const repositoryOf = (ctx: TargetContext<RailwayConfig>) => dockerImages.repository({ project: ctx.project, flags: ctx.flags, credentials: ctx.credentials })

/**
 * Railway, by image: core pushes the image to GHCR (or any registry), then the public GraphQL
 * API points a service at it, sets variables, deploys and waits for SUCCESS. `mlx package` also
 * writes railway.json + Procfile so `railway up` works from the app folder.
 */
export const railwayTarget = defineTarget({
  name: NAME,
  description: 'Railway: the image pushed to GHCR (or any registry) and deployed through Railway’s GraphQL API, with a domain.',
  configSchema,
  image: {},

  async package(bundle, ctx) {
    // server.auth: the key by reference, the healthcheck public; before anything is written.
    checkApiKey(ctx.project, settings(ctx))
    const image = ctx.image!
    // The image's build context becomes the folder `railway up` uploads; it is written even when
    // the base could not be read, since Railway builds the Dockerfile itself.
    const app = path.join(ctx.outDir, 'app')
    await rm(app, { recursive: true, force: true })
    await rename(image.files.context, app)
    const dockerfile = (await readFile(image.files.dockerfile, 'utf8')).replace('-f Dockerfile context', '.')
    const files = { railwayJson: path.join(app, 'railway.json'), procfile: path.join(app, 'Procfile'), dockerfile: path.join(app, 'Dockerfile') }
    await writeFile(files.railwayJson, renderRailwayJson(ctx.config))
    await writeFile(files.procfile, renderProcfile())
    await writeFile(files.dockerfile, dockerfile)
    await copyFile(files.railwayJson, path.join(ctx.outDir, 'railway.json'))
    return {
      target: NAME,
      version: bundle.info.version,
      digest: image.built?.digest,
      paths: { ...(image.built ? { layout: image.built.paths.layout } : {}), app, ...files },
    }
  },

  async plan(artifact, ctx) {
    const s = settings(ctx)
    checkApiKey(ctx.project, s)
    const port = portOf(ctx)
    const token = findToken(ctx.credentials)
    const unavailable = ctx.image?.unavailable ?? artifact.image?.unavailable
    const repo = repositoryOf(ctx)
    const image = `${repo ?? '(no registry: pass --registry or set targets.docker.registry)'}@${artifact.digest}`
    const where = token?.kind === 'project' ? 'the project and environment of RAILWAY_TOKEN' : s.projectId ? `project ${s.projectId}` : `project '${s.projectName}' (created if missing)`
    const vars = Object.keys(variablesFor(ctx, s, port))
    return {
      target: NAME,
      steps: [
        { action: 'push', detail: unavailable ? `none: the image could not be built (${unavailable.message.split('\n')[0]}); deploy will stop here` : `image ${image} (only blobs the registry lacks)` },
        { action: 'locate', detail: `${where}, environment '${s.cfg.environment}', service '${s.serviceName}' (created if missing) via ${s.apiUrl}` },
        { action: 'configure', detail: `serviceInstanceUpdate: source image by digest, healthcheck ${s.cfg.healthcheckPath} (${s.cfg.healthcheckTimeout}s), restart ${s.cfg.restartPolicy}${s.cfg.privateImage ? ', registry credentials' : ''}` },
        { action: 'variables', detail: `variableCollectionUpsert ${vars.join(', ')}${Object.keys(s.secrets).length ? ` (${Object.keys(s.secrets).join(', ')} as references)` : ''}` },
        { action: 'deploy', detail: `serviceInstanceDeployV2, then wait for SUCCESS (up to ${s.cfg.deployTimeoutSeconds}s; the running deployment serves until then)` },
        { action: 'domain', detail: `the service domain, created on port ${port} if there is none` },
        { action: 'check', detail: `GET https://<domain>${s.cfg.healthcheckPath} answers 200` },
      ],
    }
  },

  // Local checks, then Railway, before the push: a bad token or project fails in a second, not after a long push.
  async preflight(_artifact, ctx) {
    const s = settings(ctx)
    variablesFor(ctx, s, portOf(ctx))
    const repo = repositoryOf(ctx)
    if (repo) await pullCredentials(ctx, s, repo)
    await ctx.log.step('Checking the Railway token and project', () => locate(client(ctx, s), s, ctx, { create: false }))
  },

  async deploy(artifact, ctx): Promise<Deployment> {
    const s = settings(ctx)
    const pushed = ctx.image!.pushed!
    const port = portOf(ctx)
    const variables = variablesFor(ctx, s, port)
    const registryCredentials = await pullCredentials(ctx, s, pushed.image)
    const c = client(ctx, s)
    const place = (await ctx.log.step('Finding the Railway project', () => locate(c, s, ctx, { create: true, description: ctx.project.description?.trim() })))!
    await ctx.log.step(`Configuring service ${place.serviceName} in ${place.projectName}/${place.environmentName}`, async () => {
      await ensureService(c, place, ctx)
      await configure(c, s, place, { image: pushed.ref, registryCredentials, variables })
    })
    const id = await op.deployServiceInstance(c, place.serviceId!, place.environmentId)
    ctx.log.info(`  Railway deployment ${id}`)
    const d = await ctx.log.step(`Waiting for Railway deployment ${id}`, () => waitForDeployment(c, s, id, ctx))
    const domain = await ensureDomain(c, place, port, ctx)
    const url = domainUrl(domain)
    await ctx.log.step(`Checking ${url}${s.cfg.healthcheckPath}`, () => checkHealth(url, s, ctx))
    return ctx.record({
      url,
      version: artifact.version,
      digest: pushed.digest,
      revision: d.id,
      details: { ...placeDetails(place, d.id), domain, image: pushed.ref, tags: pushed.tags, ...(c.retried ? { apiRetries: c.retried } : {}) },
    })
  },

  async status(ctx) {
    const last = ctx.history.latest()
    if (!last?.revision || last.status !== 'ready' || !findToken(ctx.credentials)) return last
    try {
      const d = await op.getDeployment(client(ctx, settings(ctx)), last.revision)
      const status: Deployment['status'] = d.status === 'SUCCESS' || d.status === 'SLEEPING' ? 'ready' : d.status === 'FAILED' || d.status === 'CRASHED' ? 'failed' : d.status === 'REMOVED' ? 'stopped' : 'unknown'
      return { ...last, status, details: { ...last.details, railwayStatus: d.status } }
    } catch {
      return { ...last, status: 'unknown' }
    }
  },

  async rollback(to, ctx): Promise<Deployment> {
    const s = settings(ctx)
    const c = client(ctx, s)
    const place = recordedPlace(ctx.history.lastReady(), s) ?? (await locate(c, s, ctx, { create: false }))
    if (!place?.serviceId) {
      throw new MlxError('USAGE', `no Railway service '${s.serviceName}' to roll back.`, { hint: 'deploy it first with `mlx deploy --target railway`.' })
    }
    const input = { projectId: place.projectId, environmentId: place.environmentId, serviceId: place.serviceId }
    const list = await op.listDeployments(c, input, 20)
    const current = list.find((d) => d.status === 'SUCCESS' || d.status === 'SLEEPING')
    // A --to that mlx never recorded is a Railway deployment id. Railway lists newest first: with
    // neither, the newest rollback-able one older than the current.
    const older = current ? list.slice(list.indexOf(current) + 1) : list
    const id = to.recorded?.revision ?? to.ref ?? older.find((d) => d.canRollback)?.id
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
    const known = to.recorded ?? ctx.history.find(id)
    const d = await ctx.log.step(`Rolling back ${place.serviceName} to Railway deployment ${id}`, () => rollbackTo(c, s, place, id, ctx))
    const domain = await ensureDomain(c, place, portOf(ctx), ctx)
    const url = domainUrl(domain)
    await ctx.log.step(`Checking ${url}${s.cfg.healthcheckPath}`, () => checkHealth(url, s, ctx))
    const image = known?.details?.image
    return ctx.record({
      url,
      version: known?.version ?? 'unknown',
      digest: known?.digest,
      revision: d.id,
      details: { ...placeDetails(place, d.id), domain, ...(typeof image === 'string' ? { image } : {}), rolledBackTo: id },
    })
  },
})
