import { defineTarget, MlxError, type PlanStep } from '@mlx/core'
import { checkApiKey } from './api-key.js'
import { apiError, conditionState, type RunRevision, type RunService } from './api.js'
import { configSchema, registryFor, resolveSettings } from './config.js'
import { diffService, formatChange } from './diff.js'
import { desiredSpec, PROJECT_PLACEHOLDER, writeSpecs, type CloudRunDetails } from './files.js'
import { INVOKER, makePublic, PUBLIC } from './iam.js'
import { deploymentOf, earlierReady, isLatestOnly, revisionReady, servingRevision, settle, shortName, trafficOf } from './service.js'
import { credentialsFor, names, session, type Session } from './session.js'
import { LATEST } from './spec.js'

/**
 * Google Cloud Run: the image core built, pushed to Artifact Registry with the ADC access token,
 * then a v2 Service created or updated through @google-cloud/run, made public with an IAM grant,
 * and confirmed ready before mlx reports the URL.
 */
export const cloudrunTarget = defineTarget({
  name: 'cloudrun',
  description: 'Google Cloud Run: image pushed to Artifact Registry, service created or updated (v2 Admin API), public URL.',
  configSchema,
  image: {
    port: (cfg) => cfg.port,
    async destination(ctx) {
      const r = resolveSettings(ctx)
      const adc = await credentialsFor(ctx, r)
      const token = await adc.accessToken()
      ctx.secret(token)
      return { registry: registryFor(ctx, r, adc.project), login: { username: 'oauth2accesstoken', password: token, source: 'Application Default Credentials' } }
    },
  },

  async package(bundle, ctx) {
    const r = resolveSettings(ctx)
    checkApiKey(ctx.project, r.cfg)
    const built = ctx.image?.built
    const project = r.project ?? PROJECT_PLACEHOLDER
    const details: CloudRunDetails = { service: r.service, region: r.region, project: r.project, modelDigest: bundle.info.modelDigest }
    const artifact = { target: 'cloudrun', version: bundle.info.version, digest: built?.digest, paths: {}, details }
    const files = await writeSpecs(ctx, r, project, desiredSpec(ctx, r, project, artifact))
    if (!r.project) ctx.log.info(`  project not set: service.yaml says ${PROJECT_PLACEHOLDER}; deploy takes it from Application Default Credentials`)
    return { ...artifact, paths: { service: files.yaml, spec: files.json, ...(built ? { layout: built.paths.layout, dockerfile: built.paths.dockerfile } : {}) } }
  },

  async plan(artifact, ctx) {
    const r = resolveSettings(ctx)
    checkApiKey(ctx.project, r.cfg)
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
    const at = image.indexOf('@')
    const unavailable = ctx.image?.unavailable
    if (unavailable) steps.push({ action: 'push', detail: `none: the image could not be built (${unavailable.message.split('\n')[0]}); deploy will stop here` })
    else steps.push({ action: 'push', detail: `${at < 0 ? image : `${image.slice(0, at)} (${image.slice(at + 1, at + 20)}…)`} as oauth2accesstoken with the ADC access token` })
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

  async preflight(_artifact, ctx) {
    await ctx.log.step('Loading Application Default Credentials', () => credentialsFor(ctx))
  },

  async deploy(artifact, ctx) {
    const pushed = ctx.image!.pushed!
    const s = await session(ctx)
    const { r } = s
    try {
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
          const move = await s.api.updateService({ ...svc, name: s.name, etag: svc.etag, traffic: [LATEST] }).catch((err: unknown) => {
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
    const last = ctx.history.lastReady()
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
      const match = revision ? ctx.history.find(revision) : undefined
      return ctx.record({
        url: svc.uri || undefined,
        version: match?.version ?? last?.version ?? 'unknown',
        digest: match?.digest,
        revision,
        ...(match ? { time: match.time } : {}),
        status: ok ? 'ready' : 'failed',
        details: { service: s.name, latestCreatedRevision: shortName(svc.latestCreatedRevision), ...(ok ? {} : { message: svc.terminalCondition?.message }) },
      })
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
      // --to may name a revision mlx never recorded (deployed with gcloud, or before mlx).
      const asked = to.recorded?.revision ?? shortName(to.ref)
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
        const earlier = earlierReady(revs, serving)
        if (!earlier) throw new MlxError('DEPLOY_FAILED', `no ready revision of ${r.service} older than ${serving ?? 'the serving one'} to roll back to.`, { hint: 'pass --to REVISION to pick one (gcloud run revisions list).' })
        revision = earlier
      }
      const target = shortName(revision.name)!
      if (target === serving && !isLatestOnly(svc.traffic)) ctx.log.info(`  ${target} already serves all traffic`)
      const move = await s.api.updateService({ ...svc, name: s.name, etag: svc.etag, traffic: [{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision: target, percent: 100 }] }).catch((err: unknown) => {
        throw apiError(`moving traffic to ${target}`, err, 'nothing changed; try again.')
      })
      const after = await ctx.log.step(`Moving 100% of traffic to ${target} (from ${serving ?? 'nothing'})`, () => settle(s, ctx, `rolling back to ${target}`, move, { newRevision: false }))
      const recorded = ctx.history.find(target)
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
})
