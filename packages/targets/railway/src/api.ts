/**
 * A small client for Railway's public GraphQL API (`POST {query, variables, operationName}`).
 * Plain fetch: the handful of operations mlx needs do not justify a GraphQL library. Every failure
 * is an MlxError naming the operation, and nothing here ever prints the token.
 */
import { MlxError, retryAfterMs, sleep } from '@mlx/core'

export const DEFAULT_API_URL = 'https://backboard.railway.com/graphql/v2'

/** A project token is scoped to one project environment; an account/workspace token is not. */
export type TokenKind = 'project' | 'account'

export interface RailwayToken {
  readonly kind: TokenKind
  readonly value: string
  /** The env var it came from, for messages (never the value). */
  readonly source: string
}

export interface RailwayClientOptions {
  readonly url: string
  readonly token: RailwayToken
  readonly signal?: AbortSignal
  /** Retries for 429, 5xx and dropped connections. */
  readonly retries?: number
  /** First backoff step when the server gives no Retry-After; doubles per attempt. */
  readonly retryBaseMs?: number
  /** Longest single wait, whatever Retry-After says, so a deploy never hangs for an hour. */
  readonly maxRetryWaitMs?: number
  readonly onRetry?: (info: { operation: string; attempt: number; waitMs: number; reason: string }) => void
}

export class RailwayApiError extends MlxError {
  readonly operation: string
  readonly status?: number
  constructor(operation: string, message: string, opts: { hint: string; status?: number; cause?: unknown; code?: 'DEPLOY_FAILED' | 'CREDENTIALS_MISSING' }) {
    super(opts.code ?? 'DEPLOY_FAILED', `Railway ${operation}: ${message}`, { hint: opts.hint, cause: opts.cause })
    this.operation = operation
    this.status = opts.status
  }
}

interface GraphQLError {
  message?: string
  path?: (string | number)[]
  extensions?: { code?: string }
}

export class RailwayClient {
  readonly url: string
  readonly tokenKind: TokenKind
  private readonly opts: RailwayClientOptions
  /** Requests retried so far (429, 5xx, network), for the deploy summary. */
  retried = 0

  constructor(opts: RailwayClientOptions) {
    this.opts = opts
    this.url = opts.url
    this.tokenKind = opts.token.kind
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
    if (this.opts.token.kind === 'project') h['project-access-token'] = this.opts.token.value
    else h.authorization = `Bearer ${this.opts.token.value}`
    return h
  }

  /** The token never reaches a message: this is the last line of defence if a server echoes it. */
  private scrub(text: string): string {
    const v = this.opts.token.value
    return v.length >= 4 ? text.split(v).join('***') : text
  }

  /**
   * Runs one named operation. `query` must declare `operationName` (Railway's logs and rate
   * limits are per operation, and our errors say which one failed).
   */
  async request<T>(operationName: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const retries = this.opts.retries ?? 4
    const base = this.opts.retryBaseMs ?? 1000
    const cap = this.opts.maxRetryWaitMs ?? 60_000
    const body = JSON.stringify({ query, variables, operationName })
    for (let attempt = 0; ; attempt++) {
      let res: Response
      try {
        res = await fetch(this.url, { method: 'POST', headers: this.headers(), body, signal: this.opts.signal })
      } catch (err) {
        if (this.opts.signal?.aborted) throw err
        if (attempt < retries) {
          await this.backoff(operationName, attempt, Math.min(cap, base * 2 ** attempt), `network error: ${(err as Error).message}`)
          continue
        }
        throw new RailwayApiError(operationName, `could not reach ${this.url}: ${this.scrub((err as Error).message)}`, {
          hint: 'check the network (or RAILWAY_API_URL / targets.railway.apiUrl), then run the same command again.',
          cause: err,
        })
      }
      if ((res.status === 429 || res.status >= 500) && attempt < retries) {
        const wait = Math.min(cap, retryAfterMs(res.headers.get('retry-after')) ?? base * 2 ** attempt)
        await res.body?.cancel().catch(() => {})
        await this.backoff(operationName, attempt, wait, res.status === 429 ? 'rate limited (429)' : `HTTP ${res.status}`)
        continue
      }
      const text = await res.text()
      let payload: { data?: T; errors?: GraphQLError[] } | undefined
      try {
        payload = JSON.parse(text) as { data?: T; errors?: GraphQLError[] }
      } catch {
        payload = undefined
      }
      if (payload?.errors?.length) {
        const messages = payload.errors.map((e) => e.message ?? 'unknown error')
        throw new RailwayApiError(operationName, this.scrub(messages.join('; ')), { hint: hintFor(messages.join(' '), this.opts.token, res.status), status: res.status })
      }
      if (!res.ok || !payload || payload.data === undefined || payload.data === null) {
        throw new RailwayApiError(operationName, `HTTP ${res.status}${text ? `: ${this.scrub(text.slice(0, 300))}` : ''}`, {
          hint: hintFor(text, this.opts.token, res.status),
          status: res.status,
        })
      }
      return payload.data
    }
  }

  private async backoff(operation: string, attempt: number, waitMs: number, reason: string) {
    this.retried++
    this.opts.onRetry?.({ operation, attempt: attempt + 1, waitMs, reason })
    await sleep(waitMs, this.opts.signal)
  }
}

function hintFor(message: string, token: RailwayToken, status: number): string {
  if (status === 401 || status === 403 || /not authori[sz]ed|unauthori[sz]ed|invalid token|forbidden/i.test(message)) {
    return token.kind === 'project'
      ? `${token.source} is a project token: it must belong to the project and environment being deployed (Railway: project settings → Tokens). Use RAILWAY_API_TOKEN (an account or workspace token) to create projects.`
      : `check ${token.source} (Railway: account settings → Tokens); a workspace token only sees that workspace's projects.`
  }
  if (status === 429) return 'Railway rate-limited this token (100/1000/10000 requests an hour on Free/Hobby/Pro); wait a while and run the same command again.'
  if (/registry|credential|pull/i.test(message)) return 'Railway needs registry credentials for a private image (Pro plan): set targets.railway.privateImage and a read:packages token (see docs/railway.md).'
  return 'see the message above; the same command can be run again once it is fixed (every step is idempotent).'
}
