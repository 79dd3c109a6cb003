// The committed classifier.onnx against the course's own preprocessing output and against
// metrics.json, fed as the server feeds it: every input [N,1], NaN / '' for missing.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { parse } from 'yaml'
import { beforeAll, describe, expect, it } from 'vitest'
import { parseCsv, readTitanicRaw } from '../train/csv.mjs'
import { cabinLetterOf, titleOf } from '../train/pipeline.mjs'
import { feeds, split } from '../train/train.mjs'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const metrics = JSON.parse(readFileSync(here('../model/metrics.json'), 'utf8'))

type Row = Record<string, string | number | null>
const raw: Row[] = readTitanicRaw(readFileSync(here('../data/titanic_openml_raw.csv'), 'utf8'))
const reference: Row[] = readTitanicRaw(readFileSync(here('../data/reference.csv'), 'utf8'), { hasIndex: false })
// The course's own output for the same 1309 rows (title column, first cabin only, '' for missing).
const [processedHeader, ...processedLines] = parseCsv(readFileSync(here('../data/titanic_course_processed.csv'), 'utf8')) as string[][]
const processed = processedLines.map((l) => Object.fromEntries(processedHeader.map((h, j) => [h, l[j]!])))

const NUMERIC = ['pclass', 'age', 'sibsp', 'parch', 'fare']
const STRINGS = ['name', 'sex', 'cabin', 'embarked']

let session: ort.InferenceSession
beforeAll(async () => {
  session = await ort.InferenceSession.create(here('../model/classifier.onnx'))
})

async function run(rows: Row[]) {
  const out = await session.run(feeds(rows))
  return {
    label: Array.from(out.label!.data as BigInt64Array, Number),
    p: Array.from({ length: rows.length }, (_, i) => (out.probabilities!.data as Float32Array)[2 * i + 1]!),
    title: out.title!.data as string[],
    cabin: out.cabin_letter!.data as string[],
  }
}

const passenger = (over: Row = {}): Row => ({
  pclass: 3, name: 'Smith, Mr. John', sex: 'male', age: 30, sibsp: 0, parch: 0, fare: 8.05, cabin: null, embarked: 'S', ...over,
})

describe('classifier.onnx', () => {
  it('takes the raw columns as [N,1] inputs and returns label, probabilities and the derived categories', () => {
    const inputs = Object.fromEntries(session.inputMetadata.map((m) => [m.name, m]))
    expect(Object.keys(inputs)).toEqual(['pclass', 'name', 'sex', 'age', 'sibsp', 'parch', 'fare', 'cabin', 'embarked'])
    for (const [name, m] of Object.entries(inputs)) {
      if (!m.isTensor) throw new Error(`${name} is not a tensor`)
      expect(m.type).toBe(NUMERIC.includes(name) ? 'float32' : 'string')
      expect(m.shape).toEqual(['N', 1])
    }
    const outputs = Object.fromEntries(session.outputMetadata.map((m) => [m.name, m]))
    expect(Object.keys(outputs)).toEqual(['label', 'probabilities', 'title', 'cabin_letter'])
    expect(outputs.label).toMatchObject({ type: 'int64', shape: ['N'] })
    expect(outputs.probabilities).toMatchObject({ type: 'float32', shape: ['N', 2] })
  })

  it('derives title and cabin letter exactly as the course did, on all 1309 rows of titanic_course_processed.csv', async () => {
    expect(raw).toHaveLength(1309)
    expect(processed).toHaveLength(1309)
    // Same rows in the same order: the columns both files carry agree.
    raw.forEach((r, i) => {
      const q = processed[i]!
      for (const c of ['pclass', 'survived', 'sibsp', 'parch']) expect(String(r[c])).toBe(q[c])
      for (const c of ['age', 'fare']) expect(r[c]).toBe(q[c] === '' ? null : Number(q[c]))
      expect(r.sex).toBe(q.sex)
      expect(r.embarked ?? '').toBe(q.embarked)
    })
    const { title, cabin } = await run(raw)
    const expectedTitles = processed.map((q) => q.title)
    const expectedLetters = processed.map((q) => (q.cabin ? q.cabin[0] : ''))
    expect(title).toEqual(expectedTitles)
    expect(cabin).toEqual(expectedLetters)
    // The JS reference the training script uses says the same.
    expect(raw.map((r) => titleOf(r.name))).toEqual(expectedTitles)
    expect(raw.map((r) => cabinLetterOf(r.cabin))).toEqual(expectedLetters)
    // get_title's order matters: "Mrs" inside a Miss's name wins, as in the course.
    expect(expectedTitles[raw.findIndex((r) => String(r.name).startsWith('Phillips, Miss. Kate Florence'))]).toBe('Mrs')
  })

  it('reproduces metrics.json: held-out accuracy on data/reference.csv, well above the majority baseline', async () => {
    expect(reference).toEqual(split(raw).held)
    expect(reference).toHaveLength(metrics.heldOutRows)
    expect(metrics.heldOutRows + metrics.trainRows).toBe(1309)
    const { label, p } = await run(reference)
    const correct = reference.filter((r, i) => label[i] === r.survived).length
    // A runtime's float output may flip one borderline row, never more.
    expect(Math.abs(correct / reference.length - metrics.heldOutAccuracy)).toBeLessThanOrEqual(1 / reference.length + 1e-12)
    const died = reference.filter((r) => r.survived === 0).length
    expect(died / reference.length).toBe(metrics.baselineAccuracy)
    expect(metrics.heldOutAccuracy).toBeGreaterThan(metrics.baselineAccuracy + 0.1)
    p.forEach((x, i) => expect(label[i]).toBe(x > 0.5 ? 1 : 0))
  })

  it('groups rare and unseen categories as Rare, and missing ones as Missing or Rare as in training', async () => {
    expect(metrics.categories).toEqual({
      sex: ['female', 'male'],
      cabin: ['B', 'C', 'Missing', 'Rare'],
      embarked: ['C', 'Q', 'Rare', 'S'],
      title: ['Master', 'Miss', 'Mr', 'Mrs', 'Rare'],
    })
    const { p, title, cabin } = await run([
      passenger({ name: 'Smith, Rev. John' }), // Other: under 5% of training rows -> Rare
      passenger({ name: 'Smith, Dr. John' }),
      passenger({ name: null }),
      passenger({ cabin: 'A12' }), // A: rare -> Rare
      passenger({ cabin: 'Z99' }), // never seen -> Rare
      passenger({ embarked: null }), // embarked missing was rare -> Rare
      passenger({ embarked: 'X' }),
      passenger({ cabin: 'C22 C26' }),
      passenger({ cabin: 'C' }),
    ])
    expect(title.slice(0, 3)).toEqual(['Other', 'Other', 'Other'])
    expect(p[1]).toBe(p[0])
    expect(p[2]).toBe(p[0])
    expect(cabin.slice(3, 5)).toEqual(['A', 'Z'])
    expect(p[4]).toBe(p[3])
    expect(p[6]).toBe(p[5])
    expect(p[8]).toBe(p[7])
    expect(p[7]).not.toBe(p[3])
  })

  it('imputes every missing number (with indicators for age and fare) and ranks as expected', async () => {
    const missing = passenger(Object.fromEntries([...NUMERIC, ...STRINGS].map((c) => [c, null])))
    const { p } = await run([
      missing,
      passenger({ pclass: 1, name: 'Smith, Mrs. Jane', sex: 'female', fare: 80, cabin: 'C85', embarked: 'C' }),
      passenger(),
    ])
    for (const x of p) expect(Number.isFinite(x)).toBe(true)
    expect(p[1]).toBeGreaterThan(0.5)
    expect(p[2]).toBeLessThan(0.5)
  })
})

describe('data/sample_request.json', () => {
  it('is three held-out passengers in the course body, and mlx.yaml documents the same example', () => {
    const sample = JSON.parse(readFileSync(here('../data/sample_request.json'), 'utf8'))
    expect(sample.inputs).toHaveLength(3)
    for (const p of sample.inputs) expect(reference.some((r) => r.name === p.name)).toBe(true)
    const manifest = parse(readFileSync(here('../mlx.yaml'), 'utf8'))
    expect(manifest.endpoints.predict.input.example).toEqual(sample)
  })
})
