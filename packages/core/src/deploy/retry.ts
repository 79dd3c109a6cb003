import { MlxError } from '../errors.js'
import type { Clock } from './clock.js'

/** The standard retry settings a target's config carries (see `retrySettings`). */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly retries: number
  /** First backoff; doubles per retry. */
  readonly baseMs: number
  /** Longest single wait, whatever Retry-After says, so a hostile header cannot stall a deploy. */
  readonly maxDelayMs?: number
}

/** Whether a failure is worth another attempt, and how long the server asked us to wait. */
export interface RetryDecision {
  readonly retry: boolean
  readonly afterMs?: number
  /** For the progress line: "rate limited (429)", "connection reset". */
  readonly reason: string
}

export interface RetryInfo {
  readonly what: string
  readonly attempt: number
  readonly waitMs: number
  readonly reason: string
}

export interface RetryOptions extends RetryPolicy {
  readonly classify: (err: unknown) => RetryDecision
  readonly clock: Clock
  readonly signal?: AbortSignal
  readonly onRetry?: (info: RetryInfo) => void
}

export const DEFAULT_MAX_DELAY_MS = 60_000

/**
 * Runs `fn` until it succeeds, `classify` says the failure is final, or the retries run out;
 * waits honour Retry-After (capped) and the abort signal. The one retry loop of every target:
 * the HTTP client uses it, and so do targets whose platform client is not fetch (gax, kubernetes).
 */
export async function withRetries<T>(what: string, fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (opts.signal?.aborted) throw interrupted(what, opts.signal)
      const d = opts.classify(err)
      if (!d.retry || attempt >= opts.retries) throw err
      const cap = opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS
      const waitMs = Math.min(cap, d.afterMs ?? opts.baseMs * 2 ** attempt)
      opts.onRetry?.({ what, attempt: attempt + 1, waitMs, reason: d.reason })
      await opts.clock.sleep(waitMs, opts.signal).catch(() => {
        throw interrupted(what, opts.signal)
      })
    }
  }
}

export function interrupted(what: string, signal?: AbortSignal): MlxError {
  const reason = signal?.reason as Error | undefined
  if (reason instanceof MlxError) return reason
  return new MlxError('DEPLOY_FAILED', `${what}: interrupted${reason?.message ? ` (${reason.message})` : ''}.`, {
    hint: 'nothing more was sent; the platform may still finish what it was asked to do: `mlx status` shows where things stand.',
  })
}
