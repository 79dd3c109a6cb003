// The distribution client against a small in-process registry: token auth from the challenge,
// no Authorization on a redirect to another host, Retry-After on 429, secrets never logged.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Logger } from '@mlx/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256 } from './oci.js'
import { RegistryClient } from './registry.js'

const TOKEN = 'tok-SECRET-123'
const PASSWORD = 'pw-SECRET-456'
const REFRESH = 'refresh-SECRET-789'
const BLOB = Buffer.from('layer bytes')
const DIGEST = sha256(BLOB)

interface Seen {
  method: string
  url: string
  auth?: string
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))
}

let registry: http.Server
let cdn: http.Server
let port: number
let cdnPort: number
const seen: Seen[] = []
const cdnSeen: Seen[] = []
const tokenRequests: URL[] = []
const oauthRequests: { form: URLSearchParams; contentType?: string; auth?: string }[] = []
let fail429 = 0
let stored: Buffer | undefined
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-registry-client-'))
  cdn = http.createServer((req, res) => {
    cdnSeen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization })
    res.end(BLOB)
  })
  cdnPort = await listen(cdn)
  registry = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x')
    seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization })
    if (url.pathname === '/token' && req.method === 'POST') {
      // The OAuth2 form an identity token is exchanged with (distribution spec, token auth "oauth").
      let raw = ''
      req.on('data', (c: Buffer) => (raw += c))
      req.on('end', () => {
        const form = new URLSearchParams(raw)
        oauthRequests.push({ form, contentType: req.headers['content-type'], auth: req.headers.authorization })
        if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== REFRESH) {
          return void res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":"invalid_grant"}')
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ access_token: TOKEN, expires_in: 300, scope: form.get('scope') }))
      })
      return
    }
    if (url.pathname === '/token') {
      tokenRequests.push(url)
      const expected = `Basic ${Buffer.from(`robot:${PASSWORD}`).toString('base64')}`
      if (req.headers.authorization !== expected) return void res.writeHead(401).end()
      return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: TOKEN, expires_in: 300 }))
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="fake-registry",scope="repository:acme/app:pull"` })
      return void res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }))
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (url.pathname === '/v2/') return void res.end('{}')
      if (req.method === 'GET' && url.pathname === `/v2/acme/app/blobs/${DIGEST}`) {
        return void res.writeHead(307, { Location: `http://127.0.0.1:${cdnPort}/blob?sig=abc` }).end()
      }
      if (req.method === 'HEAD' && url.pathname.startsWith('/v2/acme/app/blobs/')) return void res.writeHead(stored ? 200 : 404).end()
      if (req.method === 'POST' && url.pathname === '/v2/acme/app/blobs/uploads/') {
        if (fail429 > 0) {
          fail429--
          return void res.writeHead(429, { 'Retry-After': '1' }).end()
        }
        return void res.writeHead(202, { Location: '/v2/acme/app/blobs/uploads/u1?_state=xyz' }).end()
      }
      if (req.method === 'PUT' && url.pathname === '/v2/acme/app/blobs/uploads/u1') {
        if (url.searchParams.get('_state') !== 'xyz' || url.searchParams.get('digest') !== DIGEST) return void res.writeHead(400).end()
        stored = Buffer.concat(chunks)
        return void res.writeHead(201, { 'Docker-Content-Digest': sha256(stored) }).end()
      }
      res.writeHead(404).end()
    })
  })
  port = await listen(registry)
})
afterAll(async () => {
  registry.closeAllConnections()
  cdn.closeAllConnections()
  await new Promise((r) => registry.close(r))
  await new Promise((r) => cdn.close(r))
  await rm(dir, { recursive: true, force: true })
})

function capture(): Logger & { lines: string[] } {
  const lines: string[] = []
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(m), debug: (m) => lines.push(m), step: (_t, w) => w() }
}

describe('RegistryClient', () => {
  it('gets a token with the credentials, follows a redirect without them, and never logs a secret', async () => {
    const log = capture()
    const client = new RegistryClient({ registry: `127.0.0.1:${port}`, credentials: { username: 'robot', password: PASSWORD, source: 'TEST' }, log })
    await client.ping()
    const bytes = await client.getBlob('acme/app', DIGEST)
    expect(bytes.equals(BLOB)).toBe(true)
    expect(tokenRequests.at(-1)!.searchParams.get('service')).toBe('fake-registry')
    expect(tokenRequests.at(-1)!.searchParams.getAll('scope')).toContain('repository:acme/app:pull')
    // The CDN is another host: it must not see the registry token.
    expect(cdnSeen).toHaveLength(1)
    expect(cdnSeen[0]!.auth).toBeUndefined()
    expect(seen.filter((s) => s.url.startsWith('/v2/acme')).every((s) => s.auth === `Bearer ${TOKEN}`)).toBe(true)
    const logged = log.lines.join('\n')
    expect(logged).not.toContain(TOKEN)
    expect(logged).not.toContain(PASSWORD)
    expect(logged).not.toContain('sig=abc')
  })

  it('uploads a missing blob, waiting as long as Retry-After says on 429, keeping the upload URL query', async () => {
    const log = capture()
    const client = new RegistryClient({ registry: `127.0.0.1:${port}`, credentials: { username: 'robot', password: PASSWORD, source: 'TEST' }, log })
    const file = path.join(dir, 'blob')
    await writeFile(file, BLOB)
    expect(await client.hasBlob('acme/app', DIGEST)).toBe(false)
    fail429 = 1
    const t0 = Date.now()
    await client.uploadBlob('acme/app', DIGEST, BLOB.length, file)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950)
    expect(stored?.equals(BLOB)).toBe(true)
    expect(client.stats).toMatchObject({ uploaded: 1, uploadedBytes: BLOB.length, retries: 1 })
    expect(log.lines.some((l) => /answered 429; retrying in 1\.0s/.test(l))).toBe(true)
    expect(await client.hasBlob('acme/app', DIGEST)).toBe(true)
    // Scope for pushing was asked for.
    expect(tokenRequests.at(-1)!.searchParams.getAll('scope')).toContain('repository:acme/app:pull,push')
  })

  it('exchanges an identity token (OAuth2 refresh token) with a form POST, never as Basic auth, and says to log in again when it is refused', async () => {
    const log = capture()
    const client = new RegistryClient({ registry: `127.0.0.1:${port}`, credentials: { username: '<token>', password: REFRESH, source: 'config.json (auths["acr"])', kind: 'identity-token' }, log })
    const bytes = await client.getBlob('acme/app', DIGEST)
    expect(bytes.equals(BLOB)).toBe(true)
    const sent = oauthRequests.at(-1)!
    expect(sent.contentType).toBe('application/x-www-form-urlencoded')
    expect(sent.auth).toBeUndefined()
    expect(Object.fromEntries(sent.form)).toEqual({ grant_type: 'refresh_token', refresh_token: REFRESH, client_id: 'mlx', service: 'fake-registry', scope: 'repository:acme/app:pull' })
    expect(log.lines.join('\n')).not.toContain(REFRESH)
    const expired = new RegistryClient({ registry: `127.0.0.1:${port}`, credentials: { username: '<token>', password: 'stale', source: 'config.json (auths["acr"])', kind: 'identity-token' }, log: capture(), attempts: 1 })
    await expect(expired.uploadBlob('acme/app', DIGEST, BLOB.length, path.join(dir, 'blob'))).rejects.toThrow(/refused the identity token from config\.json \(auths\["acr"\]\) \(400\).*log in to the registry again/)
  })

  it('says which credentials the token service refused', async () => {
    const client = new RegistryClient({ registry: `127.0.0.1:${port}`, credentials: { username: 'robot', password: 'wrong', source: 'MLX_REGISTRY_USER/MLX_REGISTRY_PASSWORD' }, log: capture(), attempts: 1 })
    await expect(client.hasBlob('acme/app', DIGEST)).rejects.toThrow(/refused the credentials from MLX_REGISTRY_USER\/MLX_REGISTRY_PASSWORD \(401\)/)
  })

  it('reports an unreachable registry plainly', async () => {
    const closed = http.createServer()
    const free = await listen(closed)
    await new Promise((r) => closed.close(r))
    const client = new RegistryClient({ registry: `127.0.0.1:${free}`, log: capture(), attempts: 1 })
    await expect(client.ping()).rejects.toThrow(new RegExp(`cannot reach http://127\\.0\\.0\\.1:${free}/v2/ \\(connection refused \\(ECONNREFUSED\\)\\)`))
  })
})
