// One error shape per protocol, for every error a route can send: {"detail"} on the REST routes
// (FastAPI's), {"error"} on /v2 (the Open Inference Protocol's), including what fastify and Node
// answer before a route runs; bounded echoes of the input; Content-Type as docs/serving.md says.
// Node's parser errors need a real socket, so the server listens on loopback.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { tableFromArrays, tableToIPC } from 'apache-arrow'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Runtime } from '../contracts.js'
import { silentLogger } from '../log.js'
import { loadProject } from '../project.js'
import { createServer, MAX_JSON_DEPTH, nestsDeeperThan, type MlxServer } from './app.js'
import { boundInput, MAX_ECHO } from './problems.js'

const MANIFEST = `name: shapes
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
  by_rows:
    model: m
    input:
      style: rows
      features:
        x: { type: number }
    postprocess:
      - op: select
        output: y
  size:
    models: [m]
    handler: src/size.mjs
    input:
      features:
        image: { type: file }
        note: { type: string, required: false, nullable: true }
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

let dir: string
let server: MlxServer
let port: number
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mlx-errors-'))
  await writeFile(path.join(dir, 'mlx.yaml'), MANIFEST)
  await writeFile(path.join(dir, 'model.bin'), 'the double runtime ignores it\n')
  await mkdir(path.join(dir, 'src'))
  await writeFile(path.join(dir, 'src/size.mjs'), 'export default () => ({})\n')
  const project = await loadProject(dir)
  server = createServer(project, {
    runtime: () => double,
    handlers: { size: ({ frame }) => ({ bytes: (frame!.columns.get('image') as Buffer[]).map((b) => b.length) }) },
    log: silentLogger,
  })
  port = Number(new URL(await server.listen(0, '127.0.0.1')).port)
  await server.ready
})
afterAll(async () => {
  await server?.close()
  await rm(dir, { recursive: true, force: true })
})

/** Sends raw bytes; resolves with the status, the JSON body and how the connection ended. */
function raw(bytes: string): Promise<{ status: number; body: unknown; ended: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1' })
    let got = ''
    const done = (ended: string) => {
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(got)
      if (!m) return reject(new Error(`no HTTP answer (${ended}): ${JSON.stringify(got.slice(0, 200))}`))
      resolve({ status: Number(m[1]), body: JSON.parse(m[3]!), ended })
    }
    sock.on('data', (d) => (got += d))
    sock.once('end', () => done('end'))
    sock.once('error', (err: NodeJS.ErrnoException) => (got ? done(err.code ?? err.message) : reject(err)))
    sock.once('connect', () => sock.write(bytes))
    sock.setTimeout(10_000, () => sock.destroy(new Error('no answer within 10 s')))
  })
}

const post = (url: string, payload: string | Buffer, contentType?: string) =>
  server.app.inject({ method: 'POST', url, payload, headers: contentType ? { 'content-type': contentType } : {} })

/** Asserts FastAPI's error shape, {"detail": string}, and returns the message. */
function detail(res: { statusCode: number; json(): unknown }, status: number): string {
  expect(res.statusCode).toBe(status)
  const body = res.json() as Record<string, unknown>
  expect(Object.keys(body)).toEqual(['detail'])
  expect(typeof body.detail).toBe('string')
  return body.detail as string
}

/** Asserts the Open Inference Protocol's error shape, {"error": string}, and returns the message. */
function oipError(res: { statusCode: number; json(): unknown }, status: number): string {
  expect(res.statusCode).toBe(status)
  const body = res.json() as Record<string, unknown>
  expect(Object.keys(body)).toEqual(['error'])
  expect(typeof body.error).toBe('string')
  return body.error as string
}

const asInject = (r: { status: number; body: unknown }) => ({ statusCode: r.status, json: () => r.body })

describe("errors Node's parser answers, before any route", () => {
  it('431 for 64 KB of headers, as {"detail"} on REST and {"error"} on /v2, and the connection ends with a FIN', async () => {
    const big = `X-Big: ${'b'.repeat(65_536)}\r\n`
    const rest = await raw(`POST /predict HTTP/1.1\r\nHost: x\r\n${big}\r\n`)
    expect(detail(asInject(rest), 431)).toMatch(/headers are larger than \d+ bytes/)
    expect(rest.ended).toBe('end')
    const v2 = await raw(`GET /v2/models/m HTTP/1.1\r\nHost: x\r\n${big}\r\n`)
    expect(oipError(asInject(v2), 431)).toMatch(/headers are larger/)
  })

  it('414 for a URL longer than the header limit', async () => {
    const res = await raw(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect(detail(asInject(res), 414)).toMatch(/URL is longer than/)
    expect(res.ended).toBe('end')
  })

  it('400 for a bad Content-Length and for bytes that are not HTTP', async () => {
    expect(detail(asInject(await raw('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}')), 400)).toMatch(/malformed HTTP request: .*Content-Length/)
    expect(detail(asInject(await raw('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}')), 400)).toMatch(/Content-Length/)
    expect(detail(asInject(await raw('BLAH\r\n\r\n')), 400)).toMatch(/malformed HTTP request/)
  })

  it('keeps serving afterwards', async () => {
    const ok = await raw('POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"x":[2]}')
    expect(ok).toMatchObject({ status: 200, body: [4] })
  })
})

describe("errors fastify answers before a route's handler", () => {
  it('414 for a path segment longer than the router takes, 400 for bad %-encoding, in each protocol’s shape', async () => {
    expect(oipError(await server.app.inject({ url: `/v2/models/${'n'.repeat(150)}` }), 414)).toMatch(/parameter in the URL path is longer than 100 characters/)
    expect(oipError(await server.app.inject({ url: '/v2/models/%zz/ready' }), 400)).toMatch(/not valid/)
    const bad = await server.app.inject({ url: '/docs/assets/%zz' })
    expect(detail(bad, 400)).toMatch(/not valid/)
    expect(JSON.stringify(bad.json())).not.toContain('%zz')
  })

  it('413 for a body over server.bodyLimit', async () => {
    const big = JSON.stringify({ x: ['x'.repeat(1_100_000)] })
    expect(detail(await post('/predict', big, 'application/json'), 413)).toMatch(/server\.bodyLimit/)
    expect(oipError(await post('/v2/models/m/infer', big, 'application/json'), 413)).toMatch(/server\.bodyLimit/)
  })

  it('404 on /v2 names the route, cut short when the URL is long', async () => {
    const msg = oipError(await server.app.inject({ url: `/v2/${'p/'.repeat(5_000)}` }), 404)
    expect(msg.length).toBeLessThan(300)
    expect(detail(await server.app.inject({ url: '/nope' }), 404)).toBe('Not Found')
  })
})

describe('JSON nested deeper than MAX_JSON_DEPTH', () => {
  const nested = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth)

  it('is a 400 "nested too deeply" at 1,000, 5,000 and 200,000 levels, before anything recurses into it', async () => {
    for (const depth of [MAX_JSON_DEPTH + 1, 1_000, 5_000, 200_000]) {
      expect(detail(await post('/predict', nested(depth), 'application/json'), 400), `depth ${depth}`).toMatch(/nested too deeply: more than 64 levels/)
      expect(detail(await post('/predict', `{"x": ${nested(depth)}}`, 'application/json'), 400)).toMatch(/nested too deeply/)
    }
    expect(oipError(await post('/v2/models/m/infer', `{"inputs": ${nested(5_000)}}`, 'application/json'), 400)).toMatch(/nested too deeply/)
  })

  it('counts brackets only outside strings, and lets 64 levels through to validation', async () => {
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false)
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true)
    expect(nestsDeeperThan(`{"a": "${'['.repeat(1_000)}", "b": "\\"${'{'.repeat(1_000)}"}`, MAX_JSON_DEPTH)).toBe(false)
    expect(nestsDeeperThan(`["\\\\", ${nested(MAX_JSON_DEPTH)}]`, MAX_JSON_DEPTH)).toBe(true)
    const at64 = await post('/predict', `{"x": ${nested(MAX_JSON_DEPTH - 1)}}`, 'application/json')
    expect(at64.statusCode).toBe(422)
    const inString = await post('/predict', JSON.stringify({ x: ['['.repeat(5_000)] }), 'application/json')
    expect(inString.statusCode).toBe(422)
    expect((inString.json() as { detail: { type: string }[] }).detail[0]!.type).toBe('float_parsing')
  })
})

describe('error bodies echo a bounded slice of the input', () => {
  it(`cuts each problem's input to ${MAX_ECHO} characters: a 60-deep value, a 100 KB string, a 5,000-key row`, async () => {
    const deep = JSON.parse('['.repeat(60) + '1' + ']'.repeat(60)) as unknown
    const long = 'z'.repeat(100_000)
    const wide = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i]))
    for (const body of [{ x: [deep] }, { x: [long] }, [wide], deep]) {
      const text = JSON.stringify(body)
      const res = await post('/predict', text, 'application/json')
      expect(res.statusCode, text.slice(0, 50)).toBe(422)
      const problems = (res.json() as { detail: { input: unknown }[] }).detail
      for (const p of problems) expect(typeof p.input === 'string' ? p.input.length : JSON.stringify(p.input).length).toBeLessThanOrEqual(MAX_ECHO + 1)
      expect(res.body.length).toBeLessThan(2_000)
    }
  })

  it('keeps small inputs as they are, and never echoes file bytes', () => {
    expect(boundInput({ age: 'abc' })).toEqual({ age: 'abc' })
    expect(boundInput([1, 2, 3])).toEqual([1, 2, 3])
    expect(boundInput('x'.repeat(500))).toBe(`${'x'.repeat(MAX_ECHO)}…`)
    expect(boundInput(Buffer.alloc(10))).toBe('<10 bytes>')
    expect(boundInput({ image: Buffer.alloc(1_000_000) })).toBe('{"image":"<1000000 bytes>"}')
    expect(String(boundInput(Array(100_000).fill(7)))).toMatch(/^\[7,7,7.*…$/)
  })

  it('cuts the names a v2 client sends in its error messages', async () => {
    const name = 'q'.repeat(10_000)
    const msg = oipError(await post('/v2/models/m/infer', JSON.stringify({ inputs: [{ name, datatype: 'FP64', shape: [1], data: [1] }] }), 'application/json'), 400)
    expect(msg.length).toBeLessThan(400)
    const dtype = oipError(await post('/v2/models/m/infer', JSON.stringify({ inputs: [{ name: 'x', datatype: name, shape: [1], data: [1] }] }), 'application/json'), 400)
    expect(dtype.length).toBeLessThan(300)
    const data = oipError(await post('/v2/models/m/infer', JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1], data: [{ big: name }] }] }), 'application/json'), 400)
    expect(data.length).toBeLessThan(300)
  })
})

describe('Content-Type, as docs/serving.md says', () => {
  it('415 for text/plain and form bodies, naming what to send', async () => {
    expect(detail(await post('/predict', '{"x":[1]}', 'text/plain'), 415)).toBe(
      "unsupported Content-Type 'text/plain'; send application/json or application/vnd.apache.arrow.stream (or multipart/form-data)",
    )
    expect(detail(await post('/predict', 'x=1', 'application/x-www-form-urlencoded'), 415)).toMatch(/^unsupported Content-Type 'application\/x-www-form-urlencoded'/)
    expect(oipError(await post('/v2/models/m/infer', '{}', 'text/plain'), 415)).toMatch(/text\/plain/)
  })

  it('415 saying the header is missing when a body comes without one', async () => {
    const msg = detail(await post('/predict', '{"x":[1]}'), 415)
    expect(msg).toBe('the request has a body but no Content-Type header; send application/json or application/vnd.apache.arrow.stream (or multipart/form-data)')
    expect(msg).not.toContain('undefined')
  })

  it('422 "missing" for a POST with no body at all, as for an empty JSON body', async () => {
    const res = await server.app.inject({ method: 'POST', url: '/predict' })
    expect(res.statusCode).toBe(422)
    expect(res.json()).toEqual({ detail: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }] })
  })

  it('takes Arrow on a column endpoint, and answers 415 on one that takes rows', async () => {
    const arrow = Buffer.from(tableToIPC(tableFromArrays({ x: Float64Array.from([1, 2]) }), 'stream'))
    const ok = await post('/predict', arrow, 'application/vnd.apache.arrow.stream')
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toEqual([2, 4])
    expect(detail(await post('/by_rows', arrow, 'application/vnd.apache.arrow.stream'), 415)).toMatch(/endpoint 'by_rows' does not take Arrow bodies \(input\.style: rows\)/)
  })
})

describe('multipart: one value per field', () => {
  const form = (parts: [string, Blob | string, string?][]) => {
    const f = new FormData()
    for (const [name, value, filename] of parts) (typeof value === 'string' ? f.append(name, value) : f.append(name, value, filename))
    return f
  }
  const send = (f: FormData) => fetch(`http://127.0.0.1:${port}/size`, { method: 'POST', body: f })

  it('answers one file', async () => {
    const res = await send(form([['image', new Blob(['hello']), 'a.bin']]))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ bytes: [5] })
  })

  it('answers two files for the one image field with a 422 naming the field, not the last one', async () => {
    const res = await send(form([['image', new Blob(['hello']), 'a.bin'], ['image', new Blob(['hi']), 'b.bin']]))
    expect(res.status).toBe(422)
    expect(await res.json()).toEqual({ detail: [{ type: 'too_long', loc: ['body', 'image'], msg: "'image' takes one file per request, got 2", input: null, ctx: { max_length: 1 } }] })
  })

  it('does the same for a text field sent twice', async () => {
    const res = await send(form([['image', new Blob(['hello']), 'a.bin'], ['note', 'a'], ['note', 'b']]))
    expect(res.status).toBe(422)
    expect(((await res.json()) as { detail: { loc: unknown[]; msg: string }[] }).detail).toEqual([expect.objectContaining({ loc: ['body', 'note'], msg: "'note' takes one value per request, got 2" })])
  })
})
