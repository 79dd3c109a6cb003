// The server as clients see it, through fastify's injection (no sockets), serving the real titanic
// model with the real onnxruntime-node. Only the readiness tests use a runtime double, because
// what they test is the server's behaviour while a model is still loading.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet'
import { onnxRuntime } from '@mlx/runtime-onnx'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LoadedModel, Runtime } from '../contracts.js'
import { silentLogger } from '../log.js'
import { loadRegistry } from '../plugins/registry.js'
import { loadProject, type Project } from '../project.js'
import { createServer, type MlxServer } from './app.js'
import { SEED_PAYLOAD } from '../../../../test/support/cli.js'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const TITANIC = path.join(ROOT, 'examples/titanic')

/** The seed's curl body (seeds/000), verbatim: one copy for every test. */
const SEED = SEED_PAYLOAD

const WOMAN_FIRST = { pclass: 1, sex: 'female', age: 29, sibsp: 0, parch: 0, fare: 211.34, embarked: 'S', class: 'First', who: 'woman', adult_male: false, deck: 'B', embark_town: 'Southampton', alive: 'yes', alone: true }
const MAN_THIRD = { pclass: 3, sex: 'male', age: 35, sibsp: 0, parch: 0, fare: 8.05, embarked: 'S', class: 'Third', who: 'man', adult_male: true, deck: null, embark_town: 'Southampton', alive: 'no', alone: true }
const TWO_ROWS = [WOMAN_FIRST, MAN_THIRD]
const columnsOf = (rows: Record<string, unknown>[]) => Object.fromEntries(Object.keys(rows[0]!).map((k) => [k, rows.map((r) => r[k])]))

interface Detail {
  type: string
  loc: (string | number)[]
  msg: string
  input: unknown
}

/** Asserts FastAPI's 422 shape and returns the details. */
function validationDetails(res: { statusCode: number; json(): unknown }): Detail[] {
  expect(res.statusCode).toBe(422)
  const body = res.json() as { detail: Detail[] }
  expect(Object.keys(body)).toEqual(['detail'])
  expect(Array.isArray(body.detail)).toBe(true)
  expect(body.detail.length).toBeGreaterThan(0)
  for (const d of body.detail) {
    expect(d).toHaveProperty('input')
    expect(typeof d.type).toBe('string')
    expect(typeof d.msg).toBe('string')
    expect(Array.isArray(d.loc)).toBe(true)
    expect(d.loc[0]).toBe('body')
  }
  return body.detail
}

// Deprecation warnings from the HTTP stack would print on every `mlx serve` and bundle start.
const warnings: string[] = []
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`))

let project: Project
let server: MlxServer
const tmpDirs: string[] = []

/** A copy of the titanic example in a temp folder with `extra` appended to its mlx.yaml. */
async function titanicWith(extra: string): Promise<Project> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mlx-server-'))
  tmpDirs.push(dir)
  await cp(TITANIC, dir, { recursive: true, filter: (f) => !f.includes(`${path.sep}.mlx`) })
  const file = path.join(dir, 'mlx.yaml')
  const yaml = await readFile(file, 'utf8')
  expect(yaml).not.toMatch(/^server:/m)
  await writeFile(file, `${yaml}\n${extra}`)
  return loadProject(dir)
}

const post = (body: unknown, url = '/predict_function') => server.app.inject({ method: 'POST', url, payload: body as object })
const postRaw = (payload: string, url = '/predict_function') => server.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } })
const probabilities = (res: { statusCode: number; json(): unknown }): number[] => {
  expect(res.statusCode, JSON.stringify(res.json())).toBe(200)
  const out = res.json() as number[]
  expect(Array.isArray(out)).toBe(true)
  for (const p of out) {
    expect(typeof p).toBe('number')
    expect(p).toBeGreaterThanOrEqual(0)
    expect(p).toBeLessThanOrEqual(1)
  }
  return out
}

beforeAll(async () => {
  project = await loadProject(TITANIC)
  server = createServer(project, { runtime: () => onnxRuntime, log: silentLogger })
  await server.ready
})
afterAll(async () => {
  await server?.close()
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true })
})

describe('POST /predict_function (titanic, real onnxruntime)', () => {
  it("answers the seed's exact curl body with one probability", async () => {
    const out = probabilities(await post(SEED))
    expect(out).toHaveLength(1)
  })

  it('answers the seed body sent as raw JSON text, as curl sends it', async () => {
    const raw = `{
        "pclass":[0], "sex":["string"], "age":[0], "sibsp":[0], "parch":[0], "fare":[0], "embarked":["string"], "class":["string"],
        "who":["string"], "adult_male":[true], "deck":[0], "embark_town":["string"], "alive":["string"], "alone":[true] }`
    const res = await postRaw(raw)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(probabilities(res)).toEqual(probabilities(await post(SEED)))
  })

  it('gives the same numbers for the same rows sent column-wise and row-wise', async () => {
    const byColumns = probabilities(await post(columnsOf(TWO_ROWS)))
    const byRows = probabilities(await post(TWO_ROWS))
    expect(byColumns).toHaveLength(2)
    expect(byRows).toEqual(byColumns)
    // Rows stay in request order: the same two passengers reversed give the numbers reversed.
    expect(probabilities(await post([MAN_THIRD, WOMAN_FIRST]))).toEqual([...byRows].reverse())
  })

  it("gives a first-class woman a higher survival probability than a third-class man", async () => {
    const [woman, man] = probabilities(await post(TWO_ROWS))
    expect(woman).toBeGreaterThan(0.7)
    expect(man).toBeLessThan(0.3)
    expect(woman!).toBeGreaterThan(man!)
  })

  it('accepts a single row object and scalar-per-feature columns as one row', async () => {
    const one = probabilities(await post(WOMAN_FIRST))
    expect(one).toHaveLength(1)
    expect(one).toEqual(probabilities(await post([WOMAN_FIRST])))
    expect(one).toEqual(probabilities(await post(columnsOf([WOMAN_FIRST]))))
  })

  it('coerces like pydantic: "22" for a number, 0 for a string, "true" for a boolean', async () => {
    const typed = probabilities(await post({ ...columnsOf([MAN_THIRD]), age: [22], deck: ['0'], adult_male: [true] }))
    const loose = probabilities(await post({ ...columnsOf([MAN_THIRD]), age: ['22'], deck: [0], adult_male: ['true'] }))
    expect(loose).toEqual(typed)
    // ...and the coerced values really reach the model: age 22 ≠ age 60.
    const older = probabilities(await post({ ...columnsOf([MAN_THIRD]), age: ['60'] }))
    expect(older[0]).not.toBe(loose[0])
  })

  it('treats null in a nullable feature as missing, and rejects null in a required one', async () => {
    probabilities(await post([{ ...MAN_THIRD, age: null, deck: null, embarked: null }]))
    const [d] = validationDetails(await post([{ ...MAN_THIRD, sex: null }]))
    expect(d).toMatchObject({ type: 'missing', loc: ['body', 0, 'sex'] })
  })
})

describe('422 in FastAPI’s shape', () => {
  it('names a missing feature: loc ["body","sex"], type "missing"', async () => {
    const { sex: _sex, ...rest } = SEED
    const details = validationDetails(await post(rest))
    expect(details).toEqual([{ type: 'missing', loc: ['body', 'sex'], msg: 'Field required', input: null }])
  })

  it('names a missing feature in a row by its index', async () => {
    const { who: _who, ...rest } = MAN_THIRD
    const details = validationDetails(await post([WOMAN_FIRST, rest]))
    expect(details).toEqual([expect.objectContaining({ type: 'missing', loc: ['body', 1, 'who'] })])
  })

  it('names a value of the wrong type with its index: age ["abc"] → float_parsing at ["body","age",0]', async () => {
    const details = validationDetails(await post({ ...SEED, age: ['abc'] }))
    expect(details).toEqual([{ type: 'float_parsing', loc: ['body', 'age', 0], msg: expect.stringMatching(/valid number/), input: 'abc' }])
  })

  it('reports every bad value at once', async () => {
    const details = validationDetails(await post({ ...columnsOf(TWO_ROWS), age: [1, 'x'], pclass: [1.5, 2], adult_male: ['maybe', true], sex: [{}, 'male'] }))
    const got = details.map((d) => [d.type, d.loc])
    expect(got).toEqual(
      expect.arrayContaining([
        ['float_parsing', ['body', 'age', 1]],
        ['int_from_float', ['body', 'pclass', 0]],
        ['bool_parsing', ['body', 'adult_male', 0]],
        ['string_type', ['body', 'sex', 0]],
      ]),
    )
  })

  it('rejects columns of different lengths', async () => {
    const details = validationDetails(await post({ ...SEED, age: [1, 2] }))
    expect(details).toEqual([expect.objectContaining({ type: 'length_mismatch', loc: ['body', 'age'], msg: expect.stringMatching(/expected 1 values .* got 2/) })])
  })

  it.each([
    ['a string', '"passengers"', 'passengers'],
    ['a number', '42', 42],
    ['null', 'null', null],
    ['a list of numbers', '[1, 2]', 1],
  ])('rejects a body that is %s', async (_what, raw, input) => {
    const details = validationDetails(await postRaw(raw))
    expect(details[0]).toMatchObject({ type: 'dict_type', input })
  })

  it('rejects an empty list of rows', async () => {
    expect(validationDetails(await post([]))[0]).toMatchObject({ type: 'too_short', loc: ['body'] })
  })

  it('rejects invalid JSON with type json_invalid', async () => {
    const details = validationDetails(await postRaw('{"pclass": [1], "sex": '))
    expect(details).toEqual([expect.objectContaining({ type: 'json_invalid', loc: ['body'], msg: 'JSON decode error' })])
  })

  it('rejects an empty JSON body as a missing body', async () => {
    expect(validationDetails(await postRaw(''))[0]).toMatchObject({ type: 'missing', loc: ['body'] })
  })

  it('keeps serving after bad requests', async () => {
    for (const bad of ['{', '[]', '"x"', JSON.stringify({ ...SEED, age: ['abc'] }), JSON.stringify({ ...SEED, sex: [1, 2] })]) {
      expect((await postRaw(bad)).statusCode).toBe(422)
    }
    expect(probabilities(await post(SEED))).toHaveLength(1)
  })
})

describe('server limits from mlx.yaml', () => {
  let limited: MlxServer
  beforeAll(async () => {
    const p = await titanicWith('server:\n  bodyLimit: 2048\n  maxBatchRows: 3\n')
    expect(p.server).toMatchObject({ bodyLimit: 2048, maxBatchRows: 3 })
    limited = createServer(p, { runtime: () => onnxRuntime, log: silentLogger })
    await limited.ready
  })
  afterAll(async () => {
    await limited?.close()
  })

  it('answers 413 for a body over server.bodyLimit, then keeps serving', async () => {
    const big = Array.from({ length: 3 }, () => ({ ...MAN_THIRD, embark_town: 'x'.repeat(800) }))
    expect(JSON.stringify(big).length).toBeGreaterThan(2048)
    const res = await limited.app.inject({ method: 'POST', url: '/predict_function', payload: big })
    expect(res.statusCode).toBe(413)
    expect(res.json()).toEqual({ detail: expect.stringMatching(/larger than 2048 bytes.*server\.bodyLimit/) })
    expect((await limited.app.inject({ method: 'POST', url: '/predict_function', payload: SEED })).statusCode).toBe(200)
  })

  it('answers 422 too_long for more rows than server.maxBatchRows, row- and column-wise', async () => {
    const four = Array.from({ length: 4 }, () => MAN_THIRD)
    for (const body of [four, columnsOf(four)]) {
      const res = await limited.app.inject({ method: 'POST', url: '/predict_function', payload: body })
      const [d] = validationDetails(res)
      expect(d).toMatchObject({ type: 'too_long', loc: ['body'], msg: 'at most 3 rows per request, got 4' })
    }
    const three = await limited.app.inject({ method: 'POST', url: '/predict_function', payload: four.slice(1) })
    expect(three.statusCode).toBe(200)
    expect(three.json()).toHaveLength(3)
  })
})

describe('output.schema is checked on every answer, as a FastAPI response_model is', () => {
  it('answers 500 naming the schema and the offending value when the answer drifts from it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mlx-server-'))
    tmpDirs.push(dir)
    await cp(TITANIC, dir, { recursive: true, filter: (f) => !f.includes(`${path.sep}.mlx`) })
    const file = path.join(dir, 'mlx.yaml')
    const yaml = await readFile(file, 'utf8')
    // A schema that promises less than the model answers: probabilities at most 0.5.
    const narrowed = yaml.replace('schema: { type: array, items: { type: number, minimum: 0, maximum: 1 } }', 'schema: { type: array, items: { type: number, minimum: 0, maximum: 0.5 } }')
    expect(narrowed).not.toBe(yaml)
    await writeFile(file, narrowed)
    const warnings: string[] = []
    const log = { ...silentLogger, warn: (m: string) => void warnings.push(m) }
    const s = createServer(await loadProject(dir), { runtime: () => onnxRuntime, log })
    try {
      await s.ready
      const low = await s.app.inject({ method: 'POST', url: '/predict_function', payload: [MAN_THIRD] })
      expect(low.statusCode).toBe(200)
      const high = await s.app.inject({ method: 'POST', url: '/predict_function', payload: [MAN_THIRD, WOMAN_FIRST] })
      expect(high.statusCode).toBe(500)
      expect(high.json().detail).toBe("the answer of endpoint 'predict_function' does not match its output.schema: /1 must be <= 0.5")
      expect(warnings.join('\n')).toMatch(/does not match its output\.schema: \/1 must be <= 0\.5\. Fix the endpoint's postprocess steps or handler, or the schema in mlx\.yaml/)
    } finally {
      await s.close()
    }
  })
})

describe('answers keep to output.schema, as a FastAPI response_model', () => {
  it('drops what a handler answers beyond the declared properties, at every level; free-form objects and property-less schemas pass whole', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mlx-server-'))
    tmpDirs.push(dir)
    await cp(TITANIC, dir, { recursive: true, filter: (f) => !f.includes(`${path.sep}.mlx`) })
    const file = path.join(dir, 'mlx.yaml')
    const yaml = await readFile(file, 'utf8')
    const about = [
      '  about:',
      '    method: GET',
      '    path: /about',
      '    handler: src/about.ts',
      '    output:',
      '      schema:',
      '        type: object',
      '        required: [name, models]',
      '        properties:',
      '          name: { type: string }',
      '          models: { type: array, items: { type: object, properties: { id: { type: string } } } }',
      '          extra: { type: object }',
      '          pair: { type: array, prefixItems: [{ type: string }, { type: object, properties: { v: { type: integer } } }] }',
      '',
    ].join('\n')
    await writeFile(file, yaml.replace('endpoints:\n', `endpoints:\n${about}`))
    // The loader wants the file; the test passes the loaded function itself, as the CLI does after compiling.
    await mkdir(path.join(dir, 'src'), { recursive: true })
    await writeFile(path.join(dir, 'src/about.ts'), 'export default () => ({})\n')
    const handlers = {
      // Internal details a handler might return by accident: they must not reach the client.
      about: async () => ({ name: 'titanic', token_path: '/run/secrets/x', models: [{ id: 'titanic', file: '/app/model.onnx' }], extra: { free: 1 }, pair: ['a', { v: 1, w: 2 }] }),
    }
    const s = createServer(await loadProject(dir), { runtime: () => onnxRuntime, handlers, log: silentLogger })
    try {
      await s.ready
      const res = await s.app.inject({ url: '/about' })
      expect(res.statusCode).toBe(200)
      // `extra` is declared as a free-form object, so what is inside it stays.
      // 2020-12 tuples (prefixItems) are followed too.
      expect(res.json()).toEqual({ name: 'titanic', models: [{ id: 'titanic' }], extra: { free: 1 }, pair: ['a', { v: 1 }] })
      // An endpoint whose schema lists no properties answers exactly what the model gives.
      const p = await s.app.inject({ method: 'POST', url: '/predict_function', payload: [MAN_THIRD] })
      expect(p.statusCode).toBe(200)
      expect(p.json()).toHaveLength(1)
    } finally {
      await s.close()
    }
  })
})

describe('server.requestTimeoutMs bounds the time to answer', () => {
  it('answers 504 naming the setting when the model is slower, then serves the next request', async () => {
    const p = await titanicWith('server:\n  requestTimeoutMs: 300\n')
    let stall = true
    // The real onnx model, with a run() that can be held back: a model slower than the setting.
    const slow: Runtime = {
      name: 'onnx',
      async load(spec, ctx) {
        const real = await onnxRuntime.load(spec, ctx)
        return { ...real, run: async (feeds) => (stall ? new Promise(() => {}) : real.run(feeds)), dispose: () => real.dispose() }
      },
    }
    const s = createServer(p, { runtime: () => slow, log: silentLogger })
    try {
      await s.ready
      const res = await s.app.inject({ method: 'POST', url: '/predict_function', payload: SEED })
      expect(res.statusCode).toBe(504)
      expect(res.json().detail).toMatch(/longer than server\.requestTimeoutMs \(300 ms\)/)
      stall = false
      const ok = await s.app.inject({ method: 'POST', url: '/predict_function', payload: SEED })
      expect(ok.statusCode).toBe(200)
    } finally {
      await s.close()
    }
  })
})

describe('OpenAPI and docs', () => {
  let doc: any
  let reference: Record<string, unknown>[]
  beforeAll(async () => {
    const res = await server.app.inject({ url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    doc = res.json()
    reference = await parquetReadObjects({ file: await asyncBufferFromFile(path.join(TITANIC, 'data/reference.parquet')) })
  })

  it('is OpenAPI 3.1.0 with the project’s title and version', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.info).toMatchObject({ title: 'titanic', version: '1.0.0' })
  })

  it('describes POST /predict_function: columns or rows, 200 and a 422 referencing HTTPValidationError', () => {
    const op = doc.paths['/predict_function'].post
    expect(op.operationId).toBe('predict_function')
    const body = op.requestBody.content['application/json']
    expect(body.schema).toEqual({ oneOf: [{ $ref: '#/components/schemas/PredictFunctionColumns' }, { $ref: '#/components/schemas/PredictFunctionRows' }] })
    expect(op.responses['422'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/HTTPValidationError' })
    expect(doc.components.schemas.HTTPValidationError.properties.detail.items).toEqual({ $ref: '#/components/schemas/ValidationError' })
    expect(op.responses['200'].content['application/json'].schema).toEqual({ type: 'array', items: { type: 'number', minimum: 0, maximum: 1 } })
    const cols = doc.components.schemas.PredictFunctionColumns
    expect(cols.properties.age).toMatchObject({ type: 'array', items: { type: ['number', 'null'] } })
    expect(cols.properties.sex.items.description).toMatch(/male/)
    expect(cols.required).toEqual(expect.arrayContaining(['pclass', 'sex', 'fare']))
    expect(cols.required).not.toContain('age')
    expect(Object.keys(cols.properties)).not.toContain('survived')
  })

  it('takes its request examples from the reference data', () => {
    const examples = doc.paths['/predict_function'].post.requestBody.content['application/json'].examples
    const first = reference.slice(0, 2)
    const columns = examples.columns.value as Record<string, unknown[]>
    expect(Object.keys(columns).length).toBeGreaterThanOrEqual(13)
    for (const [name, values] of Object.entries(columns)) {
      expect(values, name).toEqual(first.map((r) => (typeof r[name] === 'bigint' ? Number(r[name]) : r[name])))
    }
    expect(columns.sex).toEqual(['female', 'female'])
    expect(columns.fare).toEqual([11.1333, 26.55])
    expect(examples.rows.value).toHaveLength(2)
    expect(examples.rows.value[1]).toMatchObject({ class: 'First', deck: 'C', fare: 26.55 })
  })

  it('has examples the endpoint accepts, giving the same answer both ways', async () => {
    const examples = doc.paths['/predict_function'].post.requestBody.content['application/json'].examples
    const a = probabilities(await post(examples.columns.value))
    expect(a).toHaveLength(2)
    expect(probabilities(await post(examples.rows.value))).toEqual(a)
  })

  it('has no dangling $ref', () => {
    const refs: string[] = []
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk)
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) k === '$ref' ? refs.push(String(x)) : walk(x)
    }
    walk(doc)
    expect(refs.length).toBeGreaterThan(3)
    for (const r of refs) {
      expect(r).toMatch(/^#\/components\/schemas\//)
      expect(doc.components.schemas, r).toHaveProperty(r.split('/').pop()!)
    }
  })

  it('serves /docs as HTML loading the bundled Swagger UI, and the asset itself', async () => {
    const page = await server.app.inject({ url: '/docs' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).toContain('<script src="/docs/assets/swagger-ui-bundle.js"></script>')
    expect(page.body).toContain('titanic')
    const js = await server.app.inject({ url: '/docs/assets/swagger-ui-bundle.js' })
    expect(js.statusCode).toBe(200)
    expect(js.headers['content-type']).toMatch(/javascript/)
    expect(js.body.length).toBeGreaterThan(100_000)
    expect(js.body).toContain('SwaggerUIBundle')
    const init = await server.app.inject({ url: '/docs/init.js' })
    expect(init.statusCode).toBe(200)
    expect(init.body).toContain("url: '/openapi.json'")
    const css = await server.app.inject({ url: '/docs/assets/swagger-ui.css' })
    expect(css.statusCode).toBe(200)
    expect(css.headers['content-type']).toMatch(/^text\/css/)
  })

  it('serves no file outside the asset list', async () => {
    for (const url of ['/docs/assets/package.json', '/docs/assets/..%2Fpackage.json', '/docs/assets/index.html']) {
      expect((await server.app.inject({ url })).statusCode, url).toBe(404)
    }
  })

  it('lists the endpoints at GET /', async () => {
    const res = await server.app.inject({ url: '/' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      name: 'titanic',
      version: '1.0.0',
      docs: '/docs',
      openapi: '/openapi.json',
      endpoints: [{ name: 'predict_function', method: 'POST', path: '/predict_function' }],
    })
  })
})

describe('startup', () => {
  it('emits no deprecation warnings', async () => {
    await new Promise((r) => setImmediate(r))
    expect(warnings.filter((w) => /deprecat/i.test(w))).toEqual([])
  })
})

describe('health and readiness', () => {
  it('answers /healthz and /readyz once the models are loaded', async () => {
    expect((await server.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' })
    const ready = await server.app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ready', models: ['titanic'] })
  })

  /** A runtime whose load() waits until the test lets it finish. */
  function gatedRuntime() {
    let release!: () => void
    let fail!: (e: Error) => void
    const gate = new Promise<void>((res, rej) => {
      release = res
      fail = rej
    })
    const model: LoadedModel = {
      inputs: [],
      outputs: [],
      run: async () => ({}),
      dispose: async () => {},
    }
    const runtime: Runtime = { name: 'onnx', load: async () => (await gate, model) }
    return { runtime, release, fail }
  }

  it('answers 503 on /readyz, /v2/health/ready and the endpoint while the model loads, then 200', async () => {
    const gated = gatedRuntime()
    const s = createServer(project, { runtime: () => gated.runtime, log: silentLogger })
    try {
      expect((await s.app.inject({ url: '/healthz' })).statusCode).toBe(200)
      const loading = await s.app.inject({ url: '/readyz' })
      expect(loading.statusCode).toBe(503)
      expect(loading.json()).toEqual({ status: 'loading' })
      expect((await s.app.inject({ url: '/v2/health/ready' })).statusCode).toBe(503)
      expect((await s.app.inject({ url: '/v2/health/live' })).statusCode).toBe(200)
      const early = await s.app.inject({ method: 'POST', url: '/predict_function', payload: SEED })
      expect(early.statusCode).toBe(503)
      expect(early.json().detail).toMatch(/still loading/)
      gated.release()
      await s.ready
      expect((await s.app.inject({ url: '/readyz' })).statusCode).toBe(200)
      expect((await s.app.inject({ url: '/v2/health/ready' })).json()).toEqual({ ready: true })
    } finally {
      gated.release()
      await s.close()
    }
  })

  it('answers 503 "failed" with the reason when a model cannot load', async () => {
    const gated = gatedRuntime()
    const s = createServer(project, { runtime: () => gated.runtime, log: silentLogger })
    gated.fail(new Error('bad protobuf'))
    await expect(s.ready).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED', message: expect.stringContaining('bad protobuf') })
    const res = await s.app.inject({ url: '/readyz' })
    expect(res.statusCode).toBe(503)
    expect(res.json()).toMatchObject({ status: 'failed', detail: expect.stringContaining('bad protobuf') })
    const call = await s.app.inject({ method: 'POST', url: '/predict_function', payload: SEED })
    expect(call.statusCode).toBe(503)
    expect(call.json().detail).toMatch(/failed to load.*bad protobuf/)
    await s.close()
  })
})

describe('Open Inference Protocol v2', () => {
  const VALUES: Record<string, unknown> = { ...WOMAN_FIRST, adult_male: 0, alone: 1 }
  let inputs: { name: string; datatype: string; shape: number[] }[]
  const inferBody = (over: (i: { name: string; datatype: string }) => object = () => ({})) => ({
    id: 'req-1',
    inputs: inputs.map((i) => ({ name: i.name, shape: [1, 1], datatype: i.datatype, data: [VALUES[i.name]], ...over(i) })),
  })

  beforeAll(async () => {
    const res = await server.app.inject({ url: '/v2/models/titanic' })
    inputs = res.json().inputs
  })

  it('answers live and ready', async () => {
    expect((await server.app.inject({ url: '/v2/health/live' })).json()).toEqual({ live: true })
    expect((await server.app.inject({ url: '/v2/health/ready' })).json()).toEqual({ ready: true })
    expect((await server.app.inject({ url: '/v2/models/titanic/ready' })).json()).toEqual({ name: 'titanic', ready: true })
  })

  it('describes the model: platform, 13 inputs (FP32 / BYTES), outputs', async () => {
    const res = await server.app.inject({ url: '/v2/models/titanic' })
    expect(res.statusCode).toBe(200)
    const m = res.json()
    expect(m).toMatchObject({ name: 'titanic', versions: ['1.0.0'], platform: 'onnx' })
    expect(m.inputs).toHaveLength(13)
    expect(m.inputs).toContainEqual({ name: 'age', datatype: 'FP32', shape: [-1, 1] })
    expect(m.inputs).toContainEqual({ name: 'sex', datatype: 'BYTES', shape: [-1, 1] })
    expect(m.inputs.map((i: { name: string }) => i.name)).not.toContain('alive')
    expect(new Set(m.inputs.map((i: { datatype: string }) => i.datatype))).toEqual(new Set(['FP32', 'BYTES']))
    expect(m.outputs).toEqual([
      { name: 'label', datatype: 'INT64', shape: [-1] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
    ])
  })

  it('runs raw tensors and returns label and probabilities with their shapes', async () => {
    const res = await server.app.inject({ method: 'POST', url: '/v2/models/titanic/infer', payload: inferBody() })
    expect(res.statusCode, res.body).toBe(200)
    const out = res.json()
    expect(out).toMatchObject({ model_name: 'titanic', model_version: '1.0.0', id: 'req-1' })
    const label = out.outputs.find((o: { name: string }) => o.name === 'label')
    const proba = out.outputs.find((o: { name: string }) => o.name === 'probabilities')
    expect(label).toMatchObject({ datatype: 'INT64', shape: [1], data: [1] })
    expect(proba).toMatchObject({ datatype: 'FP32', shape: [1, 2] })
    expect(proba.data[0] + proba.data[1]).toBeCloseTo(1, 5)
    // The same passenger through the tabular endpoint gets the same probability.
    const [p] = probabilities(await post([WOMAN_FIRST]))
    expect(proba.data[1]).toBeCloseTo(p!, 6)
  })

  it('takes null in an FP32 input as a missing value, like the tabular endpoint', async () => {
    const res = await server.app.inject({ method: 'POST', url: '/v2/models/titanic/infer', payload: inferBody((i) => (i.name === 'age' ? { data: [null] } : {})) })
    expect(res.statusCode, res.body).toBe(200)
    const proba = res.json().outputs.find((o: { name: string }) => o.name === 'probabilities')
    const [p] = probabilities(await post([{ ...WOMAN_FIRST, age: null }]))
    expect(proba.data[1]).toBeCloseTo(p!, 6)
  })

  it('returns only the outputs asked for', async () => {
    const res = await server.app.inject({ method: 'POST', url: '/v2/models/titanic/infer', payload: { ...inferBody(), outputs: [{ name: 'label' }] } })
    expect(res.json().outputs.map((o: { name: string }) => o.name)).toEqual(['label'])
  })

  it('answers 404 with {"error"} for an unknown model', async () => {
    for (const req of [{ url: '/v2/models/nope' }, { url: '/v2/models/nope/ready' }, { method: 'POST' as const, url: '/v2/models/nope/infer', payload: inferBody() }]) {
      const res = await server.app.inject(req)
      expect(res.statusCode, req.url).toBe(404)
      expect(res.json()).toEqual({ error: expect.stringContaining("no model named 'nope'") })
    }
  })

  it('answers 400 with {"error"} for a bad datatype, a wrong datatype, a missing input, a bad shape, bad JSON', async () => {
    const cases: [unknown, RegExp][] = [
      [inferBody((i) => (i.name === 'age' ? { datatype: 'FP99' } : {})), /'FP99' is not a v2 datatype/],
      [inferBody((i) => (i.name === 'age' ? { datatype: 'INT32' } : {})), /'age' takes FP32, got INT32/],
      [{ inputs: inferBody().inputs.filter((i) => i.name !== 'fare') }, /missing inputs: fare/],
      [inferBody((i) => (i.name === 'age' ? { shape: [2, 1] } : {})), /shape \[2,1\] needs 2/],
      [inferBody((i) => (i.name === 'age' ? { data: ['old'] } : {})), /inputs\[\d+\]: .*number/],
      [{ nope: true }, /needs 'inputs'/],
    ]
    for (const [payload, msg] of cases) {
      const res = await server.app.inject({ method: 'POST', url: '/v2/models/titanic/infer', payload: payload as object })
      expect(res.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400)
      expect(res.json()).toEqual({ error: expect.stringMatching(msg) })
    }
    const bad = await server.app.inject({ method: 'POST', url: '/v2/models/titanic/infer', payload: '{', headers: { 'content-type': 'application/json' } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toEqual({ error: expect.stringContaining('json_invalid') })
  })
})

describe('/metrics', () => {
  const metrics = async () => {
    const res = await server.app.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    return res.body
  }
  const value = (text: string, series: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(series + ' '))
    expect(line, `${series} in /metrics`).toBeDefined()
    return Number(line!.slice(series.length + 1))
  }

  it('counts requests per endpoint in a latency histogram', async () => {
    const before = await metrics()
    expect(before).toContain('# TYPE mlx_request_duration_seconds histogram')
    expect(before).toMatch(/^mlx_request_duration_seconds_bucket\{endpoint="predict_function",le="0\.005"\} \d+$/m)
    const count = value(before, 'mlx_request_duration_seconds_count{endpoint="predict_function"}')
    const inf = value(before, 'mlx_request_duration_seconds_bucket{endpoint="predict_function",le="+Inf"}')
    const runs = value(before, 'mlx_model_run_duration_seconds_count{model="titanic"}')
    await post(SEED)
    const after = await metrics()
    expect(value(after, 'mlx_request_duration_seconds_count{endpoint="predict_function"}')).toBe(count + 1)
    expect(value(after, 'mlx_request_duration_seconds_bucket{endpoint="predict_function",le="+Inf"}')).toBe(inf + 1)
    expect(value(after, 'mlx_model_run_duration_seconds_count{model="titanic"}')).toBe(runs + 1)
    expect(value(after, 'mlx_request_duration_seconds_sum{endpoint="predict_function"}')).toBeGreaterThan(0)
  })

  it('counts a 422 as a 4xx error, not a 5xx', async () => {
    const s4 = 'mlx_request_errors_total{endpoint="predict_function",class="4xx"}'
    const s5 = 'mlx_request_errors_total{endpoint="predict_function",class="5xx"}'
    const before = await metrics()
    expect((await post({ ...SEED, age: ['abc'] })).statusCode).toBe(422)
    const after = await metrics()
    expect(value(after, s4)).toBe(value(before, s4) + 1)
    expect(value(after, s5)).toBe(value(before, s5))
  })
})

describe('plugin registry', () => {
  it('finds @mlx/runtime-onnx from the repository root and serves the titanic model with it', async () => {
    const registry = await loadRegistry([ROOT])
    const runtime = registry.runtime('onnx')
    expect(registry.plugins().map((p) => p.pkg?.name)).toContain('@mlx/runtime-onnx')
    const s = createServer(project, { runtime: (n) => registry.runtime(n), log: silentLogger })
    try {
      await s.ready
      expect(runtime.name).toBe('onnx')
      const res = await s.app.inject({ method: 'POST', url: '/predict_function', payload: SEED })
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual(probabilities(await post(SEED)))
    } finally {
      await s.close()
    }
  })
})
