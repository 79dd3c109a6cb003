// server.auth: the prediction routes need a key; health and docs stay open unless the manifest
// says otherwise; a missing, empty or short key stops the server at start; the key is compared
// in constant time and never echoed; the OpenAPI document says how to send it.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Runtime } from '../contracts.js'
import { isMlxError } from '../errors.js'
import { silentLogger } from '../log.js'
import { loadProject, type Project } from '../project.js'
import { createServer, type MlxServer } from './app.js'
import { apiKeysFrom, KeyCheck, MIN_KEY_LENGTH, presentedKey } from './auth.js'

const KEY = 'k3y-0f-the-test-server-abcdef0123456789'
const NEXT = 'r0tated-key-0f-the-test-server-zyxw9876'

const manifest = (auth: string) => `name: guarded
models:
  m:
    runtime: double
    path: model.bin
endpoints:
  predict:
    model: m
    input:
      features:
        x: { type: number }
    postprocess:
      - op: select
        output: y
server:
  auth: ${auth}
`

/** y = 2x over a float64 vector. */
const double: Runtime = {
  name: 'double',
  async load() {
    return {
      inputs: [{ name: 'x', dtype: 'float64', shape: [-1] }],
      outputs: [{ name: 'y', dtype: 'float64', shape: [-1] }],
      async run(feeds) {
        const x = feeds.x!.data as Float64Array
        return { y: { dtype: 'float64', shape: [x.length], data: x.map((v) => v * 2) } }
      },
      async dispose() {},
    }
  },
}

let root: string
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'mlx-auth-'))
})
afterAll(() => rm(root, { recursive: true, force: true }))

let n = 0
async function project(auth: string): Promise<Project> {
  const dir = path.join(root, String(n++))
  await mkdir(dir)
  await writeFile(path.join(dir, 'mlx.yaml'), manifest(auth))
  await writeFile(path.join(dir, 'model.bin'), 'the double runtime ignores it\n')
  return loadProject(dir)
}

const open: MlxServer[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.close()
})
async function serve(auth: string, env: NodeJS.ProcessEnv): Promise<MlxServer> {
  const p = await project(auth)
  const server = createServer(p, { runtime: () => double, log: silentLogger, apiKeys: p.server.auth ? apiKeysFrom(p.server.auth, env) : undefined })
  open.push(server)
  await server.app.ready()
  await server.ready
  return server
}

const predict = (s: MlxServer, headers: Record<string, string> = {}) =>
  s.app.inject({ method: 'POST', url: '/predict', payload: { x: 2 }, headers })

describe('server.auth: true', () => {
  it('refuses a request without a key: 401, a Bearer challenge, FastAPI\'s {"detail"} saying how to send one', async () => {
    const s = await serve('true', { MLX_API_KEY: KEY })
    const res = await predict(s)
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="mlx"')
    const body = res.json() as Record<string, unknown>
    expect(Object.keys(body)).toEqual(['detail'])
    expect(body.detail).toMatch(/Authorization: Bearer/)
  })

  it('refuses a wrong key and a malformed Authorization with invalid_token, and never echoes what was sent', async () => {
    const s = await serve('true', { MLX_API_KEY: KEY })
    for (const headers of [{ authorization: 'Bearer not-the-key-but-long-enough' }, { 'x-api-key': 'canary-guess-0123456789abcdef' }, { authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` }]) {
      const res = await predict(s, headers)
      expect(res.statusCode, JSON.stringify(headers)).toBe(401)
      expect(res.headers['www-authenticate']).toBe('Bearer realm="mlx", error="invalid_token"')
      expect(res.body).not.toContain('not-the-key')
      expect(res.body).not.toContain('canary-guess')
      expect(res.body).not.toContain(KEY)
    }
  })

  it('serves the right key as a bearer token or as X-API-Key', async () => {
    const s = await serve('true', { MLX_API_KEY: KEY })
    for (const headers of [{ authorization: `Bearer ${KEY}` }, { authorization: `bearer ${KEY}` }, { 'x-api-key': KEY }]) {
      const res = await predict(s, headers)
      expect(res.statusCode, JSON.stringify(headers)).toBe(200)
      expect(res.json()).toEqual([4])
    }
  })

  it('accepts every key of a comma-separated list, so a key can be rotated without downtime', async () => {
    const s = await serve('true', { MLX_API_KEY: `${KEY}, ${NEXT}` })
    expect((await predict(s, { authorization: `Bearer ${KEY}` })).statusCode).toBe(200)
    expect((await predict(s, { authorization: `Bearer ${NEXT}` })).statusCode).toBe(200)
    expect((await predict(s, { authorization: `Bearer ${KEY},${NEXT}` })).statusCode).toBe(401)
  })

  it('leaves health and docs open and guards metrics, by default', async () => {
    const s = await serve('true', { MLX_API_KEY: KEY })
    for (const url of ['/healthz', '/readyz', '/docs', '/openapi.json', '/', '/v2/health/live', '/v2/health/ready']) {
      expect((await s.app.inject({ url })).statusCode, url).toBeLessThan(400)
    }
    expect((await s.app.inject({ url: '/metrics' })).statusCode).toBe(401)
    expect((await s.app.inject({ url: '/metrics', headers: { 'x-api-key': KEY } })).statusCode).toBe(200)
  })

  it('answers a 404 for an unknown route, with or without a key (nothing to protect)', async () => {
    const s = await serve('true', { MLX_API_KEY: KEY })
    expect((await s.app.inject({ url: '/nope' })).statusCode).toBe(404)
  })

  it("guards /v2's model routes with the protocol's {\"error\"} shape", async () => {
    const s = await serve('true', { MLX_API_KEY: KEY })
    const infer = { method: 'POST' as const, url: '/v2/models/m/infer', payload: { inputs: [{ name: 'x', shape: [1], datatype: 'FP64', data: [1] }] } }
    const res = await s.app.inject(infer)
    expect(res.statusCode).toBe(401)
    expect(Object.keys(res.json() as object)).toEqual(['error'])
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/)
    const ok = await s.app.inject({ ...infer, headers: { authorization: `Bearer ${KEY}` } })
    expect(ok.statusCode).toBe(200)
    expect((await s.app.inject({ url: '/v2/models/m', headers: { authorization: `Bearer ${KEY}` } })).statusCode).toBe(200)
    expect((await s.app.inject({ url: '/v2/models/m' })).statusCode).toBe(401)
  })

  it('describes both ways of sending the key in the OpenAPI document, and marks the open routes as such', async () => {
    const s = await serve('true', { MLX_API_KEY: KEY })
    const doc = (await s.app.inject({ url: '/openapi.json' })).json() as {
      components: { securitySchemes: Record<string, { type: string; scheme?: string; in?: string; name?: string }> }
      security: Record<string, string[]>[]
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>
    }
    const schemes = Object.values(doc.components.securitySchemes)
    expect(schemes).toContainEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }))
    expect(schemes).toContainEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }))
    expect(doc.security.length).toBe(2)
    expect(doc.paths['/predict']!.post!.security).toBeUndefined()
    expect(doc.paths['/predict']!.post!.responses['401']).toBeDefined()
    expect(doc.paths['/healthz']?.get?.security).toEqual([])
  })
})

describe('server.auth settings', () => {
  it('public: [] locks the health routes too, and a custom env names where the key is', async () => {
    const s = await serve('{ env: GUARD_KEY, public: [] }', { GUARD_KEY: KEY, MLX_API_KEY: NEXT })
    expect((await s.app.inject({ url: '/healthz' })).statusCode).toBe(401)
    expect((await s.app.inject({ url: '/docs' })).statusCode).toBe(401)
    expect((await s.app.inject({ url: '/healthz', headers: { 'x-api-key': KEY } })).statusCode).toBe(200)
    expect((await predict(s, { 'x-api-key': NEXT })).statusCode).toBe(401)
  })

  it('public: [metrics] opens metrics only', async () => {
    const s = await serve('{ public: [metrics] }', { MLX_API_KEY: KEY })
    expect((await s.app.inject({ url: '/metrics' })).statusCode).toBe(200)
    expect((await s.app.inject({ url: '/healthz' })).statusCode).toBe(401)
  })

  it('false, or no server.auth, leaves every route open', async () => {
    const s = await serve('false', {})
    expect((await predict(s)).statusCode).toBe(200)
    expect((await s.app.inject({ url: '/metrics' })).statusCode).toBe(200)
  })

  it('a schema error names server.auth.public for an unknown area', async () => {
    await expect(project('{ public: [predict] }')).rejects.toThrow(/server\.auth/)
  })

  it('a literal key in env: is refused at load: it would be baked into every image', async () => {
    const dir = path.join(root, 'baked')
    await mkdir(dir)
    await writeFile(path.join(dir, 'mlx.yaml'), `${manifest('true')}env:\n  MLX_API_KEY: ${KEY}\n`)
    await writeFile(path.join(dir, 'model.bin'), 'x\n')
    const err = await loadProject(dir).catch((e: unknown) => e)
    expect(isMlxError(err)).toBe(true)
    expect((err as Error).message).toMatch(/env\.MLX_API_KEY/)
    expect((err as Error).message).toMatch(/baked/)
    expect((err as Error).message).not.toContain(KEY)
  })
})

describe('the key at start', () => {
  const spec = { env: 'MLX_API_KEY', public: [] } as const
  it.each([
    ['unset', {}, /not set/],
    ['empty', { MLX_API_KEY: '' }, /empty/],
    ['blank entries only', { MLX_API_KEY: ' , ' }, /empty/],
    ['too short', { MLX_API_KEY: 'short' }, new RegExp(`at least ${MIN_KEY_LENGTH}`)],
    ['one short key of a rotation list', { MLX_API_KEY: `${KEY},tiny` }, /key 2 of the 2/],
  ])('%s: CREDENTIALS_MISSING with a hint, and no key in the message', (_what, env, message) => {
    const err = (() => {
      try {
        apiKeysFrom(spec, env)
      } catch (e) {
        return e
      }
    })()
    expect(isMlxError(err) && err.code).toBe('CREDENTIALS_MISSING')
    expect((err as Error).message).toMatch(message)
    expect((err as Error).message).not.toContain('tiny')
    expect((err as { hint?: string }).hint).toMatch(/openssl rand/)
  })

  it('createServer itself refuses to start when the key it must read is missing', async () => {
    const p = await project('{ env: MLX_TEST_KEY_THAT_IS_NOT_SET }')
    expect(() => createServer(p, { runtime: () => double, log: silentLogger })).toThrow(/MLX_TEST_KEY_THAT_IS_NOT_SET is not set/)
  })
})

describe('KeyCheck and presentedKey', () => {
  it('reads Bearer before X-API-Key, and an Authorization that is not Bearer as a malformed key', () => {
    expect(presentedKey({ authorization: `Bearer ${KEY}`, 'x-api-key': NEXT })).toBe(KEY)
    expect(presentedKey({ 'x-api-key': ` ${NEXT} ` })).toBe(NEXT)
    expect(presentedKey({ authorization: 'Token abc' })).toBe('')
    expect(presentedKey({})).toBeUndefined()
  })

  it('matches only whole keys: a prefix, a suffix or the key with a byte changed fails', () => {
    const check = new KeyCheck([KEY])
    expect(check.check({ authorization: `Bearer ${KEY}` })).toBeUndefined()
    for (const wrong of [KEY.slice(0, -1), `${KEY}x`, `x${KEY}`, KEY.replace('k', 'K')]) {
      expect(check.check({ authorization: `Bearer ${wrong}` })?.challenge).toMatch(/invalid_token/)
    }
  })
})
