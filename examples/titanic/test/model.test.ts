// Checks the committed titanic model against the contract the server relies
// on, feeding it exactly as the server would: every column as [N,1], numbers as
// float32 with NaN for missing, strings with "" for missing.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import { beforeAll, describe, expect, it } from 'vitest'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const MODEL = here('../model/titanic.onnx')
const METRICS = here('../model/metrics.json')
const REFERENCE = here('../data/reference.parquet')

const NUMERIC = ['pclass', 'age', 'sibsp', 'parch', 'fare', 'adult_male', 'alone']
const STRINGS = ['sex', 'embarked', 'class', 'who', 'deck', 'embark_town']
const COLUMNS = ['survived', 'pclass', 'sex', 'age', 'sibsp', 'parch', 'fare', 'embarked', 'class', 'who',
  'adult_male', 'deck', 'embark_town', 'alive', 'alone']

type Row = Record<string, unknown>

function feeds(rows: Row[]): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {}
  for (const c of NUMERIC) {
    // Number(true) = 1: booleans arrive as 0/1 floats.
    const data = Float32Array.from(rows, (r) => (r[c] === null || r[c] === undefined ? NaN : Number(r[c])))
    out[c] = new ort.Tensor('float32', data, [rows.length, 1])
  }
  for (const c of STRINGS) out[c] = new ort.Tensor('string', rows.map((r) => (r[c] ?? '') as string), [rows.length, 1])
  return out
}

let session: ort.InferenceSession
let reference: Row[]
const metrics = JSON.parse(readFileSync(METRICS, 'utf8'))

async function predict(rows: Row[]) {
  const out = await session.run(feeds(rows))
  return { label: Array.from(out.label.data as BigInt64Array, Number), proba: out.probabilities.data as Float32Array, out }
}

const passenger = (over: Row): Row => ({
  pclass: 3, sex: 'male', age: 30, sibsp: 0, parch: 0, fare: 8, embarked: 'S', class: 'Third', who: 'man',
  adult_male: true, deck: null, embark_town: 'Southampton', alone: true, ...over,
})

beforeAll(async () => {
  session = await ort.InferenceSession.create(MODEL)
  reference = await parquetReadObjects({ file: await asyncBufferFromFile(REFERENCE) })
})

describe('titanic.onnx', () => {
  it('has one [N,1] input per feature and label/probabilities outputs', () => {
    const inputs = Object.fromEntries(session.inputMetadata.map((m) => [m.name, m]))
    expect(Object.keys(inputs).sort()).toEqual([...NUMERIC, ...STRINGS].sort())
    expect(inputs).not.toHaveProperty('alive')
    expect(inputs).not.toHaveProperty('survived')
    for (const [name, m] of Object.entries(inputs)) {
      if (!m.isTensor) throw new Error(`${name} is not a tensor`)
      expect(m.type).toBe(NUMERIC.includes(name) ? 'float32' : 'string')
      expect(m.shape).toEqual(['N', 1])
    }
    const outputs = Object.fromEntries(session.outputMetadata.map((m) => [m.name, m]))
    expect(Object.keys(outputs)).toEqual(['label', 'probabilities'])
    expect(outputs.label).toMatchObject({ isTensor: true, type: 'int64', shape: ['N'] })
    expect(outputs.probabilities).toMatchObject({ isTensor: true, type: 'float32', shape: ['N', 2] })
  })

  it('returns probabilities in [0,1] whose rows sum to 1, label = argmax', async () => {
    const { label, proba, out } = await predict(reference)
    expect(out.probabilities.dims).toEqual([reference.length, 2])
    expect(out.label.dims).toEqual([reference.length])
    for (let i = 0; i < reference.length; i++) {
      const [p0, p1] = [proba[2 * i], proba[2 * i + 1]]
      expect(p0).toBeGreaterThanOrEqual(0)
      expect(p1).toBeLessThanOrEqual(1)
      expect(p0 + p1).toBeCloseTo(1, 6)
      expect(label[i]).toBe(p1 > p0 ? 1 : 0)
    }
  })

  it('ranks a first-class woman above a third-class man', async () => {
    const woman = passenger({ pclass: 1, sex: 'female', class: 'First', who: 'woman', adult_male: false, fare: 80, deck: 'C' })
    const { proba } = await predict([woman, passenger({})])
    expect(proba[1]).toBeGreaterThan(0.5)
    expect(proba[3]).toBeLessThan(0.5)
    expect(proba[1]).toBeGreaterThan(proba[3])
  })

  it('treats unknown categories as missing and imputes NaN numbers', async () => {
    const unknown = passenger({ sex: 'string', embarked: '0', class: 'Fourth', who: '', deck: 'Z', embark_town: 'Atlantis' })
    const missing = passenger({ sex: null, embarked: null, class: null, who: null, deck: null, embark_town: null })
    const allNaN = passenger(Object.fromEntries(NUMERIC.map((c) => [c, null])))
    const { proba } = await predict([unknown, missing, allNaN])
    expect(proba[1]).toBe(proba[3])
    for (const p of proba) expect(Number.isFinite(p)).toBe(true)
  })

  it('reproduces metrics.json held-out accuracy on reference.parquet', async () => {
    expect(reference.length).toBe(metrics.heldOutRows)
    expect(metrics.heldOutRows + metrics.trainRows).toBe(891)
    const { label } = await predict(reference)
    const correct = reference.filter((r, i) => label[i] === r.survived).length
    // A runtime's float output may flip one borderline row, never more.
    expect(Math.abs(correct / reference.length - metrics.heldOutAccuracy)).toBeLessThanOrEqual(1 / reference.length + 1e-12)
    expect(metrics.heldOutAccuracy).toBeGreaterThan(metrics.baselineAccuracy + 0.1)
    expect(metrics.features).not.toContain('alive')
  })
})

describe('reference.parquet', () => {
  it('holds all 15 original columns with parquet types and nulls for missing', async () => {
    const meta = await parquetMetadataAsync(await asyncBufferFromFile(REFERENCE))
    const schema = Object.fromEntries(meta.schema.slice(1).map((s) => [s.name, s]))
    expect(Object.keys(schema)).toEqual(COLUMNS)
    for (const c of ['survived', 'pclass', 'sibsp', 'parch']) expect(schema[c].type).toBe('INT32')
    for (const c of ['age', 'fare']) expect(schema[c].type).toBe('DOUBLE')
    for (const c of ['adult_male', 'alone']) expect(schema[c].type).toBe('BOOLEAN')
    for (const c of [...STRINGS, 'alive']) expect(schema[c]).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' })

    expect(Object.keys(reference[0])).toEqual(COLUMNS)
    expect(reference.some((r) => r.age === null)).toBe(true)
    expect(reference.some((r) => r.deck === null)).toBe(true)
    expect(reference.every((r) => typeof r.adult_male === 'boolean' && (r.survived === 0 || r.survived === 1))).toBe(true)
    expect(reference.every((r) => r.alive === (r.survived === 1 ? 'yes' : 'no'))).toBe(true)
  })
})
