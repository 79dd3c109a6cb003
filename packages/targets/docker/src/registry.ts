/**
 * A client for the OCI distribution API (distribution-spec v1.1), enough to pull a base image and
 * push one: HEAD before upload, cross-repository mount, monolithic and chunked (resumable)
 * uploads, whole-blob restarts. Auth and per-request retries are the transport's (transport.ts).
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from '@mlx/core'
import type { BasicCredentials } from './auth.js'
import { checkDigest, MANIFEST_ACCEPT, sha256 } from './oci.js'
import { messageOf, RegistryError, RegistryTransport, RETRYABLE, wireReason, type RegistryRequest } from './transport.js'

export { RegistryError } from './transport.js'

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
  /** Gets every credential sent (see TransportOptions.secret). */
  readonly secret?: (value: string) => void
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

/** A chunk PATCH that failed in a way a resume may cure (dropped connection, 5xx, 416). */
class ChunkFailure extends Error {}

export class RegistryClient {
  readonly base: string
  readonly stats: PushStats = { uploaded: 0, uploadedBytes: 0, mounted: 0, existing: 0, retries: 0 }
  private readonly chunkSize: number
  private readonly timeoutMs: number
  private readonly transport: RegistryTransport

  constructor(private readonly opts: RegistryClientOptions) {
    this.chunkSize = opts.chunkSize ?? 16 * 1024 * 1024
    this.timeoutMs = opts.timeoutMs ?? 5 * 60_000
    this.transport = new RegistryTransport({
      registry: opts.registry,
      insecure: opts.insecure,
      credentials: opts.credentials,
      log: opts.log,
      signal: opts.signal,
      attempts: Math.max(1, opts.attempts ?? 5),
      backoffMs: opts.backoffMs ?? 500,
      timeoutMs: this.timeoutMs,
      onRetry: () => this.stats.retries++,
      secret: opts.secret,
    })
    this.base = this.transport.base
  }

  get registry(): string {
    return this.opts.registry
  }

  /** A registry call with auth and retries (see RegistryTransport.request). */
  request(method: string, pathOrUrl: string, init: RegistryRequest = {}): Promise<Response> {
    return this.transport.request(method, pathOrUrl, init)
  }

  private url(pathOrUrl: string): string {
    return this.transport.url(pathOrUrl)
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

  /** GET /v2/: reachable and speaking the distribution API (a 401 here just means auth comes later). */
  async ping(): Promise<void> {
    let res: Response
    try {
      res = await this.transport.send('GET', this.url('/v2/'), {})
    } catch (err) {
      throw new RegistryError(`cannot reach ${this.base}/v2/ (${wireReason(err, this.timeoutMs)})`)
    }
    await res.body?.cancel()
    if (res.status === 401) return this.transport.noteChallenge(res.headers.get('www-authenticate'))
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
  downloadBlob(repo: string, digest: string, file: string): Promise<number> {
    return this.transport.retrying(
      `download of ${digest.slice(0, 19)}`,
      async () => {
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
          throw err
        }
      },
      (err) => ({ retry: !(err instanceof RegistryError && err.status !== undefined && !RETRYABLE(err.status)), reason: messageOf(err) }),
      (info) => {
        this.stats.retries++
        this.opts.log.warn(`registry: download of ${digest.slice(0, 19)} broke off (${info.reason}); starting it again`)
      },
    )
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
    const loc = res.headers.get('location')
    // A refusal's body says why (DENIED, a quota): read it before letting go of the answer.
    if (res.status !== 202 || !loc) await this.fail(res, `starting an upload to ${repo}`)
    await res.body?.cancel()
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
    const short = digest.slice(0, 19)
    try {
      await this.transport.retrying(
        `upload of ${short}`,
        async () => {
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
          if (res.status !== 201) await this.fail(res, `finishing the upload of ${short} to ${repo}`)
          const got = res.headers.get('docker-content-digest')
          if (got && got !== digest) throw new RegistryError(`${this.opts.registry} stored ${digest} as ${got}`)
          this.stats.uploaded++
          this.stats.uploadedBytes += size
        },
        (err) => {
          const status = err instanceof RegistryError ? err.status : undefined
          // 401/403/400-class answers will not change by trying again; lost sessions and 5xx may.
          return { retry: status === undefined || RETRYABLE(status) || status === 404 || status === 416, reason: messageOf(err) }
        },
        (info) => {
          this.stats.retries++
          this.opts.log.warn(`registry: upload of ${short} failed (${info.reason}); starting it again`)
        },
      )
    } finally {
      await fh.close()
    }
  }

  /**
   * PATCHes the blob chunk by chunk. Each chunk has `attempts` tries; after a failure the
   * registry says where the upload stands and the next try starts there.
   */
  private async uploadChunks(repo: string, start: string, size: number, read: (o: number, n: number) => Promise<Buffer>): Promise<string> {
    let loc = start
    let offset = 0
    let failure = ''
    const resync = async () => {
      // distribution-spec: GET <location> → 204, Range: 0-<last>
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
    const chunk = async (attempt: number) => {
      if (attempt > 0) await resync()
      if (offset >= size) return
      const length = Math.min(this.chunkSize, size - offset)
      let res: Response
      try {
        res = await this.request('PATCH', loc, {
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + length - 1}` },
          body: await read(offset, length),
          retry: false,
        })
      } catch (err) {
        if (err instanceof RegistryError && err.status !== undefined) throw err
        throw new ChunkFailure((failure = messageOf(err)))
      }
      await res.body?.cancel()
      if (res.status === 202 && res.headers.get('location')) {
        loc = this.url(res.headers.get('location')!)
        offset += length
        return
      }
      if (!RETRYABLE(res.status) && res.status !== 416) await this.fail(res, `uploading a chunk of a blob to ${repo}`)
      throw new ChunkFailure((failure = `answered ${res.status}`))
    }
    while (offset < size) {
      try {
        await this.transport.retrying(`chunk upload to ${repo}`, chunk, (err) => ({ retry: err instanceof ChunkFailure, reason: messageOf(err) }), () => this.stats.retries++)
      } catch (err) {
        if (err instanceof ChunkFailure) throw new RegistryError(`uploading to ${repo} kept failing at byte ${offset} (${failure})`)
        throw err
      }
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
