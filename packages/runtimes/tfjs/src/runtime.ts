import { MlxError, type DType, type LoadedModel, type ModelSpec, type Runtime, type Tensor, type TensorInfo } from '@mlx/core'
import type { Tensor as TfTensor } from '@tensorflow/tfjs-core'
import type { LayersModel } from '@tensorflow/tfjs-layers'
import type { GraphModel } from '@tensorflow/tfjs-converter'
import { tfBackend, type Tf } from './backend.js'
import { readModel, type ReadModel } from './io.js'

/** TF.js dtypes mlx serves; complex64 is refused at load, not at the first request. */
const DTYPES: Record<string, DType> = { float32: 'float32', int32: 'int32', bool: 'bool', string: 'string' }

/**
 * Ops that make GraphModel.execute() throw ("use executeAsync instead"): control flow, dynamic
 * shapes and hash tables, as tfjs-converter's model analysis lists them.
 */
const ASYNC_OPS = new Set([
  'Switch', 'Merge', 'Enter', 'Exit', 'NextIteration', 'StatelessIf', 'StatelessWhile', 'If', 'While', 'if',
  'NonMaxSuppressionV2', 'NonMaxSuppressionV3', 'NonMaxSuppressionV4', 'NonMaxSuppressionV5', 'Where',
  'HashTable', 'HashTableV2', 'LookupTableImport', 'LookupTableImportV2', 'LookupTableFind', 'LookupTableFindV2',
  'LookupTableSize', 'LookupTableSizeV2',
])

interface Node {
  op?: string
}
/** True when the graph (or a function in its library) holds an op that needs executeAsync. */
export function needsAsync(topology: Record<string, unknown>): boolean {
  const nodes = (topology.node as Node[] | undefined) ?? []
  const library = topology.library as { function?: { nodeDef?: Node[] }[] } | undefined
  const fnNodes = (library?.function ?? []).flatMap((f) => f.nodeDef ?? [])
  return [...nodes, ...fnNodes].some((n) => n.op !== undefined && ASYNC_OPS.has(n.op))
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1)

function dtypeOf(raw: string | undefined, where: string, spec: ModelSpec): DType {
  const dtype = DTYPES[raw ?? 'float32']
  if (!dtype) {
    throw new MlxError('MODEL_LOAD_FAILED', `model '${spec.name}': ${where} has dtype ${raw}, which mlx does not serve`, {
      hint: `serve a model whose inputs and outputs are ${Object.keys(DTYPES).join(', ')}.`,
      file: spec.path,
    })
  }
  return dtype
}

const dims = (shape: readonly (number | null | undefined)[] | undefined): (number | string)[] =>
  shape === undefined ? [-1] : shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1))

/** An mlx tensor as a TF.js tensor of the dtype the model declares (numbers are converted, never reinterpreted). */
function toTf(tf: Tf, t: Tensor, info: TensorInfo, model: string): TfTensor {
  const shape = [...t.shape]
  const n = size(shape)
  if (t.data.length !== n) {
    throw new MlxError('INPUT_INVALID', `model '${model}': input '${info.name}' has ${t.data.length} values for shape [${shape.join(', ')}] (${n} needed)`)
  }
  const expected = info.shape
  if (expected.length !== shape.length || expected.some((d, i) => typeof d === 'number' && d >= 0 && d !== shape[i])) {
    throw new MlxError('INPUT_INVALID', `model '${model}': input '${info.name}' takes shape [${expected.join(', ')}] (-1 = any), got [${shape.join(', ')}]`, {
      hint: 'send a tensor of the rank and fixed sizes the model declares (/v2/models/<name> lists them).',
    })
  }
  const d = t.data
  const numbers = (): ArrayLike<number> => {
    if (d instanceof BigInt64Array) return Float64Array.from(d, Number)
    if (Array.isArray(d) && d.some((v) => typeof v === 'string')) {
      throw new MlxError('INPUT_INVALID', `model '${model}': input '${info.name}' is ${info.dtype} but got strings`)
    }
    return d as ArrayLike<number>
  }
  switch (info.dtype) {
    case 'string':
      if (!Array.isArray(d) || d.some((v) => typeof v !== 'string')) {
        throw new MlxError('INPUT_INVALID', `model '${model}': input '${info.name}' takes strings, got ${t.dtype}`)
      }
      return tf.tensor(d as string[], shape, 'string')
    case 'bool':
      return tf.tensor(Uint8Array.from(numbers(), (v) => (v ? 1 : 0)), shape, 'bool')
    case 'int32':
      return tf.tensor(d instanceof Int32Array ? d : Int32Array.from(numbers()), shape, 'int32')
    default:
      return tf.tensor(d instanceof Float32Array ? d : Float32Array.from(numbers()), shape, 'float32')
  }
}

/** A TF.js tensor read back into an mlx tensor: the data is copied, so the TF.js tensor can be disposed. */
function fromTf(t: TfTensor): Tensor {
  const shape = [...t.shape]
  switch (t.dtype) {
    case 'string': {
      const bytes = t.dataSync() as unknown as Uint8Array[]
      const dec = new TextDecoder()
      return { dtype: 'string', shape, data: Array.from(bytes, (b) => dec.decode(b)) }
    }
    case 'bool':
      return { dtype: 'bool', shape, data: Array.from(t.dataSync() as Uint8Array, (v) => v !== 0) }
    case 'int32':
      return { dtype: 'int32', shape, data: Int32Array.from(t.dataSync() as Int32Array) }
    default:
      return { dtype: 'float32', shape, data: Float32Array.from(t.dataSync() as Float32Array) }
  }
}

function feedsInOrder(tf: Tf, feeds: Readonly<Record<string, Tensor>>, inputs: readonly TensorInfo[], model: string): TfTensor[] {
  const unknown = Object.keys(feeds).filter((k) => !inputs.some((i) => i.name === k))
  if (unknown.length) {
    throw new MlxError('INPUT_INVALID', `model '${model}' has no input ${unknown.map((u) => `'${u}'`).join(', ')} (inputs: ${inputs.map((i) => i.name).join(', ')})`)
  }
  const made: TfTensor[] = []
  try {
    for (const info of inputs) {
      const t = feeds[info.name]
      if (!t) throw new MlxError('INPUT_INVALID', `model '${model}': input '${info.name}' is missing (inputs: ${inputs.map((i) => i.name).join(', ')})`)
      made.push(toTf(tf, t, info, model))
    }
    return made
  } catch (err) {
    for (const t of made) t.dispose()
    throw err
  }
}

type Built = Pick<LoadedModel, 'inputs' | 'outputs' | 'run' | 'dispose'>

interface LayerConfig {
  class_name?: string
  config?: { name?: string; layers?: LayerConfig[]; input_layers?: [string, ...unknown[]][]; output_layers?: [string, ...unknown[]][] } | LayerConfig[]
}

/**
 * Input and output names as model.json declares them. TF.js renames layers that clash with ones
 * already built in the process (a second model's 'chars' becomes 'chars_1'), so the names clients
 * and manifests use come from the file, not from the loaded model.
 */
export function declaredNames(topology: Record<string, unknown>): { inputs: string[]; outputs: string[] } | undefined {
  const root = ((topology.model_config as LayerConfig | undefined) ?? topology) as LayerConfig
  const cfg = root.config
  if (!cfg) return undefined
  if (root.class_name === 'Sequential') {
    const list = Array.isArray(cfg) ? cfg : cfg.layers
    const name = (l: LayerConfig | undefined) => (l && !Array.isArray(l.config) ? l.config?.name : undefined)
    const first = name(list?.[0])
    const last = name(list?.[list.length - 1])
    if (!first || !last) return undefined
    return { inputs: [list![0]!.class_name === 'InputLayer' ? first : `${first}_input`], outputs: [last] }
  }
  if (Array.isArray(cfg) || !cfg.input_layers || !cfg.output_layers) return undefined
  return { inputs: cfg.input_layers.map((l) => String(l[0])), outputs: cfg.output_layers.map((l) => String(l[0])) }
}

function layers(tf: Tf, model: LayersModel, read: ReadModel, spec: ModelSpec): Built {
  const declared = declaredNames(read.json.modelTopology ?? {})
  // (A loaded Sequential model fills inputNames lazily: count its symbolic inputs instead.)
  const names = (fromFile: string[] | undefined, count: number, loaded: string[]) => (fromFile && fromFile.length === count && new Set(fromFile).size === count ? fromFile : loaded)
  const inNames = names(declared?.inputs, model.inputs.length, model.inputNames)
  const outNames = names(declared?.outputs, model.outputs.length, model.outputNames)
  const inputs: TensorInfo[] = model.inputs.map((s, i) => ({ name: inNames[i] ?? s.name, dtype: dtypeOf(s.dtype, `input '${s.name}'`, spec), shape: dims(s.shape) }))
  const outputs: TensorInfo[] = model.outputs.map((s, i) => ({ name: outNames[i] ?? s.name, dtype: dtypeOf(s.dtype, `output '${s.name}'`, spec), shape: dims(s.shape) }))
  return {
    inputs,
    outputs,
    async run(feeds) {
      const result = tf.tidy(() => {
        const xs = feedsInOrder(tf, feeds, inputs, spec.name)
        const batch = xs[0]?.shape[0] ?? 1
        const y = model.predict(xs.length === 1 ? xs[0]! : xs, { batchSize: Math.max(1, batch) })
        return Array.isArray(y) ? y : [y]
      })
      try {
        const out: Record<string, Tensor> = {}
        outputs.forEach((o, i) => (out[o.name] = fromTf(result[i]!)))
        return out
      } finally {
        tf.dispose(result)
      }
    },
    async dispose() {
      model.dispose()
    },
  }
}

function graph(tf: Tf, model: GraphModel, read: ReadModel, spec: ModelSpec): Built {
  const inNames = model.inputNodes
  const outNames = model.outputNodes
  const inputs: TensorInfo[] = model.inputs.map((t, i) => ({ name: inNames[i] ?? t.name, dtype: dtypeOf(t.dtype, `input '${t.name}'`, spec), shape: dims(t.shape) }))
  const outputs: TensorInfo[] = model.outputs.map((t, i) => ({ name: outNames[i] ?? t.name, dtype: dtypeOf(t.dtype, `output '${t.name}'`, spec), shape: dims(t.shape) }))
  let async = needsAsync(read.json.modelTopology ?? {})
  const asList = (y: TfTensor | TfTensor[]) => (Array.isArray(y) ? y : [y])
  return {
    inputs,
    outputs,
    async run(feeds) {
      const xs = feedsInOrder(tf, feeds, inputs, spec.name)
      const map = Object.fromEntries(inputs.map((info, i) => [info.name, xs[i]!]))
      let result: TfTensor[] = []
      try {
        if (!async) {
          try {
            result = tf.tidy(() => asList(model.execute(map, outNames)))
          } catch (err) {
            // A dynamic op the scan did not know: switch this model to executeAsync for good.
            if (!/executeAsync/.test(String((err as Error).message))) throw err
            async = true
          }
        }
        if (async) result = asList(await model.executeAsync(map, outNames))
        const out: Record<string, Tensor> = {}
        outputs.forEach((o, i) => (out[o.name] = fromTf(result[i]!)))
        return out
      } finally {
        tf.dispose(xs)
        tf.dispose(result)
      }
    },
    async dispose() {
      model.dispose()
    },
  }
}

/**
 * TF.js layers and graph models (a folder with model.json and its weight shards, or the model.json
 * itself), read from disk by our own IOHandler, run on tfjs-node when installed, else on the
 * WebAssembly backend. TF.js is imported at the first load, so listing plugins stays cheap.
 */
export const tfjsRuntime: Runtime = {
  name: 'tfjs',
  async load(spec, ctx): Promise<LoadedModel> {
    const read = await readModel(spec.path, spec.relPath)
    const backend = await tfBackend(ctx.log)
    const { tf } = backend
    const handler = { load: async () => read.artifacts }
    let built: Built
    try {
      built = read.kind === 'layers' ? layers(tf, await tf.loadLayersModel(handler), read, spec) : graph(tf, await tf.loadGraphModel(handler), read, spec)
    } catch (err) {
      if (err instanceof MlxError) throw err
      throw new MlxError('MODEL_LOAD_FAILED', `model '${spec.name}': TF.js cannot build the ${read.kind} model in ${spec.relPath}: ${String((err as Error).message).split('\n')[0]}`, {
        hint: read.kind === 'layers'
          ? 'the topology uses a layer or setting this TF.js version does not know, or the weights do not match it; re-save the model with TF.js (model.save) or tensorflowjs_converter.'
          : 'the graph uses an op TF.js does not implement, or the weights do not match it; re-convert the model with tensorflowjs_converter.',
        file: read.file,
        cause: err,
      })
    }
    ctx.log.info(`tfjs: model '${spec.name}' (${read.kind}, ${spec.relPath}, ${(read.weightBytes / 1024).toFixed(0)} KiB of weights) on backend '${backend.name}', TF.js ${backend.version}`)
    return {
      ...built,
      metadata: { backend: backend.name, tfjs: backend.version, format: read.kind === 'layers' ? 'layers-model' : 'graph-model' },
    }
  },
}
