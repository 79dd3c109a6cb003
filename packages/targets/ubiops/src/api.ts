import { openAsBlob } from 'node:fs'
import path from 'node:path'
import { MlxError, retryAfterMs, sleep, type Logger } from '@mlx/core'
import type { Field } from './spec.js'

export interface UbiopsDeployment {
  name: string
  input_type: string
  output_type: string
  input_fields: Field[]
  output_fields: Field[]
  default_version?: string | null
  [k: string]: unknown
}
export interface UbiopsVersion {
  version: string
  status?: string
  creation_date?: string
  active_revision?: string | null
  environment?: string
  [k: string]: unknown
}
export interface UbiopsRevision {
  id: string
  status: string
  error_message?: string | null
  [k: string]: unknown
}
export interface UbiopsRequestResult {
  id?: string
  status: string
  result?: unknown
  error_message?: string | null
}

/** A non-2xx answer, with UbiOps' own message when the body has one. */
export class UbiopsApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${method} ${path} → ${status}${detail ? `: ${detail}` : ''}`)
  }
}

export interface ClientOptions {
  readonly baseUrl: string
  readonly token: string
  readonly project: string
  readonly log: Logger
  readonly signal?: AbortSignal
  readonly retries: number
  readonly retryBaseMs: number
}

/** Retry-After in seconds or as an HTTP date; bounded so a bad header cannot stall a deploy. */
export function retryDelay(header: string | null, attempt: number, baseMs: number): number {
  return Math.min(retryAfterMs(header) ?? baseMs * 2 ** attempt, 60_000)
}

function errorDetail(text: string): string {
  try {
    const b = JSON.parse(text) as Record<string, unknown>
    const d = b.error ?? b.error_message ?? b.detail ?? b.message
    if (d !== undefined) return typeof d === 'string' ? d : JSON.stringify(d)
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 300)
}

/**
 * The UbiOps REST API v2.1 over fetch (UbiOps publishes no npm client). The token goes in the
 * Authorization header only: never in a message, a log line or an error.
 */
export class UbiopsClient {
  readonly retried = { count: 0 }
  constructor(private readonly opts: ClientOptions) {}

  private url(p: string, query?: Record<string, string>) {
    const qs = query ? `?${new URLSearchParams(query).toString()}` : ''
    return `${this.opts.baseUrl}${p}${qs}`
  }

  get projectPath() {
    return `/projects/${encodeURIComponent(this.opts.project)}`
  }

  deploymentPath(d: string) {
    return `${this.projectPath}/deployments/${encodeURIComponent(d)}`
  }

  async call<T>(method: string, p: string, opts: { json?: unknown; form?: () => Promise<FormData>; query?: Record<string, string>; timeoutMs?: number } = {}): Promise<T> {
    // POSTs are retried only when the server says it did nothing (429), never on a 5xx that may have created something.
    const idempotent = method !== 'POST'
    for (let attempt = 0; ; attempt++) {
      let res: Response
      try {
        const body = opts.form ? await opts.form() : opts.json !== undefined ? JSON.stringify(opts.json) : undefined
        const headers: Record<string, string> = { Authorization: this.opts.token.startsWith('Token ') ? this.opts.token : `Token ${this.opts.token}`, Accept: 'application/json' }
        if (opts.json !== undefined) headers['Content-Type'] = 'application/json'
        const signals = [this.opts.signal, opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined].filter((s): s is AbortSignal => !!s)
        res = await fetch(this.url(p, opts.query), { method, headers, body, signal: signals.length ? AbortSignal.any(signals) : undefined })
      } catch (err) {
        if (this.opts.signal?.aborted) throw err
        if (idempotent && attempt < this.opts.retries) {
          const wait = retryDelay(null, attempt, this.opts.retryBaseMs)
          this.opts.log.info(`UbiOps API unreachable (${(err as Error).message}); retrying in ${Math.round(wait / 100) / 10}s`)
          this.retried.count++
          await sleep(wait, this.opts.signal)
          continue
        }
        throw new MlxError('DEPLOY_FAILED', `cannot reach the UbiOps API at ${this.opts.baseUrl} (${method} ${p}): ${(err as Error).message}`, {
          hint: 'check the network, and targets.ubiops.apiUrl / UBIOPS_API_URL for a private installation.',
          cause: err,
        })
      }
      if (res.ok) {
        if (res.status === 204) return undefined as T
        const text = await res.text()
        return (text ? JSON.parse(text) : undefined) as T
      }
      const text = await res.text().catch(() => '')
      const retryable = res.status === 429 || (idempotent && (res.status === 502 || res.status === 503 || res.status === 504))
      if (retryable && attempt < this.opts.retries) {
        const wait = retryDelay(res.headers.get('retry-after'), attempt, this.opts.retryBaseMs)
        this.opts.log.info(`UbiOps API answered ${res.status}${res.status === 429 ? ' (rate limit)' : ''} to ${method} ${p}; retrying in ${Math.round(wait / 100) / 10}s (${attempt + 1}/${this.opts.retries})`)
        this.retried.count++
        await sleep(wait, this.opts.signal)
        continue
      }
      throw new UbiopsApiError(res.status, method, p, errorDetail(text))
    }
  }

  /** undefined on 404. */
  async getDeployment(d: string): Promise<UbiopsDeployment | undefined> {
    try {
      return await this.call<UbiopsDeployment>('GET', this.deploymentPath(d))
    } catch (err) {
      if (err instanceof UbiopsApiError && err.status === 404) return undefined
      throw err
    }
  }
  createDeployment(body: Record<string, unknown>) {
    return this.call<UbiopsDeployment>('POST', `${this.projectPath}/deployments`, { json: body })
  }
  updateDeployment(d: string, body: Record<string, unknown>) {
    return this.call<UbiopsDeployment>('PATCH', this.deploymentPath(d), { json: body })
  }
  listVersions(d: string) {
    return this.call<UbiopsVersion[]>('GET', `${this.deploymentPath(d)}/versions`)
  }
  getVersion(d: string, v: string) {
    return this.call<UbiopsVersion>('GET', `${this.deploymentPath(d)}/versions/${encodeURIComponent(v)}`)
  }
  createVersion(d: string, body: Record<string, unknown>) {
    return this.call<UbiopsVersion>('POST', `${this.deploymentPath(d)}/versions`, { json: body })
  }
  deleteVersion(d: string, v: string) {
    return this.call<void>('DELETE', `${this.deploymentPath(d)}/versions/${encodeURIComponent(v)}`)
  }
  uploadRevision(d: string, v: string, zip: string) {
    return this.call<{ success: boolean; revision: string; build?: string }>('POST', `${this.deploymentPath(d)}/versions/${encodeURIComponent(v)}/revisions`, {
      form: async () => {
        const fd = new FormData()
        fd.set('file', await openAsBlob(zip, { type: 'application/zip' }), path.basename(zip))
        return fd
      },
    })
  }
  getRevision(d: string, v: string, id: string) {
    return this.call<UbiopsRevision>('GET', `${this.deploymentPath(d)}/versions/${encodeURIComponent(v)}/revisions/${encodeURIComponent(id)}`)
  }
  /**
   * A file for a request's file field: UbiOps answers with a signed URL the bytes are PUT to
   * (without the API token), and the field's value is then ubiops-file://<bucket>/<file>.
   */
  async uploadFile(bucket: string, file: string, bytes: Buffer): Promise<string> {
    const p = `${this.projectPath}/buckets/${encodeURIComponent(bucket)}/files/${file.split('/').map(encodeURIComponent).join('/')}`
    const { url, provider } = await this.call<{ url: string; provider?: string }>('POST', p, { json: {} })
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' }
    if (provider === 'azure') headers['x-ms-blob-type'] = 'BlockBlob'
    const res = await fetch(url, { method: 'PUT', headers, body: bytes, signal: this.opts.signal })
    if (!res.ok) throw new UbiopsApiError(res.status, 'PUT', `(signed upload URL for ${bucket}/${file})`, errorDetail(await res.text().catch(() => '')))
    return `ubiops-file://${bucket}/${file}`
  }
  versionRequest(d: string, v: string, data: unknown, timeoutSeconds: number) {
    return this.call<UbiopsRequestResult>('POST', `${this.deploymentPath(d)}/versions/${encodeURIComponent(v)}/requests`, {
      json: data,
      query: { timeout: String(timeoutSeconds) },
      timeoutMs: (timeoutSeconds + 30) * 1000,
    })
  }
}
