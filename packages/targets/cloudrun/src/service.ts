import { done, MlxError, pending, type Deployment, type WaitOptions } from '@mlx/core'
import { apiError, apiMessage, conditionState, trafficType, type RunRevision, type RunService } from './api.js'
import type { CloudRunContext } from './config.js'
import type { Session } from './session.js'
import type { TrafficTarget } from './spec.js'

export const shortName = (resource: string | undefined) => resource?.split('/').pop() || undefined

/** The live traffic split as the API takes it back (read-back objects carry empty defaults). */
export const trafficOf = (svc: RunService): TrafficTarget[] =>
  (svc.traffic ?? []).map((t) => ({ type: trafficType(t.type) as TrafficTarget['type'], ...(t.revision ? { revision: t.revision } : {}), percent: t.percent ?? 0, ...(t.tag ? { tag: t.tag } : {}) }))

export const isLatestOnly = (traffic: RunService['traffic']) => {
  const t = (traffic ?? []).filter((x) => (x.percent ?? 0) > 0)
  return t.length === 0 || (t.length === 1 && trafficType(t[0]!.type) === 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST')
}

/** The revision that answers requests now: the one with most traffic, else the latest ready one. */
export function servingRevision(svc: RunService): string | undefined {
  const statuses = [...(svc.trafficStatuses ?? [])].filter((s) => (s.percent ?? 0) > 0).sort((a, b) => (b.percent ?? 0) - (a.percent ?? 0))
  const top = statuses[0]
  if (top && trafficType(top.type) === 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION' && top.revision) return shortName(top.revision)
  return shortName(svc.latestReadyRevision)
}

export const revisionReady = (rev: RunRevision) => (rev.conditions ?? []).some((c) => c.type === 'Ready' && conditionState(c.state) === 'CONDITION_SUCCEEDED')
const createdAt = (rev: RunRevision) => Number(rev.createTime?.seconds ?? 0)

/** The newest ready revision created no later than the serving one, other than it: where a rollback goes by default. */
export function earlierReady(revisions: readonly RunRevision[], serving: string | undefined): RunRevision | undefined {
  const current = revisions.find((x) => shortName(x.name) === serving)
  return revisions
    .filter((x) => revisionReady(x) && shortName(x.name) !== serving && (!current || createdAt(x) <= createdAt(current)))
    .sort((a, b) => createdAt(b) - createdAt(a))[0]
}

/**
 * Waits for an operation, then reads the service back: done only when the terminal condition
 * succeeded and the latest created revision is the latest ready one. A failed revision never
 * receives traffic, so the message is reported and the serving revision is left as it was.
 */
export async function settle(s: Session, ctx: CloudRunContext, what: string, op: () => Promise<unknown>, opts: { newRevision: boolean } = { newRevision: true }): Promise<RunService> {
  const wait: WaitOptions = {
    timeoutMs: ctx.config.readyTimeoutSeconds * 1000,
    setting: 'targets.cloudrun.readyTimeoutSeconds',
    hint: 'Cloud Run keeps working on it: `mlx status --target cloudrun` shows where it stands; raise targets.cloudrun.readyTimeoutSeconds for slow model loads.',
  }
  // gax polls the long-running operation itself; watching for its end puts it under the deadline and the abort signal.
  let ended: { error?: unknown } | undefined
  void op().then(
    () => (ended = {}),
    (error: unknown) => (ended = { error }),
  )
  const { error: opError } = await ctx.waitUntil(what, async () => (ended ? done(ended) : pending()), { ...wait, intervalMs: 250 })

  return ctx.waitUntil(
    what,
    async () => {
      const svc = await s.api.getService(s.name).catch((err: unknown) => {
        throw apiError(`reading ${s.name} back`, err, 'run the deploy again; nothing was rolled back.')
      })
      if (!svc) throw new MlxError('DEPLOY_FAILED', `${what}: the service ${s.name} disappeared.`, { hint: 'someone deleted it meanwhile; deploy again.' })
      const cond = svc.terminalCondition
      const state = conditionState(cond?.state ?? undefined)
      if (svc.reconciling && !opError && state !== 'CONDITION_FAILED') return pending(`reconciling${state ? ` (${state})` : ''}`)
      const created = shortName(svc.latestCreatedRevision)
      const ready = shortName(svc.latestReadyRevision)
      // A traffic move creates no revision; an earlier failed one may stay the latest created.
      if (state === 'CONDITION_SUCCEEDED' && (created === ready || !opts.newRevision) && !opError) return done(svc)
      const why = cond?.message || (opError ? apiMessage(opError) : `state ${state ?? 'unknown'}`)
      const serving = servingRevision(svc)
      throw new MlxError(
        'DEPLOY_FAILED',
        `${what}: Cloud Run did not make revision ${created ?? '(none)'} ready: ${why}\n${serving ? `Revision ${serving} keeps serving; traffic was not moved.` : 'No revision of this service is serving.'}`,
        {
          hint: `read the revision's logs: gcloud run revisions logs read ${created ?? 'REVISION'} --region ${s.r.region} --project ${s.project} (a server that does not answer /readyz on $PORT in time, or runs out of memory loading the model, fails here: see targets.cloudrun.memory).`,
        },
      )
    },
    wait,
  )
}

/** The record of what the service serves now. */
export function deploymentOf(ctx: CloudRunContext, s: Session, svc: RunService, extra: { version: string; digest?: string; public: boolean; image?: string }): Deployment {
  return ctx.record({
    url: svc.uri || undefined,
    version: extra.version,
    digest: extra.digest,
    revision: servingRevision(svc),
    details: { service: s.name, project: s.project, region: s.r.region, ...(extra.image ? { image: extra.image } : {}), public: extra.public, urls: svc.urls },
  })
}
