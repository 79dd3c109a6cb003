import path from 'node:path'
import { MlxError } from '../errors.js'
import type { Deployment, DeploymentHistory, ImageHandle, Target, TargetContext } from '../contracts.js'
import { envCredentials } from '../credentials.js'
import { DeploymentLog } from '../deployments.js'
import type { Project } from '../project.js'
import { targetConfig } from '../targets.js'
import type { Credentials, Logger } from '../types.js'
import { systemClock, type Clock } from './clock.js'
import { CallCut, callScope, cutShort, HttpClient, type Fetch } from './http.js'
import { waitUntil, type Poll, type WaitOptions } from './poll.js'
import { secrets, type Redactor } from './redact.js'
import { ReleaseFolders } from './releases.js'
import { withRetries } from './retry.js'
import type { RetrySettings } from './settings.js'

/** What the context's actions are made of: container bindings, so a test substitutes one (see PluginRegistry.services). */
export interface TargetServices {
  readonly clock: Clock
  readonly fetch: Fetch
  readonly credentials: Credentials
}

export const defaultServices = (): TargetServices => ({ clock: systemClock, fetch: (...a) => globalThis.fetch(...a), credentials: envCredentials() })

export interface ContextOptions {
  readonly project: Project
  readonly target: Target
  readonly log: Logger
  readonly flags?: Readonly<Record<string, unknown>>
  readonly env?: string
  readonly outDir?: string
  readonly signal?: AbortSignal
  readonly image?: ImageHandle
  readonly history?: DeploymentHistory
  readonly services?: TargetServices
  readonly redactor?: Redactor
  /** Config already validated (e.g. by a test); else targets.<name> is validated here. */
  readonly config?: Record<string, unknown>
}

/** A logger whose every line is redacted. */
export function redactingLogger(log: Logger, redactor: Redactor): Logger {
  return {
    info: (m) => log.info(redactor.redact(m)),
    warn: (m) => log.warn(redactor.redact(m)),
    debug: (m) => log.debug(redactor.redact(m)),
    step: (title, work) => log.step(redactor.redact(title), work),
  }
}

/** Credentials that register each value they hand out, so it is masked wherever it might appear. */
function registering(credentials: Credentials, redactor: Redactor): Credentials {
  return {
    setting: (name) => credentials.setting(name),
    get(name) {
      const v = credentials.get(name)
      redactor.add(v)
      return v
    },
    require(names, hint) {
      const v = credentials.require(names, hint)
      redactor.add(v)
      return v
    },
  }
}

/** The context a target's package/plan/deploy/status/rollback runs in; targets.<name> is validated here. */
export function createTargetContext<Config = Record<string, unknown>>(opts: ContextOptions): TargetContext<Config> {
  const services = opts.services ?? defaultServices()
  const redactor = opts.redactor ?? secrets
  const config = (opts.config ?? targetConfig(opts.target, opts.project)) as Config & RetrySettings
  const signal = opts.signal ?? new AbortController().signal
  const log = redactingLogger(opts.log, redactor)
  const outDir = opts.outDir ?? path.join(opts.project.root, '.mlx', opts.target.name)
  const history = (opts.history ?? new DeploymentLog(opts.project.root)).forTarget(opts.target.name, opts.env)
  const settingOf = (key: string) => `targets.${opts.target.name}.${key}`
  const deps = { clock: services.clock, signal, log }
  const requestTimeoutMs = config.requestTimeoutSeconds !== undefined ? config.requestTimeoutSeconds * 1000 : undefined
  return {
    project: opts.project,
    config,
    env: opts.env,
    outDir,
    log,
    signal,
    credentials: registering(services.credentials, redactor),
    flags: opts.flags ?? {},
    history,
    image: opts.image,
    http: (h) =>
      new HttpClient(
        {
          retries: config.retries,
          retryBaseMs: config.retryBaseMs,
          timeoutMs: config.requestTimeoutSeconds !== undefined ? config.requestTimeoutSeconds * 1000 : undefined,
          timeoutSetting: config.requestTimeoutSeconds !== undefined ? settingOf('requestTimeoutSeconds') : undefined,
          ...h,
        },
        { fetch: services.fetch, clock: services.clock, redactor, log, signal },
      ),
    waitUntil: (what, check, w) => boundedWait(what, check, w, deps),
    retry: (what, fn, classify) =>
      // A backstop a little past the setting: a client that enforces it itself (with a signal) fails first, with its own error.
      withRetries(what, (attempt) => deadline(fn(attempt), requestTimeoutMs === undefined ? undefined : requestTimeoutMs + 1000, what, settingOf('requestTimeoutSeconds'), signal), {
        retries: config.retries ?? 4,
        baseMs: config.retryBaseMs ?? 1000,
        classify,
        clock: services.clock,
        signal,
        onRetry: (i) => log.info(`  ${i.what}: ${i.reason}; retry ${i.attempt} in ${(i.waitMs / 1000).toFixed(1)}s`),
      }),
    record: (fields): Deployment =>
      redactor.redactValue({
        target: opts.target.name,
        ...(opts.env !== undefined ? { env: opts.env } : {}),
        version: opts.project.version,
        status: 'ready' as const,
        time: new Date(services.clock.now()).toISOString(),
        ...fields,
      }),
    releases: (name = 'releases') => new ReleaseFolders(path.join(outDir, name)),
    secret: (v) => redactor.add(v),
  }
}

/**
 * A platform client that takes no signal (gax, the kubernetes client) still gets the per-call
 * deadline, the deploy's abort and the deadline of the wait it runs in: the call is left to
 * finish in the background, the deploy moves on with a clear error.
 */
function deadline<T>(work: Promise<T>, ms: number | undefined, what: string, setting: string, signal: AbortSignal): Promise<T> {
  const scope = callScope.getStore()
  const signals = [signal, ...(scope ? [scope] : [])]
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const late = new Promise<never>((_, reject) => {
    if (ms !== undefined) {
      timer = setTimeout(() => reject(new MlxError('DEPLOY_FAILED', `${what}: no answer within ${ms / 1000}s.`, { hint: `the platform accepted the call but did not answer; check its status, or raise ${setting}.` })), ms)
    }
    onAbort = () => reject(scope?.aborted && !signal.aborted ? cutShort(scope, what) : (signal.reason as unknown))
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true })
    if (signals.some((s) => s.aborted)) onAbort()
  })
  return Promise.race([work, late]).finally(() => {
    clearTimeout(timer)
    for (const s of signals) s.removeEventListener('abort', onAbort!)
  })
}

/**
 * ctx.waitUntil: poll.ts's loop, with its deadline also binding the looks. Each look runs in a
 * call scope that is cut a second after the deadline (the look waitUntil makes at its deadline
 * may still answer), so a platform that accepts a poll and never answers ends the wait when its
 * setting says, not after that call's own timeout and retries.
 */
async function boundedWait<T>(what: string, check: (look: number) => Promise<Poll<T>>, w: WaitOptions, deps: { clock: Clock; signal: AbortSignal; log: Logger }): Promise<T> {
  const cut = new AbortController()
  const outer = callScope.getStore()
  const scope = outer ? AbortSignal.any([outer, cut.signal]) : cut.signal
  // Past setTimeout's range (~24 days) a timer would fire at once: such a wait is left to poll.ts alone.
  const ms = w.timeoutMs + 1000
  const timer = ms < 2 ** 31 ? setTimeout(() => cut.abort(new CallCut('DEPLOY_FAILED', `${what}: not done within ${Math.round(w.timeoutMs / 1000)}s.`)), ms) : undefined
  let last: string | undefined
  try {
    return await waitUntil(
      what,
      async (look) => {
        const r = await callScope.run(scope, () => check(look))
        if (!r.done && r.status !== undefined) last = r.status
        return r
      },
      w,
      deps,
    )
  } catch (err) {
    if (!cut.signal.aborted || deps.signal.aborted || outer?.aborted) throw err
    const reason = cut.signal.reason as CallCut
    throw reason.finish(
      `${what}: not done within ${Math.round(w.timeoutMs / 1000)}s${last ? ` (last state: ${last})` : ''}${reason.call ? `; ${reason.call} was still unanswered` : ''}.`,
      w.hint ?? `the platform stopped answering; \`mlx status\` shows where things stand${w.setting ? `; raise ${w.setting} if it only needs longer` : ''}.`,
    )
  } finally {
    clearTimeout(timer)
  }
}
