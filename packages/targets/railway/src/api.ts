/**
 * A small client for Railway's public GraphQL API (`POST {query, variables, operationName}`), on
 * the context's HTTP client: the handful of operations mlx needs do not justify a GraphQL library.
 * Every failure is an ApiError naming the operation, and the token is a registered secret.
 */
import { ApiError, type HttpClient, type HttpResponse, type TargetContext } from '@mlx/core'

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
}

export interface OperationOptions {
  /**
   * A mutation that sets state (the same call twice leaves the same result) is retried like a
   * query; one that creates something (a project, a deployment) only on 429, when Railway did nothing.
   */
  readonly idempotent?: boolean
}

interface GraphQLError {
  message?: string
  path?: (string | number)[]
  extensions?: { code?: string }
}

// GraphQL servers answer a refused query with 4xx and an `errors` body; those are read here so the
// message is Railway's own. 408 and 429 stay with the HTTP client, which retries them.
const CLIENT_ERRORS = Array.from({ length: 100 }, (_, i) => 400 + i).filter((s) => s !== 408 && s !== 429)

export class RailwayClient {
  readonly url: string
  readonly tokenKind: TokenKind
  private readonly token: RailwayToken
  private readonly http: HttpClient

  constructor(ctx: Pick<TargetContext<unknown>, 'http' | 'secret'>, opts: RailwayClientOptions) {
    this.url = opts.url
    this.token = opts.token
    this.tokenKind = opts.token.kind
    ctx.secret(opts.token.value)
    this.http = ctx.http({
      platform: 'Railway',
      headers: opts.token.kind === 'project' ? { 'project-access-token': opts.token.value } : { authorization: `Bearer ${opts.token.value}` },
      hint: (err) => hintFor(err.detail, opts.token, err.status),
    })
  }

  /** Requests retried so far (429, 5xx, network), for the deploy summary. */
  get retried(): number {
    return this.http.retried
  }

  /**
   * Runs one named operation. `query` must declare `operationName` (Railway's logs and rate
   * limits are per operation, and our errors say which one failed).
   */
  async request<T>(operationName: string, query: string, variables: Record<string, unknown> = {}, opts: OperationOptions = {}): Promise<T> {
    const repeatable = opts.idempotent ?? /^\s*query\b/.test(query)
    const res = await this.http.request({
      method: 'POST',
      path: this.url,
      json: { query, variables, operationName },
      what: operationName,
      retry: repeatable ? 'always' : 'auto',
      accept: CLIENT_ERRORS,
    })
    let payload: { data?: T; errors?: GraphQLError[] } | undefined
    try {
      payload = JSON.parse(res.text) as { data?: T; errors?: GraphQLError[] }
    } catch {
      payload = undefined
    }
    if (payload?.errors?.length) {
      const messages = payload.errors.map((e) => e.message ?? 'unknown error').join('; ')
      throw this.failure(operationName, res, messages)
    }
    if (res.status >= 300 || !payload || payload.data === undefined || payload.data === null) {
      throw this.failure(operationName, res, `HTTP ${res.status}${res.text ? `: ${res.text.slice(0, 300)}` : ''}`)
    }
    return payload.data
  }

  private failure(operation: string, res: HttpResponse, message: string): ApiError {
    return new ApiError({
      code: res.status === 401 || res.status === 403 ? 'CREDENTIALS_MISSING' : 'DEPLOY_FAILED',
      message: this.http.redact(`Railway ${operation}: ${message}`),
      hint: hintFor(message, this.token, res.status),
      status: res.status,
      method: 'POST',
      url: this.http.redact(this.url),
      body: this.http.redact(res.text.slice(0, 4096)),
    })
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
