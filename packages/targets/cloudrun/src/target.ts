import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError, type Artifact, type Deployment, type PlanStep, type Target, type TargetContext } from '@mlx/core'
import { imageBundlePlatform, imageContext, packageImageIfBaseReadable, parseDestination, pushArtifact, requireBuiltImage, versionTag, type ImageError } from '@mlx/target-docker'
import { apiError, apiMessage, CloudRunApi, conditionState, trafficType, type IamPolicy, type RunRevision, type RunService } from './api.js'
import { applicationDefault, type Adc } from './auth.js'
import { configSchema, registryFor, resolveSettings, type CloudRunConfig, type Resolved } from './config.js'
import { diffService, formatChange } from './diff.js'
import { knativeService, LATEST, serviceSpec, type ServiceSpec, type TrafficTarget } from './spec.js'
import { stringify as toYaml } from 'yaml'

const PROJECT_PLACEHOLDER = 'PROJECT_ID'
const INVOKER = 'roles/run.invoker'
const PUBLIC = 'allUsers'

interface Details {
  /** Absent when the base image could not be read at package time (see imageError). */
  image?: Artifact
  imageError?: ImageError
  service: string
  region: string
  project?: string
  modelDigest: string
}

const shortName = (resource: string | undefined) => resource?.split('/').pop() || undefined
const names = (project: string, r: Resolved) => {
  const parent = `projects/${project}/locations/${r.region}`
  return { parent, name: `${parent}/services/${r.service}` }
}

/**
 * REGISTRY/REPO@sha256:… for the image as it will be (or was) pushed: the digest is known before
 * the push. Without a built image (no base at package time), REGISTRY/REPO:VERSION.
 */
function imageRef(ctx: TargetContext, r: Resolved, project: string, digest: string | undefined): string {
  const registry = registryFor(ctx, r, project)
  try {
    const d = parseDestination(registry, ctx.project.name)
    return digest ? `${d.registry}/${d.repository}@${digest}` : `${d.registry}/${d.repository}:${versionTag(ctx.project.version)}`
  } catch (err) {
    throw new MlxError('USAGE', `targets.cloudrun.registry: ${(err as Error).message}`, { hint: 'the form is HOST[:PORT]/NAMESPACE; leave it unset to push to REGION-docker.pkg.dev/PROJECT/REPOSITORY.' })
  }
}

function desiredSpec(ctx: TargetContext, r: Resolved, project: string, a: Artifact, image?: string): ServiceSpec {
  const d = a.details as unknown as Details
  return serviceSpec({ cfg: r.cfg, image: image ?? imageRef(ctx, r, project, a.digest), projectName: ctx.project.name, version: a.version, modelDigest: d.modelDigest })
}

async function writeSpecs(ctx: TargetContext, r: Resolved, project: string, spec: ServiceSpec) {
  await mkdir(ctx.outDir, { recursive: true })
  const json = path.join(ctx.outDir, 'service.json')
  const yaml = path.join(ctx.outDir, 'service.yaml')
  await writeFile(json, JSON.stringify({ name: names(project, r).name, ...spec }, null, 2) + '\n')
  const header = [
    `# Cloud Run service ${r.service} in ${r.region}, written by mlx (Knative serving.knative.dev/v1 form).`,
    `# gcloud run services replace ${path.basename(yaml)} --region ${r.region}${project === PROJECT_PLACEHOLDER ? ' --project YOUR_PROJECT' : ` --project ${project}`}`,
    ...(project === PROJECT_PLACEHOLDER ? [`# ${PROJECT_PLACEHOLDER} is filled in by \`mlx deploy\` from Application Default Credentials, or set targets.cloudrun.project.`] : []),
    ...(r.cfg.allowUnauthenticated ? [`# Public access is an IAM grant, not part of this file: gcloud run services add-iam-policy-binding ${r.service} --region ${r.region} --member allUsers --role ${INVOKER}`] : []),
  ]
  await writeFile(yaml, `${header.join('\n')}\n${toYaml(knativeService(spec, r.service, r.cfg))}`)
  return { json, yaml }
}

/** The live traffic split as the API takes it back (read-back objects carry empty defaults). */
const trafficOf = (svc: RunService): TrafficTarget[] =>
  (svc.traffic ?? []).map((t) => ({ type: trafficType(t.type) as TrafficTarget['type'], ...(t.revision ? { revision: t.revision } : {}), percent: t.percent ?? 0, ...(t.tag ? { tag: t.tag } : {}) }))

const isLatestOnly = (traffic: RunService['traffic']) => {
  const t = (traffic ?? []).filter((x) => (x.percent ?? 0) > 0)
  return t.length === 0 || (t.length === 1 && trafficType(t[0]!.type) === 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST')
}

/** The revision that answers requests now: the one with most traffic, else the latest ready one. */
function servingRevision(svc: RunService): string | undefined {
  const statuses = [...(svc.trafficStatuses ?? [])].filter((s) => (s.percent ?? 0) > 0).sort((a, b) => (b.percent ?? 0) - (a.percent ?? 0))
  const top = statuses[0]
  if (top && trafficType(top.type) === 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION' && top.revision) return shortName(top.revision)
  return shortName(svc.latestReadyRevision)
}

const revisionReady = (rev: RunRevision) => (rev.conditions ?? []).some((c) => c.type === 'Ready' && conditionState(c.state) === 'CONDITION_SUCCEEDED')
const createdAt = (rev: RunRevision) => Number(rev.createTime?.seconds ?? 0)

/** Resolves when `run` does, or rejects after the ready timeout or on abort. */
async function within<T>(ctx: TargetContext, cfg: CloudRunConfig, what: string, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new MlxError('DEPLOY_FAILED', `${what} did not finish within ${cfg.readyTimeoutSeconds}s.`, {
            hint: 'Cloud Run keeps working on it: `mlx status --target cloudrun` shows where it stands; raise targets.cloudrun.readyTimeoutSeconds for slow model loads.',
          }),
        ),
      cfg.readyTimeoutSeconds * 1000,
    )
    ctx.signal.addEventListener('abort', () => reject(new MlxError('DEPLOY_FAILED', `${what}: interrupted.`, { hint: 'Cloud Run carries on with the operation; `mlx status --target cloudrun` shows the result.' })), { once: true })
  })
  try {
    return await Promise.race([run(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

interface Session {
  adc: Adc
  api: CloudRunApi
  r: Resolved
  project: string
  parent: string
  name: string
}

async function session(ctx: TargetContext): Promise<Session> {
  const r = resolveSettings(ctx)
  const adc = await applicationDefault(r.project)
  const api = new CloudRunApi({
    auth: adc.auth,
    apiEndpoint: r.cfg.apiEndpoint,
    retries: r.cfg.retries,
    retryBaseMs: r.cfg.retryBaseMs,
    signal: ctx.signal,
    onRetry: (what, ms) => ctx.log.info(`  ${what}: throttled or unavailable, retrying in ${(ms / 1000).toFixed(1)}s`),
  })
  return { adc, api, r, project: adc.project, ...names(adc.project, r) }
}

/**
 * Waits for an operation, then reads the service back: done only when the terminal condition
 * succeeded and the latest created revision is the latest ready one. A failed revision never
 * receives traffic, so the message is reported and the serving revision is left as it was.
 */
async function settle(s: Session, ctx: TargetContext, what: string, op: () => Promise<unknown>, opts: { newRevision: boolean } = { newRevision: true }): Promise<RunService> {
  let opError: unknown
  await within(ctx, s.r.cfg, what, () => op().catch((err: unknown) => void (opError = err)))
  const deadline = Date.now() + s.r.cfg.readyTimeoutSeconds * 1000
  for (;;) {
    const svc = await s.api.getService(s.name).catch((err: unknown) => {
      throw apiError(`reading ${s.name} back`, err, 'run the deploy again; nothing was rolled back.')
    })
    if (!svc) throw new MlxError('DEPLOY_FAILED', `${what}: the service ${s.name} disappeared.`, { hint: 'someone deleted it meanwhile; deploy again.' })
    const cond = svc.terminalCondition
    const state = conditionState(cond?.state ?? undefined)
    if (svc.reconciling && !opError && state !== 'CONDITION_FAILED' && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 2000))
      continue
    }
    const created = shortName(svc.latestCreatedRevision)
    const ready = shortName(svc.latestReadyRevision)
    // A traffic move creates no revision; an earlier failed one may stay the latest created.
    if (state === 'CONDITION_SUCCEEDED' && (created === ready || !opts.newRevision) && !opError) return svc
    const why = cond?.message || (opError ? apiMessage(opError) : `state ${state ?? 'unknown'}`)
    const serving = servingRevision(svc)
    throw new MlxError(
      'DEPLOY_FAILED',
      `${what}: Cloud Run did not make revision ${created ?? '(none)'} ready: ${why}\n${serving ? `Revision ${serving} keeps serving; traffic was not moved.` : 'No revision of this service is serving.'}`,
      {
        hint: `read the revision's logs: gcloud run revisions logs read ${created ?? 'REVISION'} --region ${s.r.region} --project ${s.project} (a server that does not answer /readyz on $PORT in time, or runs out of memory loading the model, fails here: see targets.cloudrun.memory).`,
      },
    )
  }
}

async function makePublic(s: Session, ctx: TargetContext, allow: boolean): Promise<boolean> {
  const cmd = `gcloud run services ${allow ? 'add' : 'remove'}-iam-policy-binding ${s.r.service} --region ${s.r.region} --project ${s.project} --member ${PUBLIC} --role ${INVOKER}`
  try {
    const policy = await s.api.getIamPolicy(s.name)
    const bindings = (policy.bindings ?? []).map((b) => ({ ...b, members: [...(b.members ?? [])] }))
    const invoker = bindings.find((b) => b.role === INVOKER && !b.condition)
    const has = invoker?.members.includes(PUBLIC) === true
    if (has === allow) return allow
    let next: IamPolicy['bindings']
    if (allow) next = invoker ? bindings.map((b) => (b === invoker ? { ...b, members: [...b.members, PUBLIC] } : b)) : [...bindings, { role: INVOKER, members: [PUBLIC] }]
    else next = bindings.map((b) => (b === invoker ? { ...b, members: b.members.filter((m) => m !== PUBLIC) } : b)).filter((b) => b.members.length)
    // The etag read above makes a concurrent IAM change fail instead of being overwritten.
    await ctx.log.step(allow ? `Allowing unauthenticated invocations (${INVOKER} for ${PUBLIC})` : `Removing ${PUBLIC} from ${INVOKER}`, () => s.api.setIamPolicy(s.name, { ...policy, bindings: next }))
    return allow
  } catch (err) {
    // As gcloud does: the service is deployed; only the grant is missing (often an org policy).
    ctx.log.warn(`setting the IAM policy of ${s.r.service} failed (${apiMessage(err)}); the service is deployed but ${allow ? 'not public' : 'still public'}. Fix it with: ${cmd}`)
    return !allow
  }
}

function deploymentOf(ctx: TargetContext, s: Session, svc: RunService, extra: { version: string; digest?: string; public: boolean; image?: string }): Deployment {
  return {
    target: 'cloudrun',
    env: ctx.env,
    url: svc.uri || undefined,
    version: extra.version,
    digest: extra.digest,
    revision: servingRevision(svc),
    time: new Date().toISOString(),
    status: 'ready',
    details: { service: s.name, project: s.project, region: s.r.region, ...(extra.image ? { image: extra.image } : {}), public: extra.public, urls: svc.urls },
  }
}

/**
 * Google Cloud Run: the docker target's image pushed to Artifact Registry, then a v2 Service
 * created or updated through @google-cloud/run, made public with an IAM grant, and confirmed
 * ready before mlx reports the URL.
 */
export const cloudrunTarget: Target = {
  name: 'cloudrun',
  description: 'Google Cloud Run: image pushed to Artifact Registry, service created or updated (v2 Admin API), public URL.',
  configSchema,
  bundlePlatform: imageBundlePlatform,

  async package(bundle, ctx): Promise<Artifact> {
    const r = resolveSettings(ctx)
    const { image, imageError } = await packageImageIfBaseReadable(bundle, ctx, 'service.yaml refers to it by tag', { config: { port: r.cfg.port }, outDir: path.join(ctx.outDir, 'image') })
    const project = r.project ?? PROJECT_PLACEHOLDER
    const art: Artifact = { target: 'cloudrun', version: bundle.info.version, digest: image?.digest, paths: {}, details: { modelDigest: bundle.info.modelDigest } }
    const spec = desiredSpec(ctx, r, project, art)
    const files = await writeSpecs(ctx, r, project, spec)
    if (!r.project) ctx.log.info(`  project not set: service.yaml says ${PROJECT_PLACEHOLDER}; deploy takes it from Application Default Credentials`)
    const details: Details = { image, imageError, service: r.service, region: r.region, project: r.project, modelDigest: bundle.info.modelDigest }
    return {
      target: 'cloudrun',
      version: bundle.info.version,
      digest: image?.digest,
      paths: { service: files.yaml, spec: files.json, ...(image ? { layout: image.paths.layout!, dockerfile: image.paths.dockerfile! } : {}) },
      details: details as unknown as Record<string, unknown>,
    }
  },

  async plan(artifact, ctx) {
    const r = resolveSettings(ctx)
    const steps: PlanStep[] = []
    let s: Session | undefined
    try {
      s = await session(ctx)
    } catch (err) {
      if (!(err instanceof MlxError)) throw err
      steps.push({ action: 'note', detail: `cannot compare with the live service: ${err.message.split('\n')[0]} (${err.hint ?? ''})` })
    }
    const project = s?.project ?? r.project ?? PROJECT_PLACEHOLDER
    const { name } = names(project, r)
    const desired = desiredSpec(ctx, r, project, artifact)
    const image = desired.template.containers[0]!.image
    const imageError = (artifact.details as unknown as Details).imageError
    if (imageError) steps.push({ action: 'push', detail: `none: the image could not be built (${imageError.message.split('\n')[0]}); deploy will stop here` })
    else steps.push({ action: 'push', detail: `${image.replace(/@.*/, '')} (${image.slice(image.indexOf('@') + 1, image.indexOf('@') + 20)}…) as oauth2accesstoken with the ADC access token` })
    let live: RunService | undefined
    if (s) {
      try {
        live = await s.api.getService(name)
      } catch (err) {
        steps.push({ action: 'note', detail: `cannot read ${name}: ${apiError('GET', err, '').message}` })
      } finally {
        await s.api.close()
      }
      if (!live) steps.push({ action: 'create', detail: `service ${name} does not exist: would create it (traffic 100% to the new revision)` })
      else {
        const changes = diffService(live, desired)
        steps.push({ action: 'update', detail: `service ${name} (serving ${servingRevision(live) ?? 'no revision'}): ${changes.length ? `${changes.length} field(s) change` : 'no change to the template: no new revision'}` })
        for (const c of changes) steps.push({ action: 'change', detail: formatChange(c) })
        if (!isLatestOnly(live.traffic)) steps.push({ action: 'traffic', detail: 'pinned to a revision now (after a rollback): kept until the new revision is ready, then 100% to it' })
      }
    } else {
      steps.push({ action: 'create-or-update', detail: `service ${name}` })
    }
    steps.push({ action: 'wait', detail: `until terminalCondition is CONDITION_SUCCEEDED and the new revision is the latest ready one (at most ${r.cfg.readyTimeoutSeconds}s)` })
    steps.push({ action: 'iam', detail: r.cfg.allowUnauthenticated ? `${INVOKER} for ${PUBLIC} (public)` : `no public access (${PUBLIC} removed from ${INVOKER} if present)` })
    return { target: 'cloudrun', steps }
  },

  async deploy(artifact, ctx): Promise<Deployment> {
    const d = artifact.details as unknown as Details
    requireBuiltImage(d.imageError)
    if (!d.image) throw new MlxError('BUNDLE_FAILED', 'the artifact has no image to push.', { hint: 'run `mlx package --target cloudrun` again.' })
    const s = await ctx.log.step('Loading Application Default Credentials', () => session(ctx))
    const { r } = s
    try {
      const token = await s.adc.accessToken()
      const pushed = await pushArtifact(d.image, imageContext(ctx, { config: { port: r.cfg.port } }), {
        registry: registryFor(ctx, r, s.project),
        credentials: { username: 'oauth2accesstoken', password: token, source: 'Application Default Credentials' },
      })
      const spec = desiredSpec(ctx, r, s.project, artifact, pushed.ref)
      await writeSpecs(ctx, r, s.project, spec)

      const live = await s.api.getService(s.name).catch((err: unknown) => {
        throw apiError(`reading ${s.name}`, err, `check targets.cloudrun.project/region and that the Cloud Run Admin API is enabled (gcloud services enable run.googleapis.com --project ${s.project}).`)
      })
      // After a rollback traffic is pinned to a revision: keep it there until the new one is ready.
      const pinned = live !== undefined && !isLatestOnly(live.traffic)
      let svc: RunService
      if (!live) {
        const op = await ctx.log
          .step(`Creating service ${r.service} in ${s.project}/${r.region}`, () => s.api.createService(s.parent, r.service, spec))
          .catch((err: unknown) => {
            throw apiError(`creating ${s.name}`, err, `check that the Cloud Run Admin API is enabled: gcloud services enable run.googleapis.com --project ${s.project}.`)
          })
        svc = await ctx.log.step('Waiting for the first revision to become ready', () => settle(s, ctx, `creating ${r.service}`, op))
      } else {
        // A template equal to the live one makes no revision; after a failed attempt that would
        // leave the failed revision as the latest, so a retry names a fresh revision explicitly.
        const retry = shortName(live.latestCreatedRevision) !== shortName(live.latestReadyRevision)
        const template = retry ? { ...spec.template, revision: `${r.service}-mlx-${Date.now().toString(36)}`.slice(0, 63) } : spec.template
        const body = { ...spec, template, name: s.name, etag: live.etag, traffic: pinned ? trafficOf(live) : [LATEST] }
        const op = await ctx.log.step(`Updating service ${r.service} (serving ${servingRevision(live) ?? 'nothing'})`, () => s.api.updateService(body)).catch((err: unknown) => {
          throw apiError(`updating ${s.name}`, err, 'run the deploy again; the serving revision was not changed.')
        })
        svc = await ctx.log.step('Waiting for the new revision to become ready', () => settle(s, ctx, `updating ${r.service}`, op))
        if (pinned) {
          const revision = shortName(svc.latestReadyRevision)!
          const move = await s.api.updateService({ ...(svc as unknown as ServiceSpec), name: s.name, etag: svc.etag, traffic: [LATEST] }).catch((err: unknown) => {
            throw apiError(`moving traffic to ${revision}`, err, `the new revision is ready but not serving; run: gcloud run services update-traffic ${r.service} --to-latest --region ${r.region}`)
          })
          svc = await ctx.log.step(`Moving traffic to ${revision}`, () => settle(s, ctx, `moving traffic to ${revision}`, move, { newRevision: false }))
        }
      }
      const isPublic = await makePublic(s, ctx, r.cfg.allowUnauthenticated)
      const deployment = deploymentOf(ctx, s, svc, { version: artifact.version, digest: pushed.digest, public: isPublic, image: pushed.ref })
      ctx.log.info(`  service  ${r.service} (${s.project}/${r.region})`)
      ctx.log.info(`  revision ${deployment.revision} serves 100% of traffic`)
      ctx.log.info(`  url      ${svc.uri}${isPublic ? '' : ' (authenticated: curl -H "Authorization: Bearer $(gcloud auth print-identity-token)" ...)'}`)
      return deployment
    } finally {
      await s.api.close()
    }
  },

  async status(ctx) {
    const last = ctx.history
      .list('cloudrun')
      .filter((d) => d.status === 'ready' && (ctx.env === undefined || d.env === ctx.env))
      .at(-1)
    let s: Session
    try {
      s = await session(ctx)
    } catch {
      return last && { ...last, status: 'unknown' }
    }
    try {
      const svc = await s.api.getService(s.name)
      if (!svc) return last && { ...last, status: 'stopped', details: { ...last.details, note: `${s.name} does not exist` } }
      const ok = conditionState(svc.terminalCondition?.state ?? undefined) === 'CONDITION_SUCCEEDED'
      const revision = servingRevision(svc)
      const match = ctx.history.list('cloudrun').filter((d) => d.revision === revision && d.status === 'ready').at(-1)
      return {
        target: 'cloudrun',
        env: ctx.env,
        url: svc.uri || undefined,
        version: match?.version ?? last?.version ?? 'unknown',
        digest: match?.digest,
        revision,
        time: match?.time ?? new Date().toISOString(),
        status: ok ? 'ready' : 'failed',
        details: { service: s.name, latestCreatedRevision: shortName(svc.latestCreatedRevision), ...(ok ? {} : { message: svc.terminalCondition?.message }) },
      }
    } catch (err) {
      throw apiError(`reading ${s.name}`, err, 'check targets.cloudrun.project and region.')
    } finally {
      await s.api.close()
    }
  },

  async rollback(to, ctx) {
    const s = await session(ctx)
    const { r } = s
    try {
      const svc = await s.api.getService(s.name).catch((err: unknown) => {
        throw apiError(`reading ${s.name}`, err, 'check targets.cloudrun.project and region.')
      })
      if (!svc) throw new MlxError('USAGE', `the Cloud Run service ${s.name} does not exist: nothing to roll back.`, { hint: 'deploy it first with `mlx deploy --target cloudrun`.' })
      const serving = servingRevision(svc)
      const asked = to?.revision ?? (typeof ctx.flags.to === 'string' && ctx.flags.to ? shortName(ctx.flags.to) : undefined)
      let revision: RunRevision
      if (asked) {
        const found = await s.api.getRevision(`${s.name}/revisions/${asked}`).catch((err: unknown) => {
          throw apiError(`reading revision ${asked}`, err, 'check the revision name.')
        })
        if (!found) throw new MlxError('USAGE', `revision ${asked} does not exist in service ${r.service}.`, { hint: `list them with: gcloud run revisions list --service ${r.service} --region ${r.region} --project ${s.project}` })
        if (!revisionReady(found)) throw new MlxError('USAGE', `revision ${asked} is not ready, so it cannot serve traffic.`, { hint: 'pick a ready revision: gcloud run revisions list shows them with a ✔.' })
        revision = found
      } else {
        const revs = await s.api.listRevisions(s.name).catch((err: unknown) => {
          throw apiError(`listing revisions of ${s.name}`, err, 'check the project and region.')
        })
        const current = revs.find((x) => shortName(x.name) === serving)
        const earlier = revs
          .filter((x) => revisionReady(x) && shortName(x.name) !== serving && (!current || createdAt(x) <= createdAt(current)))
          .sort((a, b) => createdAt(b) - createdAt(a))[0]
        if (!earlier) throw new MlxError('DEPLOY_FAILED', `no ready revision of ${r.service} older than ${serving ?? 'the serving one'} to roll back to.`, { hint: 'pass --to REVISION to pick one (gcloud run revisions list).' })
        revision = earlier
      }
      const target = shortName(revision.name)!
      if (target === serving && !isLatestOnly(svc.traffic)) ctx.log.info(`  ${target} already serves all traffic`)
      const move = await s.api
        .updateService({ ...(svc as unknown as ServiceSpec), name: s.name, etag: svc.etag, traffic: [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision: target, percent: 100 }] })
        .catch((err: unknown) => {
          throw apiError(`moving traffic to ${target}`, err, 'nothing changed; try again.')
        })
      const after = await ctx.log.step(`Moving 100% of traffic to ${target} (from ${serving ?? 'nothing'})`, () => settle(s, ctx, `rolling back to ${target}`, move, { newRevision: false }))
      const recorded = ctx.history.list('cloudrun').filter((d) => d.revision === target && d.status === 'ready').at(-1)
      const image = revision.containers?.[0]?.image
      const deployment = deploymentOf(ctx, s, after, {
        version: recorded?.version ?? revision.labels?.['mlx-version'] ?? target,
        digest: recorded?.digest ?? (image?.includes('@') ? image.slice(image.indexOf('@') + 1) : undefined),
        public: recorded?.details?.public !== false,
        image,
      })
      if (deployment.revision !== target) throw new MlxError('DEPLOY_FAILED', `traffic was not moved to ${target}: ${deployment.revision ?? 'nothing'} serves.`, { hint: `check with: gcloud run services describe ${r.service} --region ${r.region}` })
      return deployment
    } finally {
      await s.api.close()
    }
  },
}
