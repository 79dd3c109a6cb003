import type { DType, Tensor, TensorData, TensorInfo } from '../types.js'
import { MlxError } from '../errors.js'
import { clip } from './problems.js'
import type { Column, Frame } from './frame.js'

/** Element count of a shape. */
export function size(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

function typedFrom(dtype: DType, src: Float64Array): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(src) // the typed-array constructor copies natively; .from() iterates in JS
    case 'float64':
      return src
    case 'int32':
      return Int32Array.from(src, (v) => (Number.isNaN(v) ? 0 : v))
    case 'int64':
      return BigInt64Array.from(src, (v) => BigInt(Number.isNaN(v) ? 0 : Math.trunc(v)))
    case 'uint8':
      return new Uint8Array(src)
    case 'int8':
      return new Int8Array(src)
    case 'bool':
      return Array.from(src, (v) => v !== 0 && !Number.isNaN(v))
    case 'string':
      return Array.from(src, (v) => (Number.isNaN(v) ? '' : String(v)))
  }
}

function columnTensor(col: Column, info: TensorInfo, rows: number): Tensor {
  // [N] or [N, 1]: the two shapes tabular exporters (skl2onnx, ours) give one-feature inputs.
  const shape = info.shape.length === 1 ? [rows] : [rows, 1]
  if (col instanceof Float64Array) return { dtype: info.dtype, shape, data: typedFrom(info.dtype, col) }
  if (!Array.isArray(col)) return col // a tensor a preprocess op built (image pixels, token ids)
  if (col.some((v) => Buffer.isBuffer(v))) {
    throw new MlxError('INPUT_INVALID', `model input '${info.name}' would receive raw file bytes`, {
      hint: 'decode the file in a preprocess step (e.g. the image runtime\'s `image` op) into a tensor named like the input.',
    })
  }
  if (info.dtype !== 'string') {
    throw new MlxError('INPUT_INVALID', `model input '${info.name}' is ${info.dtype} but the feature is a string`, {
      hint: `declare the feature with a numeric type under input.features, or convert it with a preprocess step.`,
    })
  }
  // Missing categories become "": tabular graphs treat an unseen category as missing.
  return { dtype: 'string', shape, data: (col as (string | null)[]).map((v) => v ?? '') }
}

/**
 * Builds the model feeds from a frame: one input per feature by name (the sklearn-onnx layout),
 * or, when the model has one 2-D numeric input, all numeric features stacked in manifest order.
 */
export function frameToFeeds(frame: Frame, inputs: readonly TensorInfo[], featureOrder: readonly string[]): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {}
  const byName = inputs.every((i) => frame.columns.has(i.name))
  if (byName) {
    for (const info of inputs) feeds[info.name] = columnTensor(frame.columns.get(info.name)!, info, frame.rows)
    return feeds
  }
  if (inputs.length === 1 && inputs[0]!.shape.length === 2 && inputs[0]!.dtype !== 'string') {
    const info = inputs[0]!
    const width = featureOrder.length
    const stacked = new Float64Array(frame.rows * width)
    featureOrder.forEach((name, j) => {
      const col = frame.columns.get(name)
      if (!(col instanceof Float64Array)) {
        throw new MlxError('INPUT_INVALID', `feature '${name}' is not numeric, but model input '${info.name}' takes one numeric matrix`, {
          hint: 'encode string features in a preprocess step, or export the model with one input per feature.',
        })
      }
      for (let i = 0; i < frame.rows; i++) stacked[i * width + j] = col[i]!
    })
    feeds[info.name] = { dtype: info.dtype, shape: [frame.rows, width], data: typedFrom(info.dtype, stacked) }
    return feeds
  }
  const missing = inputs.filter((i) => !frame.columns.has(i.name)).map((i) => i.name)
  throw new MlxError('INPUT_INVALID', `model inputs ${missing.map((m) => `'${m}'`).join(', ')} have no matching feature`, {
    hint: `declare features named like the model inputs (${inputs.map((i) => i.name).join(', ')}).`,
  })
}

/** A tensor as plain JSON: nested arrays following its shape; int64 as numbers. */
export function tensorToJson(t: Tensor): unknown {
  const flat: unknown[] = t.data instanceof BigInt64Array ? Array.from(t.data, Number) : Array.from(t.data as ArrayLike<unknown>)
  if (t.shape.length <= 1) return t.shape.length === 0 ? flat[0] : flat
  const nest = (offset: number, dim: number): unknown[] => {
    const n = t.shape[dim]!
    if (dim === t.shape.length - 1) return flat.slice(offset, offset + n)
    const stride = size(t.shape.slice(dim + 1))
    const out: unknown[] = new Array(n)
    for (let i = 0; i < n; i++) out[i] = nest(offset + i * stride, dim + 1)
    return out
  }
  return nest(0, 0)
}

/** JSON (nested arrays) to a tensor of a declared dtype and shape — for the v2 protocol's data arrays. */
export function jsonToTensor(dtype: DType, shape: readonly number[], data: unknown): Tensor {
  const flat = (Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data]) as unknown[]
  if (flat.length !== size(shape)) throw new Error(`data has ${flat.length} elements, shape ${clip(JSON.stringify(shape), 100)} needs ${size(shape)}`)
  // A value that is not a number is refused rather than fed to the model as NaN (or 0 for ints);
  // null is NaN for float types only, since JSON has no other way to send a missing value.
  const num = (v: unknown) => {
    if (typeof v === 'number') return v
    if (typeof v === 'boolean') return Number(v)
    if (v === null && (dtype === 'float32' || dtype === 'float64')) return Number.NaN
    throw new Error(`${clip(JSON.stringify(v) ?? String(v), 100)} is not a number (datatype ${dtype})`)
  }
  let out: TensorData
  switch (dtype) {
    case 'float32': out = Float32Array.from(flat, num); break
    case 'float64': out = Float64Array.from(flat, num); break
    case 'int32': out = Int32Array.from(flat, num); break
    case 'int64': out = BigInt64Array.from(flat, (v) => BigInt(Math.trunc(num(v)))); break
    case 'uint8': out = Uint8Array.from(flat, num); break
    case 'int8': out = Int8Array.from(flat, num); break
    case 'bool': out = flat.map(Boolean); break
    case 'string': out = flat.map(String); break
  }
  return { dtype, shape, data: out }
}
