import { done, MlxError, pending, sleep, type Logger, type TargetContext } from '@mlx/core'
import type { Cluster } from './cluster.js'
import type { HelmConfig } from './config.js'
import type { KubeObject } from './render.js'
import { describeProblem, hintFor, podProblems, rolloutState, STUCK, type PodProblem, type RolloutState } from './rollout.js'

export interface ApplyOptions {
  namespace: string
  createNamespace: boolean
  timeoutMs: number
  pollMs: number
  logLines: number
  /** The deploy's log, abort signal and poller. */
  ctx: Pick<TargetContext, 'log' | 'signal' | 'waitUntil' | 'record'>
}

const key = (o: KubeObject) => `${o.kind}/${o.metadata.name}`

export class RolloutFailed extends Error {
  constructor(
    message: string,
    readonly problems: PodProblem[],
    readonly logs: string,
  ) {
    super(message)
  }
}

/** Server-side applies the objects in order (the namespace first, when asked). */
export async function applyObjects(cluster: Cluster, objects: readonly KubeObject[], opts: ApplyOptions): Promise<void> {
  if (opts.createNamespace && opts.namespace !== 'default') {
    await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: opts.namespace } }).catch((err: unknown) => {
      // A user may deploy into a namespace they cannot create (or even read at cluster scope).
      if (err instanceof MlxError && /HTTP 403/.test(err.message)) opts.ctx.log.warn(`  cannot create namespace ${opts.namespace} (forbidden); assuming it exists`)
      else throw err
    })
  }
  for (const o of objects) {
    await cluster.apply(o)
    opts.ctx.log.info(`  applied ${key(o)} in ${opts.namespace}`)
  }
}

/** Deletes what `previous` had and `current` does not (an Ingress turned off, an HPA removed). */
export async function pruneObjects(cluster: Cluster, previous: readonly KubeObject[], current: readonly KubeObject[], log: Logger): Promise<string[]> {
  const keep = new Set(current.map(key))
  const gone = previous.filter((o) => !keep.has(key(o)))
  for (const o of gone) {
    await cluster.delete(o)
    log.info(`  deleted ${key(o)} (no longer rendered)`)
  }
  return gone.map(key)
}

/**
 * Polls the Deployment like `kubectl rollout status` until it is rolled out, its progress
 * deadline passes, every new pod is stuck for a reason waiting cannot fix, or time runs out.
 * On failure the pods' reasons and the last log lines of a failing container come with it.
 */
export async function waitForRollout(cluster: Cluster, deployment: KubeObject, opts: ApplyOptions): Promise<void> {
  const name = deployment.metadata.name
  const selector = ((deployment.spec as { selector?: { matchLabels?: Record<string, string> } })?.selector?.matchLabels ?? {}) as Record<string, string>
  let state: RolloutState | undefined
  // A failure the check itself raised, told apart from the poller's deadline, which gets the pods' diagnosis too.
  let failed: unknown
  const look = async () => {
    try {
      state = rolloutState(await cluster.deployment(name, opts.namespace))
      if (state.done) return done(state.message)
      if (state.failed) throw await diagnose(cluster, name, selector, state.message, opts)
      // Pods stuck in ImagePullBackOff or CrashLoopBackOff will not recover by waiting for the whole timeout.
      const current = podProblems(await cluster.pods(opts.namespace, selector)).filter((p) => p.reason !== 'NotReady')
      if (current.length > 0 && current.every((p) => STUCK.has(p.reason) && (p.reason !== 'CrashLoopBackOff' || (p.restarts ?? 0) >= 2))) throw await diagnose(cluster, name, selector, 'its pods cannot start', opts)
      return pending(state.message)
    } catch (err) {
      failed = err
      throw err
    }
  }
  try {
    opts.ctx.log.info(`  ${await opts.ctx.waitUntil(`deployment/${name}`, look, { timeoutMs: opts.timeoutMs, intervalMs: opts.pollMs, setting: 'targets.helm.timeoutSeconds' })}`)
  } catch (err) {
    if (err === failed || opts.ctx.signal.aborted) throw err
    throw await diagnose(cluster, name, selector, `not ready after ${Math.round(opts.timeoutMs / 1000)}s (${state?.message ?? 'its status was never read'})`, opts)
  }
}

async function diagnose(cluster: Cluster, name: string, selector: Record<string, string>, why: string, opts: ApplyOptions): Promise<RolloutFailed> {
  const problems = podProblems(await cluster.pods(opts.namespace, selector).catch(() => []))
  const lines = [`deployment/${name} in ${opts.namespace} did not roll out: ${why}.`]
  if (problems.length) lines.push(...problems.slice(0, 10).map((p) => `  - ${describeProblem(p)}`))
  else lines.push('  (no pods were found for the deployment: check `kubectl get events` in the namespace)')
  let logs = ''
  const failing = problems.find((p) => p.container && (p.crashed || p.reason === 'NotReady'))
  if (failing && opts.logLines > 0) {
    logs = await cluster.podLog(failing.pod, opts.namespace, failing.container!, opts.logLines, Boolean(failing.crashed && failing.reason !== 'NotReady'))
    if (!logs && failing.crashed) logs = await cluster.podLog(failing.pod, opts.namespace, failing.container!, opts.logLines, false)
    if (logs.trim()) lines.push(`  last ${opts.logLines} log lines of ${failing.pod}:`, ...logs.trimEnd().split('\n').slice(-opts.logLines).map((l) => `    | ${l}`))
  }
  return new RolloutFailed(lines.join('\n'), problems, logs)
}

export { hintFor }

/** What the pods of a rollout that helm waited for last said, for the failure message. */
export interface PodReport {
  problems: PodProblem[]
  text: string
}

/**
 * helm mode: while `helm upgrade --wait` runs, the pods running the new image are listed every
 * pollMs, so that when helm gives up (and rolls back, removing them) mlx can still say why they
 * were not ready, with the last log lines of a failing container. Errors of this side channel are
 * ignored: helm's own result decides.
 */
export function watchPods(cluster: Cluster, deployment: KubeObject, opts: ApplyOptions): { stop(): Promise<PodReport | undefined> } {
  const name = deployment.metadata.name
  const spec = deployment.spec as { selector?: { matchLabels?: Record<string, string> }; template?: { spec?: { containers?: { image?: string }[] } } }
  const selector = spec?.selector?.matchLabels ?? {}
  const image = spec?.template?.spec?.containers?.[0]?.image
  const stopper = new AbortController()
  const signal = AbortSignal.any([stopper.signal, opts.ctx.signal])
  let problems: PodProblem[] = []
  const logs = new Map<string, string>()
  const loop = (async () => {
    while (!signal.aborted) {
      try {
        const pods = (await cluster.pods(opts.namespace, selector)).filter((p) => !image || p.spec?.containers?.[0]?.image === image)
        const now = podProblems(pods)
        if (now.length) problems = now
        const failing = now.find((p) => p.container && (p.crashed || p.reason === 'NotReady'))
        if (failing && opts.logLines > 0 && !logs.has(failing.pod)) {
          let text = await cluster.podLog(failing.pod, opts.namespace, failing.container!, opts.logLines, Boolean(failing.crashed && failing.reason !== 'NotReady'))
          if (!text && failing.crashed) text = await cluster.podLog(failing.pod, opts.namespace, failing.container!, opts.logLines, false)
          logs.set(failing.pod, text)
        }
      } catch {
        // the API may be unreachable to this client; helm reports what it saw
      }
      await sleep(opts.pollMs, signal).catch(() => undefined)
    }
  })()
  return {
    async stop() {
      stopper.abort()
      await loop
      if (!problems.length) return undefined
      const lines = [`pods of deployment/${name} in ${opts.namespace} running the new image:`, ...problems.slice(0, 10).map((p) => `  - ${describeProblem(p)}`)]
      const withLog = problems.find((p) => logs.get(p.pod)?.trim())
      if (withLog) lines.push(`  last ${opts.logLines} log lines of ${withLog.pod}:`, ...logs.get(withLog.pod)!.trimEnd().split('\n').slice(-opts.logLines).map((l) => `    | ${l}`))
      return { problems, text: lines.join('\n') }
    },
  }
}

/** The deploy's settings for applying and waiting, in `namespace`. */
export function applyOptions(ctx: TargetContext<HelmConfig>, namespace: string): ApplyOptions {
  const cfg = ctx.config
  return { namespace, createNamespace: cfg.createNamespace, timeoutMs: cfg.timeoutSeconds * 1000, pollMs: cfg.pollIntervalMs, logLines: cfg.logLines, ctx }
}
