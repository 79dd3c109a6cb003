import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError } from '@mlx/core'
import type { io } from '@tensorflow/tfjs-core'

/**
 * TF.js models on disk without tfjs-node: a model.json (topology + weightsManifest) and the binary
 * weight shards it lists, read into the ModelArtifacts that tf.loadLayersModel/loadGraphModel take.
 * The writer is the inverse, used by training scripts and tests. Nothing here imports TF.js itself.
 */

export type ModelKind = 'layers' | 'graph'

/** The parts of model.json this module reads; the rest passes through to TF.js untouched. */
export interface ModelJson {
  format?: string
  generatedBy?: string
  convertedBy?: string | null
  modelTopology?: Record<string, unknown>
  weightsManifest?: { paths: string[]; weights: io.WeightsManifestEntry[] }[]
  trainingConfig?: io.TrainingConfig
  signature?: Record<string, unknown>
  userDefinedMetadata?: Record<string, unknown>
  modelInitializer?: Record<string, unknown>
  initializerSignature?: Record<string, unknown>
}

export interface ReadModel {
  /** Absolute path of model.json. */
  readonly file: string
  readonly json: ModelJson
  readonly kind: ModelKind
  /** ModelArtifacts with every shard read and joined, ready for tf.io.fromMemory-style loading. */
  readonly artifacts: io.ModelArtifacts
  readonly weightBytes: number
}

/** Bytes per stored element: quantized weights are stored narrower than their dtype. */
function bytesPerElement(spec: io.WeightsManifestEntry): number | undefined {
  const q = spec.quantization?.dtype
  if (q) return q === 'uint8' ? 1 : 2
  switch (spec.dtype) {
    case 'float32':
    case 'int32':
      return 4
    case 'bool':
      return 1
    default:
      return undefined // strings are variable length, complex64 is not served
  }
}

const failure = (message: string, hint: string, file: string, cause?: unknown) =>
  new MlxError('MODEL_LOAD_FAILED', message, { hint, file, cause })

/** layers (Keras-style topology) or graph (GraphDef nodes), from `format` first, then the topology's shape. */
export function modelKind(json: ModelJson): ModelKind | undefined {
  if (json.format === 'layers-model') return 'layers'
  if (json.format === 'graph-model') return 'graph'
  const topo = json.modelTopology
  if (!topo || typeof topo !== 'object') return undefined
  if (Array.isArray(topo.node)) return 'graph'
  if ('model_config' in topo || 'class_name' in topo) return 'layers'
  return undefined
}

/**
 * Reads a TF.js model from disk: `location` is a folder holding model.json or the model.json file.
 * `shown` is how messages name the location (the manifest's relative path); every failure is a
 * MODEL_LOAD_FAILED that names the file at fault.
 */
export async function readModel(location: string, shown = location): Promise<ReadModel> {
  const s = await stat(location).catch(() => undefined)
  const isDir = s?.isDirectory() ?? false
  const file = isDir ? path.join(location, 'model.json') : location
  const fileShown = isDir ? path.join(shown, 'model.json') : shown
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw failure(
      `${fileShown} cannot be read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      isDir || !s ? 'point models.<name>.path at a TF.js model folder (model.json plus its .bin weight shards) or at the model.json itself.' : 'check the file permissions.',
      file,
      err,
    )
  }
  let json: ModelJson
  try {
    json = JSON.parse(text) as ModelJson
  } catch (err) {
    throw failure(`${fileShown} is not valid JSON: ${(err as Error).message}`, 'the file is truncated or not a TF.js model.json; re-save or re-convert the model.', file, err)
  }
  if (!json || typeof json !== 'object' || !json.modelTopology || typeof json.modelTopology !== 'object') {
    throw failure(`${fileShown} has no modelTopology: it is not a TF.js model.json`, 'save the model with model.save() (layers) or convert it with tensorflowjs_converter (graph).', file)
  }
  const kind = modelKind(json)
  if (!kind) {
    throw failure(`${fileShown}: cannot tell a layers model from a graph model (format '${json.format ?? 'none'}')`, "set \"format\" to 'layers-model' or 'graph-model' in model.json.", file)
  }

  const dir = path.dirname(file)
  const shownDir = path.dirname(fileShown)
  const weightSpecs: io.WeightsManifestEntry[] = []
  const buffers: Buffer[] = []
  for (const [g, group] of (json.weightsManifest ?? []).entries()) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw failure(`${fileShown}: weightsManifest[${g}] needs 'paths' and 'weights' lists`, 'the model.json is damaged; re-save the model.', file)
    }
    let groupBytes = 0
    for (const rel of group.paths) {
      const shard = path.resolve(dir, decodeURIComponent(rel))
      const back = path.relative(dir, shard)
      if (back.startsWith('..') || path.isAbsolute(back)) {
        throw failure(`${fileShown}: weight shard '${rel}' is outside the model folder`, 'keep the .bin shards next to model.json.', file)
      }
      try {
        const b = await readFile(shard)
        buffers.push(b)
        groupBytes += b.length
      } catch (err) {
        throw failure(`weight shard ${path.join(shownDir, rel)} (listed in ${fileShown}) cannot be read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 'copy every .bin file listed in model.json\'s weightsManifest next to it.', shard, err)
      }
    }
    let expected = 0
    let known = true
    for (const w of group.weights) {
      const per = bytesPerElement(w)
      if (per === undefined) known = false
      else expected += per * w.shape.reduce((a, b) => a * b, 1)
    }
    if (known && expected !== groupBytes) {
      throw failure(
        `weight shards of ${fileShown} (${group.paths.join(', ')}) hold ${groupBytes} bytes, but the weights they list need ${expected}`,
        'a shard is truncated or belongs to another model; copy the model folder again.',
        file,
      )
    }
    weightSpecs.push(...group.weights)
  }
  const joined = Buffer.concat(buffers)
  // An ArrayBuffer holding exactly the weights: small Buffers are views into a shared pool, so copy those.
  const exact = joined.byteOffset === 0 && joined.buffer.byteLength === joined.byteLength
  const weightData = (exact ? joined.buffer : joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength)) as ArrayBuffer

  const artifacts: io.ModelArtifacts = {
    modelTopology: json.modelTopology as io.ModelArtifacts['modelTopology'],
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
    weightSpecs,
    weightData,
    ...(json.trainingConfig ? { trainingConfig: json.trainingConfig } : {}),
    ...(json.signature ? { signature: json.signature } : {}),
    ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata as io.ModelArtifacts['userDefinedMetadata'] } : {}),
    ...(json.modelInitializer ? { modelInitializer: json.modelInitializer } : {}),
    ...(json.initializerSignature ? { initializerSignature: json.initializerSignature } : {}),
  }
  return { file, json, kind, artifacts, weightBytes: joined.length }
}

/** An IOHandler whose load() reads from disk: pass it to tf.loadLayersModel / tf.loadGraphModel. */
export function diskLoadHandler(location: string, shown?: string): io.IOHandler {
  return { load: async () => (await readModel(location, shown)).artifacts }
}

/** Joins the weight data TF.js hands to save(): one ArrayBuffer, or a list of them (tfjs ≥ 4.x). */
function weightBytes(data: io.ModelArtifacts['weightData']): Buffer {
  if (!data) return Buffer.alloc(0)
  const parts = Array.isArray(data) ? data : [data]
  return Buffer.concat(parts.map((p) => Buffer.from(p)))
}

/**
 * An IOHandler whose save() writes `dir`/model.json and `dir`/<weights> (one shard), the layout
 * tfjs-node's file:// handler writes, so `readModel(dir)` and tf.loadLayersModel('file://…') both read it.
 */
export function diskSaveHandler(dir: string, opts: { weightsFile?: string; userDefinedMetadata?: Record<string, unknown> } = {}): io.IOHandler {
  const weightsFile = opts.weightsFile ?? 'weights.bin'
  return {
    async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error('diskSaveHandler writes JSON topologies only (not binary GraphDefs)')
      await mkdir(dir, { recursive: true })
      const weights = weightBytes(artifacts.weightData)
      const json: ModelJson = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology as Record<string, unknown>,
        weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.signature ? { signature: artifacts.signature } : {}),
        ...(opts.userDefinedMetadata || artifacts.userDefinedMetadata ? { userDefinedMetadata: { ...artifacts.userDefinedMetadata, ...opts.userDefinedMetadata } } : {}),
      }
      const text = JSON.stringify(json)
      await writeFile(path.join(dir, 'model.json'), text)
      await writeFile(path.join(dir, weightsFile), weights)
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: Buffer.byteLength(JSON.stringify(json.modelTopology)),
          weightSpecsBytes: Buffer.byteLength(JSON.stringify(json.weightsManifest![0]!.weights)),
          weightDataBytes: weights.length,
        },
      }
    },
  }
}
