import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Tensor } from '../types.js'
import type { StepDecl } from '../manifest/types.js'
import { size, tensorToJson } from './tensors.js'
import type { CompileContext, PostContext, PostOp, StepDefinition, Value } from './op-types.js'
import { RequestInvalid } from './problems.js'

export type { CompileContext, PostContext, PostOp, StepDefinition, Value }

/**
 * Post-processing: a list of small ops applied to the model's outputs, each compiled once from
 * its manifest parameters. The value flows from a map of named tensors, to one tensor, to JSON.
 * The op shapes (StepDefinition, PostOp, PostContext, Value) are in op-types.ts.
 */

const isTensor = (v: unknown): v is Tensor => !!v && typeof v === 'object' && 'dtype' in v && 'shape' in v && 'data' in v
const asNumbers = (t: Tensor): Float64Array =>
  t.data instanceof BigInt64Array ? Float64Array.from(t.data, Number) : Float64Array.from(t.data as ArrayLike<number>)

function needTensor(op: string, v: Value): Tensor {
  if (isTensor(v)) return v
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const vals = Object.values(v as Record<string, unknown>)
    if (vals.length === 1 && isTensor(vals[0])) return vals[0]
  }
  throw new Error(`step '${op}' needs one tensor; add a 'select' step first to pick a model output`)
}

/** Applies fn to each row of the last axis. */
function perRow(t: Tensor, fn: (row: Float64Array) => Float64Array): Tensor {
  const k = t.shape[t.shape.length - 1] ?? 1
  const src = asNumbers(t)
  const out = new Float32Array(src.length)
  for (let o = 0; o < src.length; o += k) out.set(fn(src.subarray(o, o + k)), o)
  return { dtype: 'float32', shape: t.shape, data: out }
}

const steps = new Map<string, StepDefinition>()

/** An op name means one thing: a plugin cannot silently replace a built-in or another plugin's op. */
export function registerStep(op: string, def: StepDefinition): void {
  const had = steps.get(op)
  if (had && had !== def) throw new Error(`post-processing op '${op}' is already defined; a plugin must use another name`)
  steps.set(op, def)
}
export function stepNames(): string[] {
  return [...steps.keys()].sort()
}

/** Compiles a manifest step list; errors name the step by index so the manifest can be fixed. */
export function compileSteps(decls: readonly StepDecl[], where: string, ctx: CompileContext = { root: process.cwd() }): PostOp[] {
  return decls.map((d, i) => {
    const def = steps.get(d.op)
    if (!def) throw new Error(`${where}[${i}]: unknown op '${d.op}' (known: ${stepNames().join(', ')})`)
    const { op: _op, ...params } = d
    try {
      return def.compile(params, ctx)
    } catch (err) {
      throw new Error(`${where}[${i}] (${d.op}): ${(err as Error).message}; usage: ${def.usage}`)
    }
  })
}

/** Ends the pipeline: tensors become JSON. */
export function finish(v: Value): unknown {
  if (isTensor(v)) return tensorToJson(v)
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).some(isTensor)) {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, isTensor(x) ? tensorToJson(x) : x]))
  }
  return v
}

registerStep('select', {
  usage: '{op: select, output: <model output name>}',
  compile(p) {
    const name = p.output
    if (typeof name !== 'string') throw new Error("'output' must name a model output")
    return (v) => {
      const t = (v as Record<string, Tensor>)[name]
      if (!t) throw new Error(`model has no output '${name}' (outputs: ${Object.keys(v as object).join(', ')})`)
      return t
    }
  },
})

registerStep('column', {
  usage: '{op: column, index: <int>} — takes column `index` of an [N, K] output',
  compile(p) {
    const index = p.index
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) throw new Error("'index' must be a non-negative integer")
    return (v) => {
      const t = needTensor('column', v)
      const k = t.shape[1] ?? 1
      if (index >= k) throw new Error(`column ${index} is out of range for shape ${JSON.stringify(t.shape)}`)
      const n = t.shape[0] ?? 1
      const out = new Float32Array(n)
      // Read in place: the output tensor is not converted as a whole just to pick one column.
      const src = t.data
      if (src instanceof BigInt64Array) for (let i = 0; i < n; i++) out[i] = Number(src[i * k + index]!)
      else {
        const a = src as ArrayLike<number>
        for (let i = 0; i < n; i++) out[i] = a[i * k + index]!
      }
      return { dtype: 'float32', shape: [n], data: out }
    }
  },
})

const softmaxRow = (log: boolean) => (row: Float64Array) => {
  let max = -Infinity
  for (const x of row) if (x > max) max = x
  let sum = 0
  for (const x of row) sum += Math.exp(x - max)
  const out = new Float64Array(row.length)
  const lse = max + Math.log(sum)
  for (let i = 0; i < row.length; i++) out[i] = log ? row[i]! - lse : Math.exp(row[i]! - lse)
  return out
}
/**
 * The ops over a class axis (softmax, argmax, topk) read the last axis as the classes of a row. An
 * [N] output for N > 1 rows is one score per row, not N classes: treating it as classes would mix
 * the rows (a softmax across the batch), so it is refused with what to use instead.
 */
function withClassAxis(op: string, v: Value, pc: PostContext): Tensor {
  const t = needTensor(op, v)
  if (t.shape.length === 1 && pc.rows > 1 && t.shape[0] === pc.rows) {
    throw new Error(`step '${op}' needs a class axis, but the output has one value per row (shape [${pc.rows}] for ${pc.rows} rows); for a single score per row use 'threshold' or 'round', or select an output shaped [rows, classes]`)
  }
  return t
}

registerStep('softmax', { usage: '{op: softmax}', compile: () => (v, pc) => perRow(withClassAxis('softmax', v, pc), softmaxRow(false)) })
registerStep('log_softmax', { usage: '{op: log_softmax}', compile: () => (v, pc) => perRow(withClassAxis('log_softmax', v, pc), softmaxRow(true)) })

registerStep('threshold', {
  usage: '{op: threshold, value: 0.5} — 1 where the score is at least value, else 0',
  compile(p) {
    const value = p.value ?? 0.5
    if (typeof value !== 'number') throw new Error("'value' must be a number")
    return (v) => {
      const t = needTensor('threshold', v)
      const src = asNumbers(t)
      return { dtype: 'int32', shape: t.shape, data: Int32Array.from(src, (x) => (x >= value ? 1 : 0)) }
    }
  },
})

registerStep('round', {
  usage: '{op: round, digits: 4}',
  compile(p) {
    const digits = p.digits ?? 4
    if (typeof digits !== 'number' || digits < 0 || digits > 12) throw new Error("'digits' must be 0..12")
    const f = 10 ** digits
    return (v) => {
      const t = needTensor('round', v)
      return { dtype: 'float64', shape: t.shape, data: Float64Array.from(asNumbers(t), (x) => Math.round(x * f) / f) }
    }
  },
})

registerStep('argmax', {
  usage: '{op: argmax, labels?: [..]} — index (or label) of the largest value per row',
  compile(p) {
    const labels = p.labels
    if (labels !== undefined && !(Array.isArray(labels) && labels.every((l) => typeof l === 'string'))) throw new Error("'labels' must be a list of strings")
    return (v, pc) => {
      const t = withClassAxis('argmax', v, pc)
      const k = t.shape[t.shape.length - 1] ?? 1
      const src = asNumbers(t)
      const n = size(t.shape) / k
      const idx: number[] = new Array(n)
      for (let i = 0; i < n; i++) {
        let best = 0
        for (let j = 1; j < k; j++) if (src[i * k + j]! > src[i * k + best]!) best = j
        idx[i] = best
      }
      return labels ? idx.map((i) => (labels as string[])[i] ?? String(i)) : idx
    }
  },
})

registerStep('wrap', {
  usage: '{op: wrap, key: <name>, with?: {field: constant, ...}} — answers {...with, "<name>": value}',
  compile(p) {
    const key = p.key
    if (typeof key !== 'string') throw new Error("'key' must be a string")
    const extra = p.with ?? {}
    if (typeof extra !== 'object' || Array.isArray(extra) || extra === null) throw new Error("'with' must be a mapping of constant fields")
    return (v) => ({ ...extra, [key]: finish(v) })
  },
})

registerStep('item', {
  usage: '{op: item} — the single value of a one-element output, as a plain number/string',
  compile: () => (v) => {
    const flat = isTensor(v) ? (finish(v) as unknown) : v
    const items = Array.isArray(flat) ? (flat as unknown[]).flat(Infinity) : [flat]
    // Several rows where the endpoint answers one value is the client's mistake: a 422, not a 500.
    if (items.length !== 1) throw new RequestInvalid([{ type: 'too_long', loc: ['body'], msg: `this endpoint answers one row at a time, got ${items.length} values`, ctx: { max_length: 1 } }])
    return items[0]
  },
})

/** Labels inline, or one per line in a file inside the project. */
function readLabels(labels: unknown, root: string): string[] | undefined {
  if (labels === undefined) return undefined
  if (Array.isArray(labels) && labels.every((l) => typeof l === 'string')) return labels
  if (typeof labels === 'string') {
    const file = path.resolve(root, labels)
    if (path.relative(root, file).startsWith('..')) throw new Error(`labels file '${labels}' is outside the project folder`)
    try {
      return readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0)
    } catch {
      throw new Error(`labels file '${labels}' cannot be read (looked for ${file}); list it under include: so it ships with the bundle`)
    }
  }
  throw new Error("'labels' must be a list of strings or a file path")
}

registerStep('topk', {
  usage: '{op: topk, k: 3, k_param?: <request field>, labels?: [..] | labels.txt, keys?: {labels: name, scores: name}, unwrap?: true}',
  compile(p, ctx) {
    const k0 = p.k ?? 5
    if (typeof k0 !== 'number' || !Number.isInteger(k0) || k0 < 1) throw new Error("'k' must be a positive integer")
    const kParam = p.k_param
    if (kParam !== undefined && typeof kParam !== 'string') throw new Error("'k_param' must name a request field")
    const labels = readLabels(p.labels, ctx.root)
    const keys = { labels: 'labels', scores: 'scores', ...(p.keys as object | undefined) } as { labels: string; scores: string }
    const unwrap = p.unwrap === true
    return (v, pc) => {
      const t = withClassAxis('topk', v, pc)
      const width = t.shape[t.shape.length - 1] ?? 1
      if (labels && labels.length !== width) throw new Error(`topk: ${labels.length} labels for ${width} scores`)
      const asked = kParam ? ((pc.body as Record<string, unknown> | null)?.[kParam] ?? pc.query[kParam]) : undefined
      const k = Math.max(1, Math.min(width, asked === undefined ? k0 : Number(asked) || k0))
      const src = asNumbers(t)
      const rows = src.length / width
      const out: Record<string, unknown[]>[] = []
      for (let r = 0; r < rows; r++) {
        const idx = Array.from({ length: width }, (_, j) => j).sort((a, b) => src[r * width + b]! - src[r * width + a]!).slice(0, k)
        out.push({ [keys.labels]: idx.map((j) => labels?.[j] ?? j), [keys.scores]: idx.map((j) => src[r * width + j]!) })
      }
      return unwrap && rows === 1 ? out[0] : out
    }
  },
})
