import path from 'node:path'
import { MlxError } from '../errors.js'
import type { Deployment, DeploymentHistory, ImageHandle, Target, TargetContext } from '../contracts.js'
import { envCredentials } from '../credentials.js'
import { DeploymentLog } from '../deployments.js'
import type { Project } from '../project.js'
import { targetConfig } from '../targets.js'
import type { Credentials, Logger } from '../types.js'
import { systemClock, type Clock } from './clock.js'
import { HttpClient, type Fetch } from './http.js'
import { waitUntil } from './poll.js'
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
    waitUntil: (what, check, w) => waitUntil(what, check, w, deps),
    retry: (what, fn, classify) =>
      // A backstop a little past the setting: a client that enforces it itself (with a signal) fails first, with its own error.
      withRetries(what, (attempt) => (requestTimeoutMs ? deadline(fn(attempt), requestTimeoutMs + 1000, what, settingOf('requestTimeoutSeconds')) : fn(attempt)), {
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
 * deadline: the call is left to finish in the background, the deploy moves on with a clear error.
 */
function deadline<T>(work: Promise<T>, ms: number, what: string, setting: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MlxError('DEPLOY_FAILED', `${what}: no answer within ${ms / 1000}s.`, { hint: `the platform accepted the call but did not answer; check its status, or raise ${setting}.` })), ms)
  })
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}
