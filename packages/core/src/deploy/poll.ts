import { MlxError } from '../errors.js'
import type { Logger } from '../types.js'
import type { Clock } from './clock.js'
import { interrupted } from './retry.js'

/** One look at the platform: done with a value, or not yet, with the state it is in. */
export type Poll<T> = { readonly done: true; readonly value: T } | { readonly done: false; readonly status?: string }

export const done = <T>(value: T): Poll<T> => ({ done: true, value })
export const pending = (status?: string): Poll<never> => ({ done: false, status })

export interface WaitOptions {
  /** The deadline; the error names `setting` as what to raise. */
  readonly timeoutMs: number
  /** Between looks (default 2 s); never past the deadline. */
  readonly intervalMs?: number
  /** e.g. 'targets.ubiops.buildTimeoutSeconds'. */
  readonly setting?: string
  /** Replaces the default hint of the timeout error (say what is left running, what to do). */
  readonly hint?: string
}

/**
 * Looks until `check` is done, the deadline passes or the deploy is aborted; each new status is
 * one progress line. The one polling loop of every target (a build, a rollout, a revision, a
 * local process answering /readyz).
 */
export async function waitUntil<T>(
  what: string,
  check: (look: number) => Promise<Poll<T>>,
  opts: WaitOptions,
  deps: { clock: Clock; signal: AbortSignal; log: Logger },
): Promise<T> {
  const deadline = deps.clock.now() + opts.timeoutMs
  const interval = opts.intervalMs ?? 2000
  let last: string | undefined
  for (let look = 0; ; look++) {
    if (deps.signal.aborted) throw interrupted(what, deps.signal)
    const r = await check(look)
    if (r.done) return r.value
    if (r.status !== undefined && r.status !== last) {
      deps.log.info(`  ${what}: ${r.status}`)
      last = r.status
    }
    const left = deadline - deps.clock.now()
    if (left <= 0) {
      throw new MlxError('DEPLOY_FAILED', `${what}: not done within ${Math.round(opts.timeoutMs / 1000)}s${last ? ` (last state: ${last})` : ''}.`, {
        hint: opts.hint ?? `it may still finish on the platform: \`mlx status\` shows where it stands${opts.setting ? `; raise ${opts.setting} if it needs longer` : ''}.`,
      })
    }
    await deps.clock.sleep(Math.min(interval, left), deps.signal).catch(() => {
      throw interrupted(what, deps.signal)
    })
  }
}
