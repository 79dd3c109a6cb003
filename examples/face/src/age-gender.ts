// face-api's age/gender network on TensorFlow.js's WebAssembly backend: no native tfjs-node
// (its install downloads a library), no network. The weights ship with the project (include: in
// mlx.yaml) and are loaded once, when the server imports the handler, so /readyz only answers
// once everything is in memory.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
// The package's main entry needs @tensorflow/tfjs-node; this one uses @tensorflow/tfjs + the wasm
// backend, the same (CommonJS) modules this file imports, so both share one TensorFlow.js engine.
import * as tf from '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-wasm'
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js'
import type { Pixels } from '@mlx/runtime-image'

export interface AgeGender {
  readonly age: number
  readonly gender: 'male' | 'female'
  readonly genderProbability: number
}

/**
 * The project folder (the one holding mlx.yaml): the handler runs compiled, from
 * .mlx/cache/handlers/<endpoint>/ under `mlx serve` and from .handlers/<endpoint>/ in a bundle.
 */
function projectRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'mlx.yaml'))) return dir
    if (path.dirname(dir) === dir) throw new Error(`no mlx.yaml above ${fileURLToPath(import.meta.url)}`)
  }
}

export const WEIGHTS = path.join(projectRoot(), 'models', 'age_gender')

const net = faceapi.nets.ageGenderNet

async function load(): Promise<void> {
  // In Node the wasm backend reads its .wasm files from @tensorflow/tfjs-backend-wasm/dist itself.
  if (!(await tf.setBackend('wasm'))) throw new Error('the TensorFlow.js wasm backend did not start')
  await tf.ready()
  await net.loadFromDisk(WEIGHTS)
}
await load()

/** Age (years) and gender for each face crop, in one batch through the network. */
export async function ageAndGender(crops: readonly Pixels[]): Promise<AgeGender[]> {
  if (crops.length === 0) return []
  const inputs = crops.map((c) => tf.tensor3d(c.data, [c.height, c.width, c.channels], 'int32'))
  try {
    // face-api pads each crop to a square and resizes it to 112×112 itself.
    const out = await net.predictAgeAndGender(inputs as unknown as faceapi.TNetInput)
    const list = Array.isArray(out) ? out : [out]
    return list.map((r) => ({ age: r.age, gender: r.gender as AgeGender['gender'], genderProbability: r.genderProbability }))
  } finally {
    for (const t of inputs) t.dispose()
  }
}
