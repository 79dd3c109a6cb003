// Minimal ONNX ModelProto writer: describe a graph with plain objects, get the
// protobuf bytes back. Hand-written encoder (about 150 lines) instead of a
// generated protobufjs schema so the examples need no extra dependency and the
// output is byte-for-byte deterministic (fields are always written in the same
// order, no timestamps, no maps with unstable iteration).
//
// Usage:
//   import * as onnx from '../../../scripts/lib/onnx-builder.mjs'
//   const bytes = onnx.encodeModel(onnx.model({
//     graph: onnx.graph({
//       name: 'g',
//       inputs: [onnx.valueInfo('x', onnx.DataType.FLOAT, ['N', 3])],
//       outputs: [onnx.valueInfo('y', onnx.DataType.FLOAT, ['N', 3])],
//       initializers: [onnx.tensor('k', onnx.DataType.FLOAT, [3], [1, 2, 3])],
//       nodes: [onnx.node('Mul', ['x', 'k'], ['y'])],
//     }),
//     opsets: { '': 17, 'ai.onnx.ml': 3 },
//   }))
//
// Field numbers follow onnx/onnx.proto (ModelProto, GraphProto, NodeProto,
// AttributeProto, TensorProto, ValueInfoProto, TypeProto, OperatorSetIdProto).

/** TensorProto.DataType values (subset that the examples need). */
export const DataType = Object.freeze({
  FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, DOUBLE: 11,
})

// AttributeProto.AttributeType values.
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 }

// ---------------------------------------------------------------------------
// Protobuf wire encoding. Every encoder returns a Uint8Array; messages are
// concatenations of fields. Small models only, so no streaming is needed.

const utf8 = new TextEncoder()

function concat(parts) {
  let len = 0
  for (const p of parts) len += p.length
  const out = new Uint8Array(len)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

// int64 varint; negative values become 10-byte two's complement as protobuf requires.
function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value))
  const bytes = []
  while (v >= 0x80n) { bytes.push(Number(v & 0x7fn) | 0x80); v >>= 7n }
  bytes.push(Number(v))
  return Uint8Array.from(bytes)
}

const tag = (field, wire) => varint((field << 3) | wire)
const fVarint = (field, v) => concat([tag(field, 0), varint(v)])
const fBytes = (field, b) => concat([tag(field, 2), varint(b.length), b])
const fString = (field, s) => fBytes(field, utf8.encode(s))
const fFloat = (field, x) => concat([tag(field, 5), float32LE([x])])

function float32LE(values) {
  const out = new Uint8Array(values.length * 4)
  const dv = new DataView(out.buffer)
  values.forEach((x, i) => dv.setFloat32(i * 4, x, true))
  return out
}

function int64LE(values) {
  const out = new Uint8Array(values.length * 8)
  const dv = new DataView(out.buffer)
  values.forEach((x, i) => dv.setBigInt64(i * 8, BigInt(x), true))
  return out
}

// Packed repeated varints (parsers accept packed for any repeated scalar).
const fPackedVarints = (field, vs) => fBytes(field, concat(vs.map(varint)))

// ---------------------------------------------------------------------------
// Builders: return plain descriptor objects; encoding happens in encodeModel.

/**
 * Typed attribute values. ONNX distinguishes int from float attributes, which
 * a JS number cannot express, so numbers must be wrapped explicitly. Plain
 * strings and string arrays passed to node() are typed automatically.
 */
export const attr = Object.freeze({
  f: (v) => ({ attrType: AttrType.FLOAT, value: v }),
  i: (v) => ({ attrType: AttrType.INT, value: v }),
  s: (v) => ({ attrType: AttrType.STRING, value: v }),
  t: (v) => ({ attrType: AttrType.TENSOR, value: v }),
  g: (v) => ({ attrType: AttrType.GRAPH, value: v }),
  floats: (v) => ({ attrType: AttrType.FLOATS, value: [...v] }),
  ints: (v) => ({ attrType: AttrType.INTS, value: [...v] }),
  strings: (v) => ({ attrType: AttrType.STRINGS, value: [...v] }),
})

function normalizeAttr(name, v) {
  if (v && typeof v === 'object' && 'attrType' in v) return v
  if (typeof v === 'string') return attr.s(v)
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return attr.strings(v)
  throw new TypeError(`attribute "${name}": wrap numbers with attr.f/i/floats/ints (ONNX needs the exact type)`)
}

/**
 * A graph node. attrs: { name: attr.*(...) | string | string[] }.
 * opts.domain: '' (default ONNX) or e.g. 'ai.onnx.ml'; opts.name defaults to the first output.
 */
export function node(opType, inputs, outputs, attrs = {}, opts = {}) {
  return {
    opType,
    inputs: [...inputs],
    outputs: [...outputs],
    name: opts.name ?? `${opType}_${outputs[0]}`,
    domain: opts.domain ?? '',
    // Sorted so attribute order never depends on object-literal order.
    attrs: Object.keys(attrs).sort().map((k) => ({ name: k, ...normalizeAttr(k, attrs[k]) })),
  }
}

/** Shorthand for ai.onnx.ml nodes. */
export const mlNode = (opType, inputs, outputs, attrs = {}, opts = {}) =>
  node(opType, inputs, outputs, attrs, { ...opts, domain: 'ai.onnx.ml' })

/**
 * A constant tensor (initializer or attribute value). values: flat array in
 * row-major order; numbers for FLOAT/DOUBLE/INT*, strings for STRING.
 */
export function tensor(name, dataType, dims, values) {
  const n = dims.reduce((a, b) => a * b, 1)
  if (values.length !== n) throw new RangeError(`tensor ${name}: ${values.length} values for dims [${dims}]`)
  return { name, dataType, dims: [...dims], values: [...values] }
}

/**
 * A typed graph input/output. shape entries: number (fixed), string (symbolic,
 * e.g. 'N'), or null (unknown). shape undefined = unknown rank.
 */
export function valueInfo(name, elemType, shape) {
  return { name, elemType, shape: shape ? [...shape] : undefined }
}

/**
 * A graph. Checks that every node input is defined before use (catches typos
 * early); outerScope lists names a subgraph (If/Loop body) may take from its parent.
 */
export function graph({ name = 'graph', nodes, inputs, outputs, initializers = [], valueInfos = [], docString = '',
  outerScope = [] }) {
  const known = new Set([...inputs.map((v) => v.name), ...initializers.map((t) => t.name), ...outerScope, ''])
  for (const n of nodes) {
    for (const i of n.inputs) if (!known.has(i)) throw new Error(`node ${n.name}: input "${i}" is not defined before use`)
    for (const o of n.outputs) known.add(o)
  }
  for (const o of outputs) if (!known.has(o.name)) throw new Error(`graph output "${o.name}" is never produced`)
  return { name, nodes, inputs, outputs, initializers, valueInfos, docString }
}

/**
 * A model. opsets: { domain: version }, e.g. { '': 17, 'ai.onnx.ml': 3 }.
 * metadata: { key: value } strings stored as metadata_props (sorted by key).
 */
export function model({ graph: g, opsets, irVersion = 8, producerName = 'mlx-examples', producerVersion = '',
  domain = '', modelVersion = 1, docString = '', metadata = {} }) {
  return { graph: g, opsets, irVersion, producerName, producerVersion, domain, modelVersion, docString, metadata }
}

// ---------------------------------------------------------------------------
// Message encoders (field numbers from onnx.proto).

function encTensor(t) {
  const parts = [...t.dims.map((d) => fVarint(1, d)), fVarint(2, t.dataType)]
  switch (t.dataType) {
    case DataType.STRING: parts.push(...t.values.map((s) => fString(6, s))); break
    case DataType.FLOAT: parts.push(fBytes(9, float32LE(t.values))); break
    case DataType.INT64: parts.push(fBytes(9, int64LE(t.values))); break
    case DataType.DOUBLE: {
      const b = new Uint8Array(t.values.length * 8)
      const dv = new DataView(b.buffer)
      t.values.forEach((x, i) => dv.setFloat64(i * 8, x, true))
      parts.push(fBytes(9, b)); break
    }
    case DataType.INT32: case DataType.INT8: case DataType.UINT8: case DataType.BOOL:
      // int32_data carries all narrow integer types as varints.
      parts.push(fPackedVarints(5, t.values.map((x) => Number(x)))); break
    default: throw new Error(`tensor ${t.name}: unsupported data type ${t.dataType}`)
  }
  if (t.name) parts.push(fString(8, t.name))
  return concat(parts)
}

function encAttr(a) {
  const parts = [fString(1, a.name)]
  switch (a.attrType) {
    case AttrType.FLOAT: parts.push(fFloat(2, a.value)); break
    case AttrType.INT: parts.push(fVarint(3, a.value)); break
    case AttrType.STRING: parts.push(fBytes(4, utf8.encode(a.value))); break
    case AttrType.TENSOR: parts.push(fBytes(5, encTensor(a.value))); break
    case AttrType.GRAPH: parts.push(fBytes(6, encGraph(a.value))); break
    case AttrType.FLOATS: if (a.value.length) parts.push(fBytes(7, float32LE(a.value))); break
    case AttrType.INTS: if (a.value.length) parts.push(fPackedVarints(8, a.value)); break
    case AttrType.STRINGS: parts.push(...a.value.map((s) => fBytes(9, utf8.encode(s)))); break
  }
  parts.push(fVarint(20, a.attrType))
  return concat(parts)
}

function encNode(n) {
  return concat([
    ...n.inputs.map((s) => fString(1, s)),
    ...n.outputs.map((s) => fString(2, s)),
    fString(3, n.name),
    fString(4, n.opType),
    ...n.attrs.map((a) => fBytes(5, encAttr(a))),
    ...(n.domain ? [fString(7, n.domain)] : []),
  ])
}

function encValueInfo(v) {
  // TypeProto.tensor_type(1) -> Tensor{ elem_type(1), shape(2) -> TensorShapeProto{ dim(1) } }
  const tensorType = [fVarint(1, v.elemType)]
  if (v.shape) {
    const dims = v.shape.map((d) =>
      fBytes(1, d === null ? new Uint8Array(0) : typeof d === 'string' ? fString(2, d) : fVarint(1, d)))
    tensorType.push(fBytes(2, concat(dims)))
  }
  return concat([fString(1, v.name), fBytes(2, fBytes(1, concat(tensorType)))])
}

function encGraph(g) {
  return concat([
    ...g.nodes.map((n) => fBytes(1, encNode(n))),
    fString(2, g.name),
    ...g.initializers.map((t) => fBytes(5, encTensor(t))),
    ...(g.docString ? [fString(10, g.docString)] : []),
    ...g.inputs.map((v) => fBytes(11, encValueInfo(v))),
    ...g.outputs.map((v) => fBytes(12, encValueInfo(v))),
    ...g.valueInfos.map((v) => fBytes(13, encValueInfo(v))),
  ])
}

/** Serialize a model() descriptor to ONNX protobuf bytes. */
export function encodeModel(m) {
  const opsets = Object.keys(m.opsets).sort().map((d) =>
    fBytes(8, concat([...(d ? [fString(1, d)] : []), fVarint(2, m.opsets[d])])))
  const meta = Object.keys(m.metadata).sort().map((k) =>
    fBytes(14, concat([fString(1, k), fString(2, String(m.metadata[k]))])))
  return concat([
    fVarint(1, m.irVersion),
    fString(2, m.producerName),
    ...(m.producerVersion ? [fString(3, m.producerVersion)] : []),
    ...(m.domain ? [fString(4, m.domain)] : []),
    fVarint(5, m.modelVersion),
    ...(m.docString ? [fString(6, m.docString)] : []),
    fBytes(7, encGraph(m.graph)),
    ...opsets,
    ...meta,
  ])
}
