// The classifier served through core as `mlx serve` serves it: every route, the course's body
// and response shapes, and FastAPI-shaped 422s.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readTitanicRaw } from '../train/csv.mjs'
import { call, startExample, type Started } from '../../../test/support/serve-example.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const EXAMPLE = here('..')
const metrics = JSON.parse(readFileSync(here('../model/metrics.json'), 'utf8'))
const sample = JSON.parse(readFileSync(here('../data/sample_request.json'), 'utf8'))
const reference: Record<string, unknown>[] = readTitanicRaw(readFileSync(here('../data/reference.csv'), 'utf8'), { hasIndex: false })

let app: Started
beforeAll(async () => {
  app = await startExample(EXAMPLE)
})
afterAll(async () => {
  await app?.close()
})

describe('GET /health', () => {
  it("answers the course's Health schema with the versions of mlx.yaml and metrics.json", async () => {
    const { status, body } = await call(`${app.url}/health`)
    expect(status).toBe(200)
    expect(body).toEqual({ name: 'Titanic Classification API', api_version: '1.0.0', model_version: '1.0.0' })
    expect(body.api_version).toBe(parse(readFileSync(here('../mlx.yaml'), 'utf8')).version)
    expect(body.model_version).toBe(metrics.modelVersion)
  })
})

describe('POST /predict', () => {
  it('answers the sample request with one 0/1 prediction per passenger', async () => {
    const { status, body } = await call(`${app.url}/predict`, { body: sample })
    expect(status).toBe(200)
    expect(body).toEqual({ errors: null, version: '1.0.0', predictions: [1, 0, 0] })
  })

  it('scores the whole held-out set in one request with the accuracy in metrics.json', async () => {
    // Raw rows as a client holds them: label dropped, missing values null, '?' in a text field.
    const inputs = reference.map(({ survived: _s, ...r }, i) => (i === 0 ? { ...r, cabin: r.cabin ?? '?' } : r))
    const { status, body } = await call(`${app.url}/predict`, { body: { inputs } })
    expect(status).toBe(200)
    expect(body.predictions).toHaveLength(reference.length)
    const correct = reference.filter((r, i) => body.predictions[i] === r.survived).length
    // A runtime's float output may flip one borderline row, never more.
    expect(Math.abs(correct / reference.length - metrics.heldOutAccuracy)).toBeLessThanOrEqual(1 / reference.length + 1e-12)
  })

  it('coerces numbers sent as strings, and accepts nulls, absent fields and unknown extra fields', async () => {
    const p = { pclass: 1, name: 'Smith, Mrs. Jane', sex: 'female', age: 38, sibsp: 1, parch: 0, fare: 71.28, cabin: 'C85', embarked: 'C' }
    const { status, body } = await call(`${app.url}/predict`, {
      body: { inputs: [p, { ...p, pclass: '1', age: '38', fare: '71.28', sibsp: '1', parch: '0', extra: 'ignored' }, {}, { name: null, age: null }] },
    })
    expect(status).toBe(200)
    expect(body.predictions).toHaveLength(4)
    expect(body.predictions[0]).toBe(1)
    expect(body.predictions[1]).toBe(body.predictions[0])
    for (const x of body.predictions) expect([0, 1]).toContain(x)
  })

  it('answers 422 in FastAPI shape naming the field of the failing passenger', async () => {
    const bad = await call(`${app.url}/predict`, { body: { inputs: [{ pclass: 3 }, { pclass: 'third', age: 'old' }] } })
    expect(bad.status).toBe(422)
    expect(bad.body.detail).toEqual([
      expect.objectContaining({ loc: ['body', 'inputs', 1, 'pclass'], type: 'type', msg: expect.stringContaining('integer') }),
      expect.objectContaining({ loc: ['body', 'inputs', 1, 'age'], type: 'type', msg: expect.stringContaining('number') }),
    ])
  })

  it('answers 422 when inputs is missing, empty, not a list, or the body is not JSON', async () => {
    const missing = await call(`${app.url}/predict`, { body: { passengers: [] } })
    expect(missing.status).toBe(422)
    expect(missing.body.detail).toEqual([expect.objectContaining({ type: 'missing', loc: ['body', 'inputs'], msg: 'Field required' })])
    const empty = await call(`${app.url}/predict`, { body: { inputs: [] } })
    expect(empty.status).toBe(422)
    expect(empty.body.detail[0]).toMatchObject({ type: 'minItems', loc: ['body', 'inputs'] })
    const rows = await call(`${app.url}/predict`, { body: [{ pclass: 1 }] })
    expect(rows.status).toBe(422)
    expect(rows.body.detail[0]).toMatchObject({ type: 'type', loc: ['body'] })
    const notJson = await call(`${app.url}/predict`, { body: '{"inputs": [' })
    expect(notJson.status).toBe(422)
    expect(notJson.body.detail[0]).toMatchObject({ type: 'json_invalid', loc: ['body'] })
  })

  it('documents both routes in /openapi.json with the example body', async () => {
    const { body } = await call(`${app.url}/openapi.json`)
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/health', '/predict']))
    expect(body.paths['/health'].get).toBeDefined()
    expect(body.paths['/predict'].post.requestBody.content['application/json'].examples.example.value).toEqual(sample)
  })
})
