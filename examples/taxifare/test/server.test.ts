// The taxifare service served through core as `mlx serve` serves it: the root greeting, GET
// /predict with the seed's query parameters, and FastAPI-shaped 422s from core's validation.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { queryOf } from '../train/features.mjs'
import { matrix, prepare } from '../train/train.mjs'
import { call, startExample, type Started } from '../../../test/support/serve-example.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const held = prepare(readFileSync(here('../data/train_10k.csv'), 'utf8')).held as Record<string, number | string>[]

// Le Wagon's api_usage example ride.
const EXAMPLE = { pickup_datetime: '2013-07-06 17:18:00 UTC', lon1: '-73.950655', lat1: '40.783282', lon2: '-73.984365', lat2: '40.769802', passcount: '1' }
const qs = (q: Record<string, unknown>) => new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, String(v)])).toString()

let app: Started
beforeAll(async () => {
  app = await startExample(here('..'))
})
afterAll(async () => {
  await app?.close()
})

describe('GET /', () => {
  it('greets, as the seed API did', async () => {
    expect(await call(`${app.url}/`)).toEqual({ status: 200, body: { greeting: 'Hello world' } })
  })
})

describe('GET /predict', () => {
  it('answers {"fare": <number>} for the example ride, as documented in mlx.yaml', async () => {
    const { status, body } = await call(`${app.url}/predict?${qs(EXAMPLE)}`)
    expect(status).toBe(200)
    expect(body).toEqual({ fare: 11.99 })
  })

  it('takes the seed\'s exact URL form (+ for spaces, %3A for colons)', async () => {
    const url = `${app.url}/predict?pickup_datetime=2013-07-06+17%3A18%3A00+UTC&lon1=-73.950655&lat1=40.783282&lon2=-73.984365&lat2=40.769802&passcount=1`
    expect((await call(url)).body).toEqual({ fare: 11.99 })
  })

  it('gives the model\'s own answer (features derived by core = features in training) for held-out rides', async () => {
    const rides = held.slice(0, 40)
    const session = await ort.InferenceSession.create(here('../model/taxifare.onnx'))
    const expected = Array.from((await session.run({ features: matrix(rides) })).fare!.data as Float32Array, (f) => Math.round(f * 100) / 100)
    const got = await Promise.all(rides.map(async (r) => (await call(`${app.url}/predict?${qs(queryOf(r))}`)).body.fare))
    expect(got).toEqual(expected)
  })

  it('reads ISO 8601 and zone-less datetimes as the same UTC instant', async () => {
    const fares = await Promise.all(['2013-07-06T17:18:00Z', '2013-07-06 17:18:00', '2013-07-06T19:18:00+02:00'].map(async (t) =>
      (await call(`${app.url}/predict?${qs({ ...EXAMPLE, pickup_datetime: t })}`)).body))
    expect(fares).toEqual([{ fare: 11.99 }, { fare: 11.99 }, { fare: 11.99 }])
  })

  it('answers 422 naming the query parameter for a bad datetime', async () => {
    const { status, body } = await call(`${app.url}/predict?${qs({ ...EXAMPLE, pickup_datetime: 'yesterday' })}`)
    expect(status).toBe(422)
    expect(body).toEqual({ detail: [{ type: 'datetime_from_date_parsing', loc: ['query', 'pickup_datetime'], msg: expect.any(String), input: 'yesterday' }] })
  })

  it('answers 422 for numbers that are not numbers, a fractional passcount, and a missing parameter', async () => {
    const { lon2: _drop, ...noLon2 } = EXAMPLE
    const { status, body } = await call(`${app.url}/predict?${qs({ ...noLon2, lat1: 'north', passcount: '1.5' })}`)
    expect(status).toBe(422)
    expect(body.detail).toEqual([
      expect.objectContaining({ type: 'float_parsing', loc: ['query', 'lat1'], input: 'north' }),
      expect.objectContaining({ type: 'missing', loc: ['query', 'lon2'], msg: 'Field required' }),
      expect.objectContaining({ type: 'int_parsing', loc: ['query', 'passcount'], input: '1.5' }),
    ])
  })

  it('documents the six query parameters in /openapi.json', async () => {
    const { body } = await call(`${app.url}/openapi.json`)
    const params = body.paths['/predict'].get.parameters
    expect(params.map((p: { name: string; in: string; required: boolean }) => [p.name, p.in, p.required])).toEqual(
      ['pickup_datetime', 'lon1', 'lat1', 'lon2', 'lat2', 'passcount'].map((n) => [n, 'query', true]))
    expect(params[0].schema).toMatchObject({ type: 'string', format: 'date-time' })
    expect(body.paths['/'].get).toBeDefined()
  })
})
