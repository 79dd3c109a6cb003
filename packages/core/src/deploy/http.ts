import { AsyncLocalStorage } from 'node:async_hooks'
import { MlxError, type ErrorCode } from '../errors.js'
import type { Logger } from '../types.js'
import { retryAfterMs } from '../wait.js'
import type { Clock } from './clock.js'
import type { Redactor } from './redact.js'
import { interrupted, withRetries, type RetryDecision, type RetryInfo } from './retry.js'

/** A request body as fetch takes it. */
export type Body = NonNullable<RequestInit['body']>

/** What a platform's fetch is: a binding in the container, so a test can substitute it. */
export type Fetch = typeof globalThis.fetch

export interface HttpClientOptions {
  /** The platform, as users call it: errors read "UbiOps GET /projects/x: …". */
  readonly platform: string
  /** Prefix for relative paths. */
  readonly baseUrl?: string
  /** Sent with every request; values of authorization-like headers are registered as secrets. */
  readonly headers?: Readonly<Record<string, string>>
  /** Retries after the first attempt (default: the target's `retries` setting, else 4). */
  readonly retries?: number
  /** First backoff (default: the target's `retryBaseMs`, else 1000 ms). */
  readonly retryBaseMs?: number
  readonly maxRetryWaitMs?: number
  /** Per attempt: connect, headers and body (default: the target's `requestTimeoutSeconds`, else 30 s). */
  readonly timeoutMs?: number
  /** The setting a user raises when calls time out, named in the error. */
  readonly timeoutSetting?: string
  /** A platform-specific hint for a failed call (a 401 means which token, a 403 which role). */
  readonly hint?: (err: ApiError) => string | undefined
  /** Statuses that end a deploy as a credentials problem (default 401 and 403). */
  readonly credentialStatuses?: readonly number[]
}

export interface HttpRequest {
  readonly method?: string
  /** Absolute, or relative to baseUrl. */
  readonly path: string
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>
  readonly headers?: Readonly<Record<string, string>>
  readonly json?: unknown
  /** A body, or a function making one per attempt (FormData and streams cannot be sent twice). */
  readonly body?: Body | (() => Body | Promise<Body>)
  readonly timeoutMs?: number
  /**
   * 'auto' (default): GET/HEAD/PUT/DELETE/OPTIONS retry network errors, timeouts, 408, 429 and
   * 5xx; other methods only 429 (the server said it did nothing). 'always' treats the call as
   * idempotent; 'never' makes one attempt.
   */
  readonly retry?: 'auto' | 'always' | 'never'
  /** Statuses returned to the caller instead of thrown (2xx always are), e.g. [404]. */
  readonly accept?: readonly number[]
  /** Names the call in messages instead of METHOD PATH (e.g. a GraphQL operation). */
  readonly what?: string
}

export interface HttpResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  json<T = unknown>(): T
}

/** A call that failed with an HTTP status, after its retries. Message and body are redacted. */
export class ApiError extends MlxError {
  readonly status: number
  readonly method: string
  readonly url: string
  readonly body: string
  constructor(opts: { code: ErrorCode; message: string; hint?: string; status: number; method: string; url: string; body: string }) {
    super(opts.code, opts.message, { hint: opts.hint })
    this.status = opts.status
    this.method = opts.method
    this.url = opts.url
    this.body = opts.body
  }

  /** The platform's own message, from the usual JSON error fields, else the start of the body. */
  get detail(): string {
    return errorDetail(this.body)
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])
const RETRYABLE_STATUS = (s: number) => s === 408 || s === 429 || (s >= 500 && s !== 501 && s !== 505)
const DETAIL_MAX = 300

const NET_ERRORS: Record<string, string> = {
  UND_ERR_SOCKET: 'the connection was closed',
  ECONNRESET: 'the connection was reset',
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'timed out',
  EPIPE: 'the connection was closed',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the answer stalled',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
}

/** fetch's "fetch failed" says nothing: name what happened on the wire. */
export function networkReason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (e?.name === 'TimeoutError') return 'timed out'
  const code = e?.cause?.code ?? (e as { code?: string })?.code
  if (code && NET_ERRORS[code]) return `${NET_ERRORS[code]} (${code})`
  return e?.cause?.message ?? e?.message ?? String(err)
}

/** The platform's message from a JSON error body ({error}, {message}, {detail}, {errors:[{message}]}), else its first characters. */
export function errorDetail(text: string): string {
  try {
    const b = JSON.parse(text) as Record<string, unknown>
    const errors = Array.isArray(b.errors) ? (b.errors as { message?: unknown }[]).map((e) => e?.message).filter(Boolean) : []
    const nested = b.error && typeof b.error === 'object' ? (b.error as { message?: unknown }).message : undefined
    const d = nested ?? b.error ?? b.error_message ?? b.detail ?? b.message ?? (errors.length ? errors.join('; ') : undefined)
    if (d !== undefined && d !== null) return (typeof d === 'string' ? d : JSON.stringify(d)).slice(0, DETAIL_MAX)
  } catch {
    // not JSON
  }
  return text.trim().slice(0, DETAIL_MAX)
}

const SECRET_HEADER = /^(authorization|proxy-authorization|x-api-key|api-key|project-access-token|x-auth-token|cookie)$/i

class Timeout extends Error {
  override name = 'TimeoutError'
}

/**
 * A deadline wider than one call's, for the calls made inside it: a wait's looks run in one
 * (ctx.waitUntil), so a look that hangs ends when the wait's time is up, not at the call's own
 * timeout after all its retries. Its abort reason is what the call throws.
 */
export const callScope = new AsyncLocalStorage<AbortSignal>()

/**
 * The reason a call scope is aborted with: the first call it cuts names itself in `call`, and
 * whoever owns the scope words the final message, so that code between the two (a look that
 * records what it threw) sees the same error object go by.
 */
export class CallCut extends MlxError {
  call?: string

  finish(message: string, hint: string): this {
    return Object.assign(this, { message, hint })
  }
}

/** The scope's reason, naming the call it cut. */
export function cutShort(scope: AbortSignal, call: string): unknown {
  const r = scope.reason as unknown
  if (r instanceof CallCut) r.call ??= call
  return r
}
class RetryableStatus extends Error {
  constructor(readonly res: HttpResponse) {
    super(`HTTP ${res.status}`)
  }
}

/**
 * The HTTP client every platform API client is built on: one retry loop (backoff, Retry-After),
 * a deadline per attempt covering connect, headers and body, the deploy's abort signal, and
 * errors that name the platform, the call and the setting to raise, with every secret redacted.
 */
export class HttpClient {
  /** Requests retried so far, for the deploy summary. */
  retried = 0

  constructor(
    private readonly opts: HttpClientOptions,
    private readonly deps: { fetch: Fetch; clock: Clock; redactor: Redactor; log: Logger; signal: AbortSignal },
  ) {
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (SECRET_HEADER.test(k)) this.registerSecretHeader(v)
  }

  private registerSecretHeader(v: string) {
    this.deps.redactor.add(v)
    const token = /^\S+\s+(\S+)$/.exec(v)?.[1]
    if (token) this.deps.redactor.add(token)
  }

  get platform(): string {
    return this.opts.platform
  }

  redact(text: string): string {
    return this.deps.redactor.redact(text)
  }

  url(p: string, query?: HttpRequest['query']): string {
    const base = /^https?:\/\//.test(p) ? p : `${(this.opts.baseUrl ?? '').replace(/\/$/, '')}${p.startsWith('/') || !p ? p : `/${p}`}`
    const q = Object.entries(query ?? {}).filter(([, v]) => v !== undefined)
    if (!q.length) return base
    return `${base}${base.includes('?') ? '&' : '?'}${new URLSearchParams(q.map(([k, v]): [string, string] => [k, String(v)])).toString()}`
  }

  /** The call's response (2xx or an accepted status); throws ApiError or a network/timeout MlxError after its retries. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const method = (req.method ?? 'GET').toUpperCase()
    const url = this.url(req.path, req.query)
    const what = `${this.opts.platform} ${req.what ?? `${method} ${pathOf(url)}`}`
    const policy = req.retry ?? 'auto'
    const idempotent = policy === 'always' || (policy === 'auto' && IDEMPOTENT.has(method))
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs ?? 30_000
    for (const [k, v] of Object.entries(req.headers ?? {})) if (SECRET_HEADER.test(k)) this.registerSecretHeader(v)
    const headers: Record<string, string> = { accept: 'application/json', ...this.opts.headers, ...req.headers }
    if (req.json !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'

    const classify = (err: unknown): RetryDecision => {
      if (policy === 'never') return { retry: false, reason: '' }
      if (err instanceof RetryableStatus) {
        const st = err.res.status
        const ok = st === 429 || idempotent
        return { retry: ok, afterMs: retryAfterMs(err.res.headers.get('retry-after')), reason: st === 429 ? 'rate limited (429)' : `HTTP ${st}` }
      }
      if (err instanceof Timeout) return { retry: idempotent, reason: `no answer within ${timeoutMs / 1000}s` }
      if (err instanceof MlxError) return { retry: false, reason: '' }
      return { retry: idempotent, reason: networkReason(err) }
    }

    let res: HttpResponse
    try {
      res = await withRetries(
        what,
        async () => {
          const r = await this.attempt(what, method, url, headers, req, timeoutMs)
          if (r.status >= 200 && r.status < 300) return r
          if (req.accept?.includes(r.status)) return r
          if (RETRYABLE_STATUS(r.status)) throw new RetryableStatus(r)
          return r
        },
        {
          retries: this.opts.retries ?? 4,
          baseMs: this.opts.retryBaseMs ?? 1000,
          maxDelayMs: this.opts.maxRetryWaitMs,
          classify,
          clock: this.deps.clock,
          signal: this.deps.signal,
          onRetry: (info: RetryInfo) => {
            this.retried++
            this.deps.log.info(`  ${info.what}: ${info.reason}; retry ${info.attempt} in ${(info.waitMs / 1000).toFixed(1)}s`)
          },
        },
      )
    } catch (err) {
      if (err instanceof RetryableStatus) res = err.res
      else if (err instanceof MlxError) throw err
      else if (err instanceof Timeout) {
        throw new MlxError('DEPLOY_FAILED', `${what}: no answer within ${timeoutMs / 1000}s.`, {
          hint: `the ${this.opts.platform} API accepted the connection but did not answer; check its status, or raise ${this.opts.timeoutSetting ?? 'the request timeout'} for a slow network.`,
        })
      } else {
        throw new MlxError('DEPLOY_FAILED', `${what}: cannot reach ${originOf(url)}: ${this.redact(networkReason(err))}.`, {
          hint: `check the network and the ${this.opts.platform} API address, then run the same command again.`,
          cause: err,
        })
      }
    }
    if ((res.status >= 200 && res.status < 300) || req.accept?.includes(res.status)) return res
    throw this.failure(what, method, url, res)
  }

  /** request() and the body parsed as JSON (undefined for an empty body). */
  async json<T = unknown>(req: HttpRequest): Promise<T> {
    const res = await this.request(req)
    return res.json<T>()
  }

  private failure(what: string, method: string, url: string, res: HttpResponse): ApiError {
    const body = this.redact(res.text.slice(0, 4096))
    const detail = errorDetail(body)
    const credentials = (this.opts.credentialStatuses ?? [401, 403]).includes(res.status)
    const err = new ApiError({
      code: credentials ? 'CREDENTIALS_MISSING' : 'DEPLOY_FAILED',
      message: `${what}: HTTP ${res.status}${detail ? `: ${detail}` : ''}`,
      status: res.status,
      method,
      url: this.redact(url),
      body,
    })
    const hint =
      this.opts.hint?.(err) ??
      (res.status === 401
        ? `the ${this.opts.platform} API refused the credentials: check the token.`
        : res.status === 403
          ? `the ${this.opts.platform} credentials lack a permission for this call.`
          : res.status === 429
            ? `the ${this.opts.platform} API kept rate-limiting after ${this.opts.retries ?? 4} retries; wait a while and run the same command again.`
            : 'see the message above; the same command can be run again once it is fixed.')
    return Object.assign(err, { hint: this.redact(hint) }) as ApiError
  }

  private async attempt(what: string, method: string, url: string, headers: Record<string, string>, req: HttpRequest, timeoutMs: number): Promise<HttpResponse> {
    if (this.deps.signal.aborted) throw interrupted(`${this.opts.platform} ${method} ${pathOf(url)}`, this.deps.signal)
    const scope = callScope.getStore()
    if (scope?.aborted) throw cutShort(scope, what)
    const timer = new AbortController()
    const t = setTimeout(() => timer.abort(new Timeout()), timeoutMs)
    const signal = AbortSignal.any([this.deps.signal, timer.signal, ...(scope ? [scope] : [])])
    try {
      const body = typeof req.body === 'function' ? await req.body() : req.body ?? (req.json !== undefined ? JSON.stringify(req.json) : undefined)
      const r = await this.deps.fetch(url, { method, headers, body, signal, ...(isStream(body) ? { duplex: 'half' } : {}) } as RequestInit)
      const text = method === 'HEAD' ? '' : await r.text()
      return {
        status: r.status,
        headers: r.headers,
        text,
        json<T>() {
          if (!text) return undefined as T
          try {
            return JSON.parse(text) as T
          } catch {
            throw new MlxError('DEPLOY_FAILED', `${method} ${pathOf(url)}: the answer is not JSON: ${errorDetail(text).slice(0, 120)}`, { hint: 'check the API address: it may point at a web page or a proxy.' })
          }
        },
      }
    } catch (err) {
      if (this.deps.signal.aborted) throw interrupted(`${this.opts.platform} ${method} ${pathOf(url)}`, this.deps.signal)
      if (scope?.aborted) throw cutShort(scope, what)
      if (timer.signal.aborted) throw new Timeout()
      throw err
    } finally {
      clearTimeout(t)
    }
  }
}

const isStream = (b: unknown) => typeof b === 'object' && b !== null && typeof (b as { getReader?: unknown }).getReader === 'function'

function pathOf(url: string): string {
  try {
    const u = new URL(url)
    return u.pathname
  } catch {
    return url
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return url
  }
}
