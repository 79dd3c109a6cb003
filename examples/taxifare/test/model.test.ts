// The committed taxifare.onnx against metrics.json and the cleaning rules, fed as the server
// feeds it: one float32 [N,10] matrix in the order of mlx.yaml's stack step.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { parse } from 'yaml'
import { beforeAll, describe, expect, it } from 'vitest'
import { FEATURES, NYC, RULES, featurise, haversineKm } from '../train/features.mjs'
import { matrix, prepare } from '../train/train.mjs'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const metrics = JSON.parse(readFileSync(here('../model/metrics.json'), 'utf8'))
const manifest = parse(readFileSync(here('../mlx.yaml'), 'utf8'))
const data = prepare(readFileSync(here('../data/train_10k.csv'), 'utf8'))

type Ride = Record<string, number | string>
let session: ort.InferenceSession
beforeAll(async () => {
  session = await ort.InferenceSession.create(here('../model/taxifare.onnx'))
})
const predict = async (rows: Ride[]) => Array.from((await session.run({ features: matrix(rows) })).fare!.data as Float32Array)
const rmse = (pred: number[], rows: Ride[]) => Math.sqrt(rows.reduce((s, r, i) => s + (pred[i]! - (r.fare_amount as number)) ** 2, 0) / rows.length)

const ride = (over: Ride = {}): Ride => ({
  key: 'x', fare_amount: 0, pickup_datetime: '2013-07-06 17:18:00 UTC', passenger_count: 1,
  pickup_longitude: -73.950655, pickup_latitude: 40.783282, dropoff_longitude: -73.984365, dropoff_latitude: 40.769802, ...over,
})

describe('taxifare.onnx', () => {
  it('takes one float32 [N,10] matrix stacked as mlx.yaml says, and returns fare [N,1]', () => {
    const [input] = session.inputMetadata
    expect(input).toMatchObject({ name: 'features', isTensor: true, type: 'float32', shape: ['N', 10] })
    expect(session.outputMetadata).toEqual([expect.objectContaining({ name: 'fare', type: 'float32', shape: ['N', 1] })])
    const stack = manifest.endpoints.predict.preprocess.find((s: { op: string }) => s.op === 'stack')
    expect(stack.columns).toEqual(FEATURES)
    expect(metrics.features).toEqual(FEATURES)
  })

  it('reproduces metrics.json: held-out RMSE far below the predict-the-mean baseline', async () => {
    expect(data.held).toHaveLength(metrics.heldOutRows)
    expect(data.train).toHaveLength(metrics.trainRows)
    const pred = await predict(data.held)
    // onnxruntime's float32 sums may differ in the last bits between runs on a loaded machine.
    expect(rmse(pred, data.held)).toBeCloseTo(metrics.heldOutRmse, 5)
    const mean = data.train.reduce((s: number, r: Ride) => s + (r.fare_amount as number), 0) / data.train.length
    expect(rmse(data.held.map(() => mean), data.held)).toBeCloseTo(metrics.baselineRmse, 9)
    expect(metrics.heldOutRmse).toBeLessThan(metrics.baselineRmse / 2)
  })

  it('cleans by the documented rules with the documented counts', () => {
    expect(data.raw).toHaveLength(10_000)
    expect(data.dropped).toEqual(metrics.cleaning)
    expect(data.dropped.map((d: { rule: string }) => d.rule)).toEqual(RULES.map((r: { name: string }) => r.name))
    expect(data.kept.length + data.dropped.reduce((s: number, d: { rows: number }) => s + d.rows, 0)).toBe(10_000)
    const broken = data.kept.filter((r: Record<string, number>) =>
      !(r.fare_amount! >= 2.5 && r.fare_amount! <= 200) ||
      ![r.pickup_longitude!, r.dropoff_longitude!].every((lon) => lon >= NYC.minLon && lon <= NYC.maxLon) ||
      ![r.pickup_latitude!, r.dropoff_latitude!].every((lat) => lat >= NYC.minLat && lat <= NYC.maxLat) ||
      !(r.passenger_count! >= 1 && r.passenger_count! <= 8))
    expect(broken).toEqual([])
  })

  it('derives the features as core does: haversine km, UTC hour, weekday with Monday = 0', () => {
    const x = featurise(ride())
    expect(x[0]).toBeCloseTo(3.2, 1)
    expect(x.slice(1, 6)).toEqual([17, 5, 7, 2013, 1]) // Saturday 6 July 2013, 17:18 UTC
    expect(haversineKm(40.7128, -74.006, 40.6413, -73.7781)).toBeCloseTo(20.8, 1) // lower Manhattan to JFK
  })

  it('charges more for longer rides and for JFK than for a few blocks', async () => {
    const [short, medium, jfk] = await predict([
      ride({ dropoff_longitude: -73.955, dropoff_latitude: 40.78 }),
      ride(),
      ride({ pickup_longitude: -73.985, pickup_latitude: 40.758, dropoff_longitude: -73.7781, dropoff_latitude: 40.6413 }),
    ])
    expect(short).toBeLessThan(medium!)
    expect(medium).toBeLessThan(jfk!)
    expect(jfk).toBeGreaterThan(35)
    expect(short).toBeGreaterThan(2.5)
  })
})
