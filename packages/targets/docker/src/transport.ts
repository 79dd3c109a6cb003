/**
 * How the registry client talks to a registry: the 401 challenge, the token service (a password
 * as Basic auth on a GET, an identity token as an OAuth2 refresh-token POST) or plain Basic auth,
 * redirects that never carry Authorization to another host, a timeout per request, and retries
 * through core's one retry loop with the backoff registries are used to.
 */
import { networkReason, retryAfterMs, systemClock, withRetries, type Logger, type RetryDecision, type RetryInfo } from '@mlx/core'
import { basicHeader, parseWwwAuthenticate, type BasicCredentials, type Challenge } from './auth.js'
import { apiHost, isLoopback } from './reference.js'

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message)
    this.name = 'RegistryError'
  }
}

export interface TransportOptions {
  readonly registry: string
  readonly insecure?: boolean
  readonly credentials?: BasicCredentials
  readonly log: Logger
  readonly signal?: AbortSignal
  /** Attempts per request, and per whole-blob restart or chunk resume. */
  readonly attempts: number
  readonly backoffMs: number
  readonly timeoutMs: number
  /** A registry request was retried (PushStats.retries). */
  readonly onRetry?: () => void
  /** Called with every credential the transport sends (a token service's token, a Basic pair), so output can mask it. */
  readonly secret?: (value: string) => void
}

export interface RegistryRequest {
  readonly headers?: Record<string, string>
  readonly body?: Buffer
  /** Retry on 5xx/429/network errors (default true). Chunk PATCHes handle failures themselves. */
  readonly retry?: boolean
  /** Repository scopes this call needs, e.g. 'repository:a/b:pull,push'. */
  readonly scopes?: readonly string[]
}

export const RETRYABLE = (status: number) => status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505)

/** Retry-After is obeyed up to a minute; our own backoff stops doubling at 20 s. */
const RETRY_AFTER_CAP_MS = 60_000
const BACKOFF_CAP_MS = 20_000
const TOKEN_TIMEOUT_MS = 60_000
const USER_AGENT = 'mlx-target-docker/0.1'

/** Strips query strings (upload state, signed URLs) from what gets logged. */
const forLog = (url: string) => url.replace(/\?.*$/, '')

/** What went wrong on the wire, in words; a timeout says how long we waited. */
export function wireReason(err: unknown, timeoutMs: number): string {
  return (err as Error)?.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : networkReason(err)
}

export const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err))

/** The connection failed before an answer arrived. */
class NetworkFailure extends Error {
  constructor(readonly reason: string) {
    super(reason)
  }
}
/** A status worth another try; the answer is read to its end so the caller still gets it when retries run out. */
class RetryableStatus extends Error {
  constructor(readonly res: Response) {
    super(`answered ${res.status}`)
  }
}

/**
 * One exchange for a retry loop: a dropped connection throws NetworkFailure, a retryable status
 * RetryableStatus, anything else is the answer.
 */
async function attempt(exchange: () => Promise<Response>, timeoutMs: number): Promise<Response> {
  let res: Response
  try {
    res = await exchange()
    if (!RETRYABLE(res.status)) return res
    const body = await res.arrayBuffer()
    res = new Response(body.byteLength ? body : null, { status: res.status, statusText: res.statusText, headers: res.headers })
  } catch (err) {
    throw new NetworkFailure(wireReason(err, timeoutMs))
  }
  throw new RetryableStatus(res)
}

const classify =
  (retry: boolean) =>
  (err: unknown): RetryDecision => {
    if (!retry) return { retry: false, reason: '' }
    if (err instanceof RetryableStatus) return { retry: true, afterMs: retryAfterMs(err.res.headers.get('retry-after')), reason: err.message }
    if (err instanceof NetworkFailure) return { retry: true, reason: `failed (${err.reason})` }
    return { retry: false, reason: '' }
  }

export class RegistryTransport {
  readonly base: string
  private challenge?: Challenge
  private authorization?: string
  private tokenScopes = new Set<string>()
  private wantedScopes = new Set<string>()

  constructor(private readonly opts: TransportOptions) {
    const plain = opts.insecure || isLoopback(opts.registry)
    this.base = `${plain ? 'http' : 'https'}://${apiHost(opts.registry)}`
  }

  url(pathOrUrl: string): string {
    return new URL(pathOrUrl, this.base).toString()
  }

  /**
   * Core's retry loop with the registry's policy: `attempts` in all, backoff doubling from
   * `backoffMs` unless the failure carries a Retry-After, and the client's abort signal.
   */
  retrying<T>(what: string, fn: (attempt: number) => Promise<T>, decide: (err: unknown) => RetryDecision, onRetry?: (info: RetryInfo) => void): Promise<T> {
    let current = 0
    return withRetries(
      what,
      (n) => {
        current = n
        return fn(n)
      },
      {
        retries: this.opts.attempts - 1,
        baseMs: this.opts.backoffMs,
        maxDelayMs: RETRY_AFTER_CAP_MS,
        clock: systemClock,
        signal: this.opts.signal,
        classify: (err) => {
          const d = decide(err)
          return d.retry && d.afterMs === undefined ? { ...d, afterMs: Math.min(this.opts.backoffMs * 2 ** current, BACKOFF_CAP_MS) } : d
        },
        onRetry,
      },
    )
  }

  /** One HTTP exchange with manual redirects: Authorization never goes to another host. */
  async send(method: string, url: string, init: RegistryRequest): Promise<Response> {
    let current = url
    for (let hop = 0; hop < 6; hop++) {
      const sameHost = new URL(current).host === new URL(this.base).host
      const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...init.headers }
      if (sameHost && this.authorization) headers.Authorization = this.authorization
      const timeout = AbortSignal.timeout(this.opts.timeoutMs)
      const signal = this.opts.signal ? AbortSignal.any([this.opts.signal, timeout]) : timeout
      const res = await fetch(current, { method, headers, body: init.body, redirect: 'manual', signal })
      this.opts.log.debug(`registry: ${method} ${forLog(current)} → ${res.status}`)
      if ([301, 302, 303, 307, 308].includes(res.status) && res.headers.get('location')) {
        await res.body?.cancel()
        current = new URL(res.headers.get('location')!, current).toString()
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) method = 'GET'
        continue
      }
      return res
    }
    throw new RegistryError(`${method} ${forLog(url)}: too many redirects`)
  }

  /**
   * A request with auth and retries: a 401 fetches a token for the challenge (once per call, not
   * counted as an attempt); 5xx, 429 and dropped connections are retried with backoff
   * (Retry-After wins). When the retries run out, the last answer is returned.
   */
  async request(method: string, pathOrUrl: string, init: RegistryRequest = {}): Promise<Response> {
    for (const s of init.scopes ?? []) this.wantedScopes.add(s)
    if (this.challenge?.scheme === 'bearer' && [...this.wantedScopes].some((s) => !this.tokenScopes.has(s))) await this.authenticate()
    const url = this.url(pathOrUrl)
    const what = `${method} ${forLog(url)}`
    const exchange = () => attempt(() => this.send(method, url, init), this.opts.timeoutMs)
    let reauthed = false
    try {
      return await this.retrying(
        `registry ${what}`,
        async () => {
          const res = await exchange()
          if (res.status !== 401 || reauthed) return res
          reauthed = true
          await this.answer(res, what)
          return exchange()
        },
        classify(init.retry !== false),
        (info) => {
          this.opts.onRetry?.()
          this.opts.log.warn(`registry: ${what} ${info.reason}; retrying in ${(info.waitMs / 1000).toFixed(1)}s (${info.attempt}/${this.opts.attempts - 1})`)
        },
      )
    } catch (err) {
      if (err instanceof RetryableStatus) return err.res
      if (err instanceof NetworkFailure) throw new RegistryError(`${what} failed: ${err.reason}`)
      throw err
    }
  }

  /**
   * A challenge seen before any call needs a token (the ping): Basic credentials go with every
   * request from then on; a bearer token is fetched when the first call says its scope.
   */
  noteChallenge(header: string | null): void {
    const ch = parseWwwAuthenticate(header ?? '').find((c) => c.scheme === 'bearer' || c.scheme === 'basic')
    if (ch) this.challenge = ch
    if (ch?.scheme === 'basic' && this.opts.credentials) this.useAuthorization(basicHeader(this.opts.credentials))
  }

  /** Sends `value` as Authorization from now on; it and the credential in it are secrets. */
  private useAuthorization(value: string): void {
    this.authorization = value
    this.opts.secret?.(value)
    this.opts.secret?.(value.slice(value.indexOf(' ') + 1))
  }

  /** Takes up a 401's challenge and authenticates for it. */
  private async answer(res: Response, what: string): Promise<void> {
    const header = res.headers.get('www-authenticate')
    await res.body?.cancel()
    if (!header) throw new RegistryError(`${what}: 401 without a WWW-Authenticate challenge`, 401, 'UNAUTHORIZED')
    const ch = parseWwwAuthenticate(header).find((c) => c.scheme === 'bearer' || c.scheme === 'basic')
    if (!ch) throw new RegistryError(`${this.opts.registry} asks for an unsupported auth scheme: ${header.split(' ')[0]}`, 401, 'UNAUTHORIZED')
    this.challenge = ch
    if (ch.params.scope) for (const s of ch.params.scope.split(' ')) if (s) this.wantedScopes.add(s)
    await this.authenticate()
  }

  /** Gets a token for every scope asked for so far (bearer), or uses the credentials (basic). */
  private async authenticate(): Promise<void> {
    const ch = this.challenge
    if (!ch) return
    const creds = this.opts.credentials
    const identity = creds?.kind === 'identity-token'
    if (ch.scheme === 'basic') {
      if (!creds) throw new RegistryError(`${this.opts.registry} needs a user name and password`, 401, 'UNAUTHORIZED')
      if (identity) throw new RegistryError(`${this.opts.registry} asks for Basic auth, but the credentials from ${creds.source} are an identity token (an OAuth2 refresh token for a token service): log in with a user name and password instead`, 401, 'UNAUTHORIZED')
      this.useAuthorization(basicHeader(creds))
      return
    }
    const realm = ch.params.realm
    if (!realm) throw new RegistryError(`${this.opts.registry}: bearer challenge without a realm`, 401, 'UNAUTHORIZED')
    const scopes = [...this.wantedScopes].sort()
    const tokenUrl = new URL(realm)
    if (tokenUrl.protocol !== 'https:' && !isLoopback(tokenUrl.host) && !this.opts.insecure) {
      throw new RegistryError(`${this.opts.registry} sends credentials to a plain-HTTP token service (${tokenUrl.origin}); refusing`, 401, 'UNAUTHORIZED')
    }
    if (ch.params.service) tokenUrl.searchParams.set('service', ch.params.service)
    for (const s of scopes) tokenUrl.searchParams.append('scope', s)
    // An identity token is exchanged as the distribution spec's OAuth2 flow says: a form POST with
    // grant_type=refresh_token to the realm; a password goes as Basic auth on a GET.
    const oauthForm = () =>
      new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds!.password,
        client_id: 'mlx',
        ...(ch.params.service ? { service: ch.params.service } : {}),
        ...(scopes.length ? { scope: scopes.join(' ') } : {}),
      }).toString()
    const fetchToken = async (withCreds: boolean): Promise<Response> => {
      const headers: Record<string, string> = { 'User-Agent': USER_AGENT, Accept: 'application/json' }
      const post = withCreds && identity
      if (post) headers['Content-Type'] = 'application/x-www-form-urlencoded'
      else if (withCreds && creds) headers.Authorization = basicHeader(creds)
      const exchange = () => fetch(post ? new URL(realm) : tokenUrl, { method: post ? 'POST' : 'GET', headers, ...(post ? { body: oauthForm() } : {}), signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS) })
      try {
        return await this.retrying(`token service ${tokenUrl.origin}`, () => attempt(exchange, TOKEN_TIMEOUT_MS), classify(true), (info) =>
          this.opts.log.debug(`registry: token service ${tokenUrl.origin} ${info.reason}; retrying in ${(info.waitMs / 1000).toFixed(1)}s`),
        )
      } catch (err) {
        if (err instanceof RetryableStatus) return err.res
        if (err instanceof NetworkFailure) throw new RegistryError(`token service ${tokenUrl.origin} unreachable: ${err.reason}`)
        throw err
      }
    }
    let res = await fetchToken(true)
    let anonymous = !creds
    // Credentials meant for another registry must not stop an anonymous pull of a public image.
    if ((res.status === 400 || res.status === 401 || res.status === 403) && creds && scopes.every((s) => s.endsWith(':pull'))) {
      await res.body?.cancel()
      res = await fetchToken(false)
      anonymous = true
    }
    if (!res.ok) {
      const what = !creds ? 'anonymous access' : identity ? `the identity token from ${creds.source}` : `the credentials from ${creds.source}`
      const why = identity ? ' (identity tokens expire: log in to the registry again)' : ''
      throw new RegistryError(`${this.opts.registry}: the token service refused ${what} (${res.status}) for ${scopes.join(' ')}${why}`, res.status, 'UNAUTHORIZED')
    }
    const body = (await res.json()) as { token?: string; access_token?: string }
    const token = body.token ?? body.access_token
    if (!token) throw new RegistryError(`${this.opts.registry}: the token service answered without a token`, 401, 'UNAUTHORIZED')
    this.useAuthorization(`Bearer ${token}`)
    this.tokenScopes = new Set(scopes)
    this.opts.log.debug(`registry: ${anonymous ? 'anonymous' : 'authenticated'} token from ${tokenUrl.origin} for ${scopes.join(' ')}`)
  }
}
