// The runner's batching under concurrency. A small arithmetic model stands in where what is
// tested is how calls are merged and split (which rows went into which run); the last test
// serves the real titanic model through onnxruntime-node and compares with unbatched answers.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { onnxRuntime } from '@mlx/runtime-onnx'
import { describe, expect, it } from 'vitest'
import type { LoadedModel } from '../contracts.js'
import type { Logger, Tensor } from '../types.js'
import { createLogger } from '../log.js'
import { loadProject } from '../project.js'
import { ModelRunner } from './model-runner.js'
import { SEED_PAYLOAD } from '../../../../test/support/cli.js'
import { createServer } from './app.js'

/** y = 2x per row, over an [N, 2] float input; fails a whole run if any value is negative. */
function doubler(opts: { fixedBatch?: boolean; collapse?: boolean } = {}) {
  const calls: number[][] = []
  const model: LoadedModel = {
    inputs: [{ name: 'x', dtype: 'float32', shape: [opts.fixedBatch ? 1 : -1, 2] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
    async run(feeds) {
      const x = feeds.x!
      calls.push(Array.from(x.data as Float32Array))
      await new Promise((r) => setTimeout(r, 5))
      if ((x.data as Float32Array).some((v) => v < 0)) throw new Error('negative input')
      const y = Float32Array.from(x.data as Float32Array, (v) => v * 2)
      // `collapse` answers a summary without a batch axis, which cannot be split by rows.
      return { y: opts.collapse ? { dtype: 'float32', shape: [1, 2], data: y.slice(0, 2) } : { dtype: 'float32', shape: x.shape, data: y } }
    },
    dispose: async () => {},
  }
  return { model, calls }
}

const rows = (...vals: number[][]): Record<string, Tensor> => ({ x: { dtype: 'float32', shape: [vals.length, 2], data: Float32Array.from(vals.flat()) } })
const values = (out: Record<string, Tensor>) => Array.from(out.y!.data as Float32Array)

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = []
  const base = createLogger({ quiet: true })
  return { ...base, warn: (m: string) => warnings.push(m), warnings }
}

describe('ModelRunner batching', () => {
  it('merges concurrent requests into one run and gives each its own rows back', async () => {
    const { model, calls } = doubler()
    const runner = new ModelRunner('m', model, () => {}, { maxBatchSize: 64, maxWaitMs: 20 })
    expect(runner.batched).toBe(true)
    const outs = await Promise.all([runner.run(rows([1, 2])), runner.run(rows([3, 4], [5, 6])), runner.run(rows([7, 8]))])
    expect(outs.map(values)).toEqual([[2, 4], [6, 8, 10, 12], [14, 16]])
    expect(outs.map((o) => o.y!.shape)).toEqual([[1, 2], [2, 2], [1, 2]])
    expect(calls).toEqual([[1, 2, 3, 4, 5, 6, 7, 8]])
  })

  it('never puts more than maxBatchSize rows in one run, and runs big requests alone', async () => {
    const { model, calls } = doubler()
    const runner = new ModelRunner('m', model, () => {}, { maxBatchSize: 4, maxWaitMs: 20 })
    const outs = await Promise.all([runner.run(rows([1, 1], [2, 2])), runner.run(rows([3, 3], [4, 4])), runner.run(rows([5, 5], [6, 6])), runner.run(rows([9, 9], [9, 9], [9, 9], [9, 9], [9, 9]))])
    expect(outs.map(values)).toEqual([[2, 2, 4, 4], [6, 6, 8, 8], [10, 10, 12, 12], Array(10).fill(18)])
    for (const c of calls) expect(c.length / 2 <= 4 || c.length === 10).toBe(true)
    expect(calls.map((c) => c.length / 2).sort()).toEqual([2, 4, 5])
  })

  it('requests arriving while a run is in flight go into the next run together', async () => {
    const { model, calls } = doubler()
    const runner = new ModelRunner('m', model, () => {}, { maxBatchSize: 64, maxWaitMs: 0 })
    const first = runner.run(rows([1, 1]))
    await new Promise((r) => setTimeout(r, 2)) // the first run has started and takes 5 ms
    const later = await Promise.all([runner.run(rows([2, 2])), runner.run(rows([3, 3]))])
    await first
    expect(later.map(values)).toEqual([[4, 4], [6, 6]])
    expect(calls).toEqual([[1, 1], [2, 2, 3, 3]])
  })

  it('one bad request fails alone: its neighbours are answered', async () => {
    const { model } = doubler()
    const runner = new ModelRunner('m', model, () => {}, { maxBatchSize: 64, maxWaitMs: 20 })
    const [a, bad, c] = await Promise.allSettled([runner.run(rows([1, 2])), runner.run(rows([-1, 0])), runner.run(rows([3, 4]))])
    expect(a).toMatchObject({ status: 'fulfilled' })
    expect(values((a as PromiseFulfilledResult<Record<string, Tensor>>).value)).toEqual([2, 4])
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: 'negative input' } })
    expect(values((c as PromiseFulfilledResult<Record<string, Tensor>>).value)).toEqual([6, 8])
  })

  it('stays off, with a warning naming the input, when the model has a fixed batch dimension', async () => {
    const { model, calls } = doubler({ fixedBatch: true })
    const log = recordingLogger()
    const runner = new ModelRunner('m', model, () => {}, { maxBatchSize: 64, maxWaitMs: 20 }, log)
    expect(runner.batched).toBe(false)
    expect(log.warnings.join()).toMatch(/batching is off because input 'x' \[1,2\] has a fixed first dimension/)
    await Promise.all([runner.run(rows([1, 1])), runner.run(rows([2, 2]))])
    expect(calls).toHaveLength(2)
  })

  it('falls back to one run per request when an output has no batch axis to split', async () => {
    const { model, calls } = doubler({ collapse: true })
    const log = recordingLogger()
    const runner = new ModelRunner('m', model, () => {}, { maxBatchSize: 64, maxWaitMs: 20 }, log)
    const outs = await Promise.all([runner.run(rows([1, 1])), runner.run(rows([2, 2]))])
    expect(outs.map(values)).toEqual([[2, 2], [4, 4]])
    expect(calls).toEqual([[1, 1, 2, 2], [1, 1], [2, 2]])
    expect(log.warnings.join()).toMatch(/not the batch axis/)
  })
})

describe('batching the real titanic model', () => {
  it('answers concurrent requests exactly as without batching, in fewer model runs', async () => {
    const root = fileURLToPath(new URL('../../../../examples/titanic', import.meta.url))
    const plain = await loadProject(root)
    const batchedProject = { ...plain, models: Object.fromEntries(Object.entries(plain.models).map(([k, m]) => [k, { ...m, batching: { maxBatchSize: 64, maxWaitMs: 10 } }])) }
    const ages = Array.from({ length: 16 }, (_, i) => 2 + i * 4)
    const bodies = ages.map((age) => ({ ...SEED_PAYLOAD, age: [age], sex: [age % 8 ? 'male' : 'female'] }))
    const answers = async (p: typeof plain) => {
      const s = createServer(p, { runtime: () => onnxRuntime, log: createLogger({ quiet: true }) })
      try {
        await s.ready
        const res = await Promise.all(bodies.map((b) => s.app.inject({ method: 'POST', url: '/predict_function', payload: b })))
        const metrics = (await s.app.inject({ url: '/metrics' })).body
        return { out: res.map((r) => r.json() as number[]), runs: Number(/mlx_model_run_duration_seconds_count\{model="titanic"\} (\d+)/.exec(metrics)?.[1]) }
      } finally {
        await s.close()
      }
    }
    const one = await answers(plain)
    const merged = await answers(batchedProject)
    expect(one.runs).toBe(16)
    expect(merged.out.map((o) => o[0]!.toFixed(5))).toEqual(one.out.map((o) => o[0]!.toFixed(5)))
    expect(merged.runs).toBeLessThan(16)
    expect(path.basename(root)).toBe('titanic')
  })
})
