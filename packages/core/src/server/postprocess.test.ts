import { describe, expect, it } from 'vitest'
import type { Tensor } from '../types.js'
import type { FeatureSpec } from '../project.js'
import { compileSteps, finish } from './postprocess.js'
import { compileFrameReader } from './frame.js'
import { RequestInvalid } from './problems.js'

const ctx = { rows: 1, body: {}, query: {} }
const run = (decls: { op: string; [k: string]: unknown }[], v: unknown, c = ctx) => finish(compileSteps(decls, 'post').reduce((x, op) => op(x, c), v))
const t = (shape: number[], data: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(data) })

describe('post ops', () => {
  it('select → round → item → wrap answers a one-row regression as {"fare": x}', () => {
    expect(run([{ op: 'select', output: 'fare' }, { op: 'round', digits: 2 }, { op: 'item' }, { op: 'wrap', key: 'fare' }], { fare: t([1, 1], [11.98765]) })).toEqual({ fare: 11.99 })
  })

  it('item refuses more than one value instead of dropping rows', () => {
    expect(() => run([{ op: 'item' }], t([2], [1, 2]))).toThrow(/one row at a time, got 2 values/)
  })

  it('wrap adds constant fields first', () => {
    expect(run([{ op: 'wrap', key: 'predictions', with: { errors: null, version: '1.0.0' } }], [1, 0])).toEqual({ errors: null, version: '1.0.0', predictions: [1, 0] })
    expect(() => compileSteps([{ op: 'wrap', key: 'x', with: [1] }], 'post')).toThrow(/'with' must be a mapping/)
  })

  it('topk takes k from the request and labels from a list', () => {
    const scores = t([1, 3], [-2, -0.1, -1])
    const steps = [{ op: 'topk', k: 1, k_param: 'n', labels: ['a', 'b', 'c'], keys: { labels: 'predictions', scores: 'probabilities' }, unwrap: true }]
    expect(run(steps, scores, { rows: 1, body: { n: 2 }, query: {} })).toEqual({ predictions: ['b', 'c'], probabilities: [expect.closeTo(-0.1), -1] })
    expect(run(steps, scores)).toEqual({ predictions: ['b'], probabilities: [expect.closeTo(-0.1)] })
  })

  it('column, softmax and argmax with labels', () => {
    expect(run([{ op: 'column', index: 1 }], t([2, 2], [0.3, 0.7, 0.9, 0.1]))).toEqual([expect.closeTo(0.7), expect.closeTo(0.1)])
    const p = run([{ op: 'softmax' }], t([1, 2], [0, 0])) as number[][]
    expect(p[0]).toEqual([0.5, 0.5])
    expect(run([{ op: 'argmax', labels: ['no', 'yes'] }], t([2, 2], [0.3, 0.7, 0.9, 0.1]))).toEqual(['yes', 'no'])
  })

  it('softmax, argmax and topk refuse a one-score-per-row output instead of mixing the rows', () => {
    const threeRows = { rows: 3, body: {}, query: {} }
    for (const op of ['softmax', 'log_softmax', 'argmax', 'topk']) {
      expect(() => run([{ op }], t([3], [0.2, 0.9, 0.4]), threeRows)).toThrow(new RegExp(`step '${op}' needs a class axis, but the output has one value per row \\(shape \\[3\\] for 3 rows\\); .*'threshold'`))
    }
    // One row of a model without a batch axis: the [K] output is that row's classes.
    expect(run([{ op: 'argmax' }], t([3], [0.2, 0.9, 0.4]))).toEqual([1])
    expect(run([{ op: 'threshold', value: 0.5 }], t([3], [0.2, 0.9, 0.4]), threeRows)).toEqual([0, 1, 0])
  })
})

describe('rows under a key', () => {
  const fs: FeatureSpec[] = [{ name: 'age', type: 'number', nullable: true, examples: [] }]
  it('reads {"inputs": [...]} with locations under the key', () => {
    const reader = compileFrameReader(fs, 10)
    const frame = reader.fromRows([{ age: 3 }, { age: null }], ['body', 'inputs'])
    expect(Array.from(frame.columns.get('age') as Float64Array)).toEqual([3, NaN])
    try {
      reader.fromRows([{ age: 'x' }], ['body', 'inputs'])
      expect.unreachable()
    } catch (err) {
      expect((err as RequestInvalid).detail[0]!.loc).toEqual(['body', 'inputs', 0, 'age'])
    }
  })
})

describe('declared bounds', () => {
  it('answers pydantic-style 422s below minimum and above maximum, after coercion', () => {
    const reader = compileFrameReader([{ name: 'n', type: 'integer', nullable: false, examples: [], minimum: 1, maximum: 18 }], 10)
    expect(Array.from(reader.fromColumns({ n: ['3', 18] }).columns.get('n') as Float64Array)).toEqual([3, 18])
    try {
      reader.fromColumns({ n: [0, '19'] })
      expect.unreachable()
    } catch (err) {
      expect((err as RequestInvalid).detail).toEqual([
        { type: 'greater_than_equal', loc: ['body', 'n', 0], msg: 'Input should be greater than or equal to 1', input: 0, ctx: { ge: 1 } },
        { type: 'less_than_equal', loc: ['body', 'n', 1], msg: 'Input should be less than or equal to 18', input: '19', ctx: { le: 18 } },
      ])
    }
  })
})

describe('op names', () => {
  it('refuse a second definition under a built-in name', async () => {
    const { registerStep } = await import('./postprocess.js')
    expect(() => registerStep('softmax', { usage: '', compile: () => (v) => v })).toThrow(/'softmax' is already defined/)
  })
})
