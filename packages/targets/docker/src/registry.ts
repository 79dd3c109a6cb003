/**
 * A client for the OCI distribution API (distribution-spec v1.1), enough to pull a base image and
 * push one: token auth from the 401 challenge, HEAD before upload, cross-repository mount,
 * monolithic and chunked (resumable) uploads, retries with backoff on 5xx/429/network errors.
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { retryAfterMs, sleep, type Logger } from '@mlx/core'
import { basicHeader, parseWwwAuthenticate, type BasicCredentials, type Challenge } from './auth.js'
import { checkDigest, MANIFEST_ACCEPT, sha256 } from './oci.js'
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

export interface RegistryClientOptions {
  /** The registry as written in references: ghcr.io, docker.io, 127.0.0.1:5000. */
  readonly registry: string
  /** Allow plain HTTP for a registry that is not on loopback. */
  readonly insecure?: boolean
  readonly credentials?: BasicCredentials
  readonly log: Logger
  readonly signal?: AbortSignal
  /** Attempts per request on 5xx/429/connection errors (default 5), and whole-blob restarts. */
  readonly attempts?: number
  /** First backoff delay; doubles per attempt (default 500 ms, capped at 20 s). */
  readonly backoffMs?: number
  /** Blobs larger than this go up in PATCH chunks of this size (default 16 MiB). */
  readonly chunkSize?: number
  /** Per-request timeout (default 5 minutes). */
  readonly timeoutMs?: number
}

export interface PushStats {
  /** Blobs sent over the wire, and their bytes. */
  uploaded: number
  uploadedBytes: number
  /** Blobs the registry copied from another repository on its side. */
  mounted: number
  /** Blobs the registry already had (HEAD 200). */
  existing: number
  /** Requests retried after a 5xx/429/connection error, and blob uploads restarted or resumed. */
  retries: number
}

interface RequestInit {
  readonly headers?: Record<string, string>
  readonly body?: Buffer
  /** Retry on 5xx/429/network errors (default true). Chunk PATCHes handle failures themselves. */
  readonly retry?: boolean
  /** Repository scopes this call needs, e.g. 'repository:a/b:pull,push'. */
  readonly scopes?: readonly string[]
}

const RETRYABLE = (status: number) => status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505)
const NET_ERRORS: Record<string, string> = {
  UND_ERR_SOCKET: 'the connection was closed',
  ECONNRESET: 'the connection was reset',
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
}

/** fetch's "fetch failed" says nothing: name what happened on the wire. */
export function networkReason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (e.name === 'TimeoutError') return 'timed out'
  const code = e.cause?.code
  if (code) return NET_ERRORS[code] ? `${NET_ERRORS[code]} (${code})` : `${e.cause?.message ?? code} (${code})`
  return e.cause?.message ?? e.message
}

/** Strips query strings (upload state, signed URLs) from what gets logged. */
const forLog = (url: string) => url.replace(/\?.*$/, '')

export class RegistryClient {
  readonly base: string
  readonly stats: PushStats = { uploaded: 0, uploadedBytes: 0, mounted: 0, existing: 0, retries: 0 }
  private readonly attempts: number
  private readonly backoffMs: number
  private readonly chunkSize: number
  private readonly timeoutMs: number
  private challenge?: Challenge
  private authorization?: string
  private tokenScopes = new Set<string>()
  private wantedScopes = new Set<string>()

  constructor(private readonly opts: RegistryClientOptions) {
    const plain = opts.insecure || isLoopback(opts.registry)
    this.base = `${plain ? 'http' : 'https'}://${apiHost(opts.registry)}`
    this.attempts = Math.max(1, opts.attempts ?? 5)
    this.backoffMs = opts.backoffMs ?? 500
    this.chunkSize = opts.chunkSize ?? 16 * 1024 * 1024
    this.timeoutMs = opts.timeoutMs ?? 5 * 60_000
  }

  get registry(): string {
    return this.opts.registry
  }

  // ---- transport ----------------------------------------------------------------------------

  private delay(attempt: number, res?: Response): number {
    const after = res ? retryAfterMs(res.headers.get('retry-after'), { capMs: 60_000 }) : undefined
    return after ?? Math.min(this.backoffMs * 2 ** attempt, 20_000)
  }

  private url(pathOrUrl: string): string {
    return new URL(pathOrUrl, this.base).toString()
  }

  /** One HTTP exchange with manual redirects: Authorization never goes to another host. */
  private async send(method: string, url: string, init: RequestInit): Promise<Response> {
    let current = url
    for (let hop = 0; hop < 6; hop++) {
      const sameHost = new URL(current).host === new URL(this.base).host
      const headers: Record<string, string> = { 'User-Agent': 'mlx-target-docker/0.1', ...init.headers }
      if (sameHost && this.authorization) headers.Authorization = this.authorization
      const signal = this.opts.signal ? AbortSignal.any([this.opts.signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs)
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
   * A request with auth and retries: a 401 fetches a token for the challenge (once per call);
   * 5xx, 429 and dropped connections are retried with exponential backoff (Retry-After wins).
   */
  async request(method: string, pathOrUrl: string, init: RequestInit = {}): Promise<Response> {
    for (const s of init.scopes ?? []) this.wantedScopes.add(s)
    if (this.challenge?.scheme === 'bearer' && [...this.wantedScopes].some((s) => !this.tokenScopes.has(s))) await this.authenticate()
    const url = this.url(pathOrUrl)
    let reauthed = false
    for (let attempt = 0; ; attempt++) {
      let res: Response
      try {
        res = await this.send(method, url, init)
      } catch (err) {
        if (this.opts.signal?.aborted) throw err
        const msg = networkReason(err)
        if (init.retry === false || attempt + 1 >= this.attempts) throw new RegistryError(`${method} ${forLog(url)} failed: ${msg}`)
        this.stats.retries++
        this.opts.log.warn(`registry: ${method} ${forLog(url)} failed (${msg}); retrying (${attempt + 1}/${this.attempts - 1})`)
        await sleep(this.delay(attempt), this.opts.signal)
        continue
      }
      if (res.status === 401 && !reauthed) {
        reauthed = true
        const header = res.headers.get('www-authenticate')
        await res.body?.cancel()
        if (!header) throw new RegistryError(`${method} ${forLog(url)}: 401 without a WWW-Authenticate challenge`, 401, 'UNAUTHORIZED')
        const ch = parseWwwAuthenticate(header).find((c) => c.scheme === 'bearer' || c.scheme === 'basic')
        if (!ch) throw new RegistryError(`${this.opts.registry} asks for an unsupported auth scheme: ${header.split(' ')[0]}`, 401, 'UNAUTHORIZED')
        this.challenge = ch
        if (ch.params.scope) for (const s of ch.params.scope.split(' ')) if (s) this.wantedScopes.add(s)
        await this.authenticate()
        attempt--
        continue
      }
      if (RETRYABLE(res.status) && init.retry !== false && attempt + 1 < this.attempts) {
        const wait = this.delay(attempt, res)
        await res.body?.cancel()
        this.stats.retries++
        this.opts.log.warn(`registry: ${method} ${forLog(url)} answered ${res.status}; retrying in ${(wait / 1000).toFixed(1)}s (${attempt + 1}/${this.attempts - 1})`)
        await sleep(wait, this.opts.signal)
        continue
      }
      return res
    }
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
      this.authorization = basicHeader(creds)
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
    const fetchToken = async (withCreds: boolean) => {
      const headers: Record<string, string> = { 'User-Agent': 'mlx-target-docker/0.1', Accept: 'application/json' }
      const post = withCreds && identity
      if (post) headers['Content-Type'] = 'application/x-www-form-urlencoded'
      else if (withCreds && creds) headers.Authorization = basicHeader(creds)
      for (let attempt = 0; ; attempt++) {
        let res: Response
        try {
          res = await fetch(post ? new URL(realm) : tokenUrl, { method: post ? 'POST' : 'GET', headers, ...(post ? { body: oauthForm() } : {}), signal: AbortSignal.timeout(60_000) })
        } catch (err) {
          if (attempt + 1 >= this.attempts) throw new RegistryError(`token service ${tokenUrl.origin} unreachable: ${networkReason(err)}`)
          await sleep(this.delay(attempt), this.opts.signal)
          continue
        }
        if (RETRYABLE(res.status) && attempt + 1 < this.attempts) {
          await res.body?.cancel()
          await sleep(this.delay(attempt, res), this.opts.signal)
          continue
        }
        return res
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
    this.authorization = `Bearer ${token}`
    this.tokenScopes = new Set(scopes)
    this.opts.log.debug(`registry: ${anonymous ? 'anonymous' : 'authenticated'} token from ${tokenUrl.origin} for ${scopes.join(' ')}`)
  }

  private async fail(res: Response, what: string): Promise<never> {
    let code: string | undefined
    let detail = ''
    try {
      const text = await res.text()
      const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] }
      const e = j.errors?.[0]
      code = e?.code
      detail = [e?.code, e?.message].filter(Boolean).join(': ')
    } catch {
      /* not JSON */
    }
    let hint = ''
    if (res.status === 401 || res.status === 403) hint = this.opts.credentials ? ` (credentials from ${this.opts.credentials.source})` : ' (no credentials found)'
    throw new RegistryError(`${what}: ${this.opts.registry} answered ${res.status}${detail ? ` ${detail}` : ''}${hint}`, res.status, code)
  }

  // ---- API ------------------------------------------------------------------------------------

  /** GET /v2/: reachable and speaking the distribution API (a 401 here just means auth comes later). */
  async ping(): Promise<void> {
    let res: Response
    try {
      res = await this.send('GET', this.url('/v2/'), {})
    } catch (err) {
      throw new RegistryError(`cannot reach ${this.base}/v2/ (${networkReason(err)})`)
    }
    await res.body?.cancel()
    if (res.status === 401) {
      const ch = parseWwwAuthenticate(res.headers.get('www-authenticate') ?? '').find((c) => c.scheme === 'bearer' || c.scheme === 'basic')
      if (ch) this.challenge = ch
      if (ch?.scheme === 'basic' && this.opts.credentials) this.authorization = basicHeader(this.opts.credentials)
      return
    }
    if (res.status !== 200) throw new RegistryError(`${this.base}/v2/ answered ${res.status}: not an OCI registry?`, res.status)
  }

  async getManifest(repo: string, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [`repository:${repo}:pull`] })
    if (res.status !== 200) await this.fail(res, `reading manifest ${repo}:${reference}`)
    const bytes = Buffer.from(await res.arrayBuffer())
    const digest = sha256(bytes)
    if (reference.startsWith('sha256:') && digest !== reference) throw new RegistryError(`manifest ${repo}@${reference} does not match its digest (got ${digest})`)
    const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? res.headers.get('content-type')?.split(';')[0] ?? ''
    return { bytes, mediaType, digest }
  }

  async hasManifest(repo: string, reference: string): Promise<string | undefined> {
    const res = await this.request('HEAD', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [`repository:${repo}:pull`] })
    await res.body?.cancel()
    if (res.status === 404) return undefined
    if (res.status !== 200) await this.fail(res, `checking manifest ${repo}:${reference}`)
    return res.headers.get('docker-content-digest') ?? reference
  }

  async getBlob(repo: string, digest: string): Promise<Buffer> {
    const res = await this.request('GET', `/v2/${repo}/blobs/${checkDigest(digest)}`, { scopes: [`repository:${repo}:pull`] })
    if (res.status !== 200) await this.fail(res, `reading blob ${digest.slice(0, 19)} of ${repo}`)
    const bytes = Buffer.from(await res.arrayBuffer())
    if (sha256(bytes) !== digest) throw new RegistryError(`blob ${digest} of ${repo} does not match its digest`)
    return bytes
  }

  /** Streams a blob to `file`, checking its digest; restarts the download after a broken stream. */
  async downloadBlob(repo: string, digest: string, file: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.request('GET', `/v2/${repo}/blobs/${checkDigest(digest)}`, { scopes: [`repository:${repo}:pull`] })
        if (res.status !== 200 || !res.body) await this.fail(res, `reading blob ${digest.slice(0, 19)} of ${repo}`)
        const h = createHash('sha256')
        let n = 0
        const tap = new Transform({
          transform(chunk: Buffer, _e, cb) {
            h.update(chunk)
            n += chunk.length
            cb(null, chunk)
          },
        })
        await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), tap, createWriteStream(file))
        if (`sha256:${h.digest('hex')}` !== digest) throw new RegistryError(`blob ${digest} of ${repo} does not match its digest`)
        return n
      } catch (err) {
        await rm(file, { force: true })
        if (err instanceof RegistryError && err.status !== undefined && !RETRYABLE(err.status)) throw err
        if (attempt + 1 >= this.attempts || this.opts.signal?.aborted) throw err
        this.stats.retries++
        this.opts.log.warn(`registry: download of ${digest.slice(0, 19)} broke off (${(err as Error).message}); starting it again`)
        await sleep(this.delay(attempt), this.opts.signal)
      }
    }
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${checkDigest(digest)}`, { scopes: [`repository:${repo}:pull,push`] })
    await res.body?.cancel()
    if (res.status === 200) return true
    if (res.status === 404) return false
    return this.fail(res, `checking blob ${digest.slice(0, 19)} in ${repo}`)
  }

  /**
   * Asks the registry to copy a blob from another of its repositories. Returns true when it did
   * (201); false when it started an upload instead or refused (the caller uploads then).
   */
  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    const q = `mount=${encodeURIComponent(checkDigest(digest))}&from=${encodeURIComponent(from)}`
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?${q}`, { scopes: [`repository:${repo}:pull,push`, `repository:${from}:pull`] })
    await res.body?.cancel()
    if (res.status === 201) {
      this.stats.mounted++
      return true
    }
    if (res.status === 202) {
      // An upload session we will not use: cancel it so the registry can drop it.
      const loc = res.headers.get('location')
      if (loc) await this.request('DELETE', loc, { retry: false }).then((r) => r.body?.cancel(), () => undefined)
    }
    return false
  }

  private async startUpload(repo: string): Promise<string> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { scopes: [`repository:${repo}:pull,push`] })
    await res.body?.cancel()
    const loc = res.headers.get('location')
    if (res.status !== 202 || !loc) await this.fail(res, `starting an upload to ${repo}`)
    return this.url(loc!)
  }

  /** Appends ?digest= to an upload URL that may already carry a query (registries keep state there). */
  private static withDigest(loc: string, digest: string): string {
    return `${loc}${loc.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`
  }

  /**
   * Uploads a blob read from `file`: one PUT when it fits in a chunk, PATCH chunks otherwise. A
   * failed chunk asks the registry how far it got (GET on the upload URL) and resumes there; a lost
   * session starts the blob again. `attempts` bounds both.
   */
  async uploadBlob(repo: string, digest: string, size: number, file: string): Promise<void> {
    checkDigest(digest)
    const fh = await open(file, 'r')
    const read = async (offset: number, length: number) => {
      const buf = Buffer.alloc(length)
      const { bytesRead } = await fh.read(buf, 0, length, offset)
      if (bytesRead !== length) throw new Error(`${file}: short read`)
      return buf
    }
    try {
      for (let restart = 0; ; restart++) {
        try {
          let loc = await this.startUpload(repo)
          let res: Response
          if (size <= this.chunkSize) {
            // No per-request retry: after a failure the session's state is unknown, so the blob restarts.
            res = await this.request('PUT', RegistryClient.withDigest(loc, digest), { headers: { 'Content-Type': 'application/octet-stream' }, body: await read(0, size), retry: false })
          } else {
            loc = await this.uploadChunks(repo, loc, size, read)
            res = await this.request('PUT', RegistryClient.withDigest(loc, digest), { headers: { 'Content-Type': 'application/octet-stream' }, retry: false })
          }
          await res.body?.cancel()
          if (res.status !== 201) await this.fail(res, `finishing the upload of ${digest.slice(0, 19)} to ${repo}`)
          const got = res.headers.get('docker-content-digest')
          if (got && got !== digest) throw new RegistryError(`${this.opts.registry} stored ${digest} as ${got}`)
          this.stats.uploaded++
          this.stats.uploadedBytes += size
          return
        } catch (err) {
          if (this.opts.signal?.aborted) throw err
          const status = err instanceof RegistryError ? err.status : undefined
          // 401/403/400-class answers will not change by trying again; lost sessions and 5xx may.
          const again = status === undefined || RETRYABLE(status) || status === 404 || status === 416
          if (!again || restart + 1 >= this.attempts) throw err
          this.stats.retries++
          this.opts.log.warn(`registry: upload of ${digest.slice(0, 19)} failed (${(err as Error).message}); starting it again`)
          await sleep(this.delay(restart), this.opts.signal)
        }
      }
    } finally {
      await fh.close()
    }
  }

  private async uploadChunks(repo: string, start: string, size: number, read: (o: number, n: number) => Promise<Buffer>): Promise<string> {
    let loc = start
    let offset = 0
    let failures = 0
    while (offset < size) {
      const length = Math.min(this.chunkSize, size - offset)
      let failure: string
      try {
        const res = await this.request('PATCH', loc, {
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + length - 1}` },
          body: await read(offset, length),
          retry: false,
        })
        await res.body?.cancel()
        if (res.status === 202 && res.headers.get('location')) {
          loc = this.url(res.headers.get('location')!)
          offset += length
          failures = 0
          continue
        }
        if (!RETRYABLE(res.status) && res.status !== 416) await this.fail(res, `uploading a chunk of a blob to ${repo}`)
        failure = `answered ${res.status}`
      } catch (err) {
        if (err instanceof RegistryError && err.status !== undefined) throw err
        if (this.opts.signal?.aborted) throw err
        failure = (err as Error).message
      }
      // Where does the upload stand? (distribution-spec: GET <location> → 204, Range: 0-<last>)
      if (++failures >= this.attempts) throw new RegistryError(`uploading to ${repo} kept failing at byte ${offset} (${failure})`)
      this.stats.retries++
      await sleep(this.delay(failures - 1), this.opts.signal)
      const st = await this.request('GET', loc)
      await st.body?.cancel()
      if (st.status !== 204) throw new RegistryError(`upload session to ${repo} lost after a failed chunk (${failure}; status ${st.status})`, st.status === 404 ? 404 : undefined)
      const range = /^(?:bytes=)?0-(\d+)$/.exec(st.headers.get('range') ?? '')
      const end = range ? Number(range[1]) : -1
      // "0-0" is how distribution says "nothing yet" as well as "one byte": chunks are larger than one byte.
      offset = end <= 0 ? 0 : end + 1
      if (st.headers.get('location')) loc = this.url(st.headers.get('location')!)
      this.opts.log.warn(`registry: chunk upload ${failure}; resuming at byte ${offset} of ${size}`)
    }
    return loc
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.request('PUT', `/v2/${repo}/manifests/${reference}`, { headers: { 'Content-Type': mediaType }, body: bytes, scopes: [`repository:${repo}:pull,push`] })
    await res.body?.cancel()
    if (res.status !== 201 && res.status !== 200) await this.fail(res, `writing manifest ${repo}:${reference}`)
    const expected = sha256(bytes)
    const got = res.headers.get('docker-content-digest')
    if (got && got !== expected) throw new RegistryError(`${this.opts.registry} stored the manifest as ${got}, expected ${expected}`)
    return expected
  }
}
