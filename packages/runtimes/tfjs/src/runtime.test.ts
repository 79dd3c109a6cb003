import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { LoadedModel, Logger, ModelSpec, Tensor } from '@mlx/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tfBackend, type Tf } from './backend.js'
import { oneHot, TUTORIAL_ALPHABET } from './chars.js'
import { diskSaveHandler, readModel } from './io.js'
import { needsAsync, tfjsRuntime } from './runtime.js'

const lines: string[] = []
const log: Logger = {
  info: (m) => lines.push(`info: ${m}`),
  warn: (m) => lines.push(`warn: ${m}`),
  debug: () => {},
  step: (_t, work) => work(),
}
const ctx = { projectRoot: os.tmpdir(), log }
const spec = (p: string, name = 'm'): ModelSpec => ({ name, runtime: 'tfjs', path: p, relPath: path.basename(p), options: {} })

let tf: Tf
let tmp: string
const loaded: LoadedModel[] = []
async function load(p: string, name?: string): Promise<LoadedModel> {
  const m = await tfjsRuntime.load(spec(p, name), ctx)
  loaded.push(m)
  return m
}

const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(values) })
const values = (t: Tensor | undefined) => Array.from(t!.data as Float32Array)

beforeAll(async () => {
  tf = (await tfBackend(log)).tf
  tmp = await mkdtemp(path.join(os.tmpdir(), 'mlx-tfjs-'))
})
afterAll(async () => {
  for (const m of loaded) await m.dispose()
  await rm(tmp, { recursive: true, force: true })
})

/** y = x·W + b with known weights, saved through our own disk save handler. */
async function saveDense(dir: string): Promise<void> {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'scores' })] })
  model.setWeights([tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([0.5, -1])])
  await model.save(diskSaveHandler(dir))
  model.dispose()
}

// --- a hand-written TF.js graph model (GraphDef as JSON + one weight shard) --------------------
const F = { type: 'DT_FLOAT' }
const B = { type: 'DT_BOOL' }
const shape = (...d: number[]) => ({ shape: { dim: d.map((s) => ({ size: String(s) })) } })
const constant = (name: string, dims: number[]) => ({ name, op: 'Const', attr: { dtype: F, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: dims.map((s) => ({ size: String(s) })) } } } } })

async function writeGraph(dir: string, topology: object, weights: { name: string; shape: number[]; values: number[] }[]): Promise<void> {
  const { mkdir } = await import('node:fs/promises')
  await mkdir(dir, { recursive: true })
  const json = {
    format: 'graph-model',
    generatedBy: 'hand-written test fixture',
    convertedBy: null,
    modelTopology: topology,
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  }
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(json, null, 1))
  await writeFile(path.join(dir, 'group1-shard1of1.bin'), Buffer.from(Float32Array.from(weights.flatMap((w) => w.values)).buffer))
}

/** x [-1, 3] → MatMul(W [3, 2]) → BiasAdd(b) → y: the same numbers as the dense layers model. */
const MATMUL = {
  node: [
    { name: 'x', op: 'Placeholder', attr: { dtype: F, shape: shape(-1, 3) } },
    constant('W', [3, 2]),
    constant('b', [2]),
    { name: 'MatMul', op: 'MatMul', input: ['x', 'W'], attr: { T: F, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'y', op: 'BiasAdd', input: ['MatMul', 'b'], attr: { T: F } },
  ],
  library: {},
  versions: { producer: 1482 },
}
/** TF1-style cond: y = p ? 2x : x + 1, with Switch/Merge (control flow: needs executeAsync). */
const COND = {
  node: [
    { name: 'x', op: 'Placeholder', attr: { dtype: F, shape: shape(-1) } },
    { name: 'p', op: 'Placeholder', attr: { dtype: B, shape: shape() } },
    constant('two', []),
    constant('one', []),
    { name: 'sw', op: 'Switch', input: ['x', 'p'], attr: { T: F } },
    { name: 't', op: 'Mul', input: ['sw:1', 'two'], attr: { T: F } },
    { name: 'f', op: 'AddV2', input: ['sw', 'one'], attr: { T: F } },
    { name: 'm', op: 'Merge', input: ['f', 't'], attr: { T: F, N: { i: '2' } } },
    { name: 'y', op: 'Identity', input: ['m'], attr: { T: F } },
  ],
  library: {},
  versions: { producer: 1482 },
}

describe('tfjs runtime: layers models', () => {
  it('loads a model saved by diskSaveHandler (folder or model.json), runs it on wasm, reports the backend', async () => {
    const dir = path.join(tmp, 'dense')
    await saveDense(dir)
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'))
    expect(json.format).toBe('layers-model')
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin'])

    for (const where of [dir, path.join(dir, 'model.json')]) {
      const m = await load(where)
      expect(m.metadata).toMatchObject({ backend: 'wasm', tfjs: tf.version_core, format: 'layers-model' })
      expect(m.inputs).toEqual([{ name: 'scores_input', dtype: 'float32', shape: [-1, 3] }])
      expect(m.outputs).toEqual([{ name: 'scores', dtype: 'float32', shape: [-1, 2] }])
      const out = await m.run({ scores_input: f32([2, 3], [1, 1, 1, 1, 0, 0]) })
      expect(out.scores!.shape).toEqual([2, 2])
      expect(values(out.scores)).toEqual([9.5, 11, 1.5, 1])
    }
    expect(tf.getBackend()).toBe('wasm')
    expect(lines.some((l) => /^info: tfjs: model 'm' \(layers, .*\) on backend 'wasm', TF\.js 4\./.test(l))).toBe(true)
  })

  it('converts other numeric feeds (float64, int32) to the declared float32', async () => {
    const m = await load(path.join(tmp, 'dense'))
    const a = await m.run({ scores_input: { dtype: 'float64', shape: [1, 3], data: Float64Array.from([1, 1, 1]) } })
    const b = await m.run({ scores_input: { dtype: 'int32', shape: [1, 3], data: Int32Array.from([1, 1, 1]) } })
    expect(values(a.scores)).toEqual([9.5, 11])
    expect(values(b.scores)).toEqual([9.5, 11])
  })

  it('runs a masked GRU over padded one-hot text: a batch answers as each text alone', async () => {
    const input = tf.input({ shape: [null, TUTORIAL_ALPHABET.length], name: 'chars' })
    const masked = tf.layers.masking({ maskValue: 0 }).apply(input) as ReturnType<typeof tf.input>
    const state = tf.layers.gru({ units: 8, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), recurrentInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(masked) as ReturnType<typeof tf.input>
    const logits = tf.layers.dense({ units: 4, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(state) as ReturnType<typeof tf.input>
    const model = tf.model({ inputs: input, outputs: logits })
    const dir = path.join(tmp, 'gru')
    await model.save(diskSaveHandler(dir))
    model.dispose()

    const m = await load(dir)
    expect(m.inputs).toEqual([{ name: 'chars', dtype: 'float32', shape: [-1, -1, 57] }])
    const names = ['Jordan', 'Li', 'Nakamura']
    const batch = values((await m.run({ chars: oneHot(names, TUTORIAL_ALPHABET) })).logits)
    for (const [i, n] of names.entries()) {
      const alone = values((await m.run({ chars: oneHot([n], TUTORIAL_ALPHABET) })).logits)
      alone.forEach((v, j) => expect(batch[i * 4 + j]).toBeCloseTo(v, 5))
    }
  })

  it('leaves no tensors behind: numTensors is stable across 50 runs', async () => {
    // A second load of the same topology: TF.js renames clashing layers internally, the served names stay.
    const m = await load(path.join(tmp, 'gru'))
    expect(m.inputs[0]!.name).toBe('chars')
    expect(m.outputs[0]!.name).toBe('logits')
    const feed = { chars: oneHot(['Jordan', 'Smith'], TUTORIAL_ALPHABET) }
    await m.run(feed)
    const before = tf.memory().numTensors
    for (let i = 0; i < 50; i++) await m.run(feed)
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe('tfjs runtime: graph models', () => {
  it('loads a hand-written GraphDef model.json with a MatMul and runs it with execute()', async () => {
    const dir = path.join(tmp, 'matmul')
    await writeGraph(dir, MATMUL, [{ name: 'W', shape: [3, 2], values: [1, 2, 3, 4, 5, 6] }, { name: 'b', shape: [2], values: [0.5, -1] }])
    const m = await load(dir)
    expect(m.metadata).toMatchObject({ backend: 'wasm', format: 'graph-model' })
    expect(m.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, 3] }])
    expect(m.outputs.map((o) => o.name)).toEqual(['y'])
    expect(needsAsync(MATMUL)).toBe(false)
    const out = await m.run({ x: f32([2, 3], [1, 1, 1, 1, 0, 0]) })
    expect(out.y!.shape).toEqual([2, 2])
    expect(values(out.y)).toEqual([9.5, 11, 1.5, 1])

    const before = tf.memory().numTensors
    for (let i = 0; i < 50; i++) await m.run({ x: f32([1, 3], [i, 1, 0]) })
    expect(tf.memory().numTensors).toBe(before)
  })

  it('runs a graph with control flow (Switch/Merge) through executeAsync, without leaks', async () => {
    const dir = path.join(tmp, 'cond')
    await writeGraph(dir, COND, [{ name: 'two', shape: [], values: [2] }, { name: 'one', shape: [], values: [1] }])
    expect(needsAsync(COND)).toBe(true)
    const m = await load(dir)
    expect(m.inputs).toEqual([
      { name: 'x', dtype: 'float32', shape: [-1] },
      { name: 'p', dtype: 'bool', shape: [] },
    ])
    const run = async (p: boolean) => values((await m.run({ x: f32([2], [1, 2]), p: { dtype: 'bool', shape: [], data: [p] } })).y)
    expect(await run(true)).toEqual([2, 4])
    expect(await run(false)).toEqual([2, 3])
    const before = tf.memory().numTensors
    for (let i = 0; i < 50; i++) await run(i % 2 === 0)
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe('tfjs runtime: errors', () => {
  const failure = async (p: string) => {
    const err = await tfjsRuntime.load(spec(p), ctx).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string; hint?: string },
    )
    expect(err, 'load should fail').toBeDefined()
    expect(err!.code).toBe('MODEL_LOAD_FAILED')
    expect(err!.hint).toBeTruthy()
    return err!.message
  }

  it('a folder without model.json', async () => {
    const dir = await mkdtemp(path.join(tmp, 'empty-'))
    expect(await failure(dir)).toMatch(new RegExp(`${path.basename(dir)}/model\\.json cannot be read: no such file`))
  })

  it('a corrupt model.json', async () => {
    const dir = await mkdtemp(path.join(tmp, 'corrupt-'))
    await writeFile(path.join(dir, 'model.json'), '{"format": "layers-model", "modelTopology": {')
    expect(await failure(dir)).toMatch(/model\.json is not valid JSON/)
  })

  it('a JSON file that is not a TF.js model', async () => {
    const dir = await mkdtemp(path.join(tmp, 'other-'))
    await writeFile(path.join(dir, 'model.json'), '{"hello": "world"}')
    expect(await failure(dir)).toMatch(/model\.json has no modelTopology/)
  })

  it('a missing weight shard, named', async () => {
    const dir = path.join(tmp, 'no-shard')
    await saveDense(dir)
    await rm(path.join(dir, 'weights.bin'))
    expect(await failure(dir)).toMatch(/weight shard no-shard\/weights\.bin \(listed in no-shard\/model\.json\) cannot be read: no such file/)
  })

  it('a truncated weight shard', async () => {
    const dir = path.join(tmp, 'short-shard')
    await saveDense(dir)
    const bin = await readFile(path.join(dir, 'weights.bin'))
    await writeFile(path.join(dir, 'weights.bin'), bin.subarray(0, 12))
    expect(await failure(dir)).toMatch(/hold 12 bytes, but the weights they list need 32/)
  })

  it('a shard path that leaves the model folder', async () => {
    const dir = path.join(tmp, 'escape')
    await saveDense(dir)
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'))
    json.weightsManifest[0].paths = ['../../etc/passwd']
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json))
    expect(await failure(dir)).toMatch(/outside the model folder/)
  })

  it('a topology TF.js cannot build', async () => {
    const dir = path.join(tmp, 'bad-layer')
    await saveDense(dir)
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'))
    json.modelTopology.config.layers[0].class_name = 'NoSuchLayer'
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json))
    expect(await failure(dir)).toMatch(/TF\.js cannot build the layers model in bad-layer: .*NoSuchLayer/)
  })

  it('refuses feeds with a missing input, an unknown input or a wrong shape as INPUT_INVALID', async () => {
    const m = await load(path.join(tmp, 'dense'))
    const before = tf.memory().numTensors
    await expect(m.run({})).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining("input 'scores_input' is missing") })
    await expect(m.run({ scores_input: f32([1, 3], [1, 2, 3]), extra: f32([1], [1]) })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining("no input 'extra'") })
    await expect(m.run({ scores_input: f32([1, 4], [1, 2, 3, 4]) })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining('takes shape [-1, 3]') })
    await expect(m.run({ scores_input: f32([2, 3], [1, 2, 3]) })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining('3 values for shape [2, 3]') })
    expect(tf.memory().numTensors).toBe(before)
  })

  it('readModel tells layers from graph models by their topology when format is absent', async () => {
    const dir = path.join(tmp, 'no-format')
    await writeGraph(dir, MATMUL, [{ name: 'W', shape: [3, 2], values: [1, 2, 3, 4, 5, 6] }, { name: 'b', shape: [2], values: [0.5, -1] }])
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'))
    delete json.format
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json))
    expect((await readModel(dir)).kind).toBe('graph')
    expect((await readModel(path.join(tmp, 'dense'))).kind).toBe('layers')
  })
})
