import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../log.js'
import { isMlxError } from '../errors.js'
import type { Clock } from './clock.js'
import { ApiError, CallCut, callScope, HttpClient } from './http.js'
import { Redactor } from './redact.js'

/** A local API whose routes misbehave on purpose; each test picks one by path. */
let base = ''
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = []
const counters = new Map<string, number>()
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let body = ''
  req.on('data', (c) => (body += c))
  req.on('end', () => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body })
    const n = (counters.get(req.url!) ?? 0) + 1
    counters.set(req.url!, n)
    const json = (status: number, v: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(v))
    }
    if (req.url === '/ok') return json(200, { hello: 'world' })
    if (req.url === '/flaky') return n < 3 ? json(503, { error: 'busy' }) : json(200, { after: n })
    if (req.url === '/throttled') return n < 2 ? json(429, { message: 'slow down' }, { 'retry-after': '7' }) : json(200, { ok: true })
    if (req.url === '/echo-auth') return json(403, { error: `denied for ${req.headers.authorization}` })
    if (req.url === '/post-500') return json(500, { detail: 'exploded' })
    if (req.url === '/missing') return json(404, { error: 'no such thing' })
    if (req.url === '/hang') return // accepts, never answers
    if (req.url === '/reset') return req.socket.destroy()
    if (req.url === '/stall') {
      // The headers, then half the body, then nothing: the body read is under the deadline too.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      return res.write('{"a":')
    }
    json(418, {})
  })
})

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  server.closeAllConnections()
  server.close()
})

/** A clock that records the waits it was asked for and returns at once. */
function fakeClock(): Clock & { waits: number[] } {
  const waits: number[] = []
  let t = 0
  return {
    waits,
    now: () => t,
    sleep: async (ms) => {
      waits.push(ms)
      t += ms
    },
  }
}

function client(opts: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}, clock = fakeClock(), redactor = new Redactor()) {
  const c = new HttpClient({ platform: 'Acme', baseUrl: base, retries: 3, retryBaseMs: 100, timeoutMs: 500, ...opts }, { fetch: globalThis.fetch, clock, redactor, log: silentLogger, signal: new AbortController().signal })
  return { c, clock, redactor }
}

describe('HttpClient', () => {
  it('retries 5xx with doubling backoff and returns the answer', async () => {
    const { c, clock } = client()
    expect(await c.json<{ after: number }>({ path: '/flaky' })).toEqual({ after: 3 })
    expect(clock.waits).toEqual([100, 200])
    expect(c.retried).toBe(2)
  })

  it('honours Retry-After, even for a POST on 429', async () => {
    const { c, clock } = client()
    expect(await c.json({ method: 'POST', path: '/throttled', json: { a: 1 } })).toEqual({ ok: true })
    expect(clock.waits).toEqual([7000])
    expect(seen.filter((s) => s.url === '/throttled').map((s) => JSON.parse(s.body))).toEqual([{ a: 1 }, { a: 1 }])
  })

  it('never retries a POST on a 5xx (it may have done something) and names the platform, the call and the message', async () => {
    const { c, clock } = client()
    const err = await c.request({ method: 'POST', path: '/post-500' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(500)
    expect((err as Error).message).toBe('Acme POST /post-500: HTTP 500: exploded')
    expect(clock.waits).toEqual([])
  })

  it('returns an accepted status instead of throwing', async () => {
    const { c } = client()
    const res = await c.request({ path: '/missing', accept: [404] })
    expect(res.status).toBe(404)
    expect(res.json<{ error: string }>().error).toBe('no such thing')
  })

  it('redacts the credentials it sent when an error echoes them, and calls 403 a credentials problem', async () => {
    const { c } = client({ headers: { Authorization: 'Token canary-s3cr3t-value' } })
    const err = (await c.request({ path: '/echo-auth' }).catch((e: unknown) => e)) as ApiError
    expect(err.code).toBe('CREDENTIALS_MISSING')
    expect(err.message).not.toContain('canary-s3cr3t-value')
    expect(err.body).not.toContain('canary-s3cr3t-value')
    expect(err.message).toContain('denied for ***')
  })

  it('gives up on a server that accepts and never answers, naming the setting to raise', async () => {
    const { c, clock } = client({ timeoutMs: 200, retries: 1, timeoutSetting: 'targets.acme.requestTimeoutSeconds' })
    const err = (await c.request({ path: '/hang' }).catch((e: unknown) => e)) as Error
    expect(isMlxError(err)).toBe(true)
    expect(err.message).toBe('Acme GET /hang: no answer within 0.2s.')
    expect((err as { hint?: string }).hint).toContain('targets.acme.requestTimeoutSeconds')
    expect(clock.waits).toHaveLength(1)
  })

  it('an answer whose body stalls after the headers times out like one that never came', async () => {
    const { c, clock } = client({ timeoutMs: 200, retries: 1, timeoutSetting: 'targets.acme.requestTimeoutSeconds' })
    const err = (await c.request({ path: '/stall' }).catch((e: unknown) => e)) as Error
    expect(err.message).toBe('Acme GET /stall: no answer within 0.2s.')
    expect((err as { hint?: string }).hint).toContain('targets.acme.requestTimeoutSeconds')
    expect(clock.waits).toHaveLength(1)
  })

  it('a call in a scope (a wait) that is cut ends then, with the scope\'s error naming the call, and is not retried', async () => {
    const { c, clock } = client({ timeoutMs: 60_000, retries: 3 })
    const scope = new AbortController()
    setTimeout(() => scope.abort(new CallCut('DEPLOY_FAILED', 'build x: not done within 1s.')), 100)
    const started = Date.now()
    const err = (await callScope.run(scope.signal, () => c.request({ path: '/hang' })).catch((e: unknown) => e)) as CallCut
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(err).toBe(scope.signal.reason)
    expect(err.call).toBe('Acme GET /hang')
    expect(clock.waits).toEqual([])
  })

  it('retries a reset connection, then says what happened on the wire', async () => {
    const { c, clock } = client({ retries: 2 })
    const err = (await c.request({ path: '/reset' }).catch((e: unknown) => e)) as Error
    expect(err.message).toMatch(/^Acme GET \/reset: cannot reach http:\/\/127\.0\.0\.1:\d+: /)
    expect(clock.waits).toEqual([100, 200])
  })

  it('stops at once when the deploy is aborted', async () => {
    const abort = new AbortController()
    const c = new HttpClient({ platform: 'Acme', baseUrl: base, timeoutMs: 5000 }, { fetch: globalThis.fetch, clock: fakeClock(), redactor: new Redactor(), log: silentLogger, signal: abort.signal })
    setTimeout(() => abort.abort(), 50)
    const err = (await c.request({ path: '/hang' }).catch((e: unknown) => e)) as Error
    expect(err.message).toContain('interrupted')
  })
})
