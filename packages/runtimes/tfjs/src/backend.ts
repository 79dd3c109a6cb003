import { createRequire } from 'node:module'
import path from 'node:path'
import type { Logger } from '@mlx/core'

/**
 * The TF.js API mlx uses: core (tensors, engine, training), layers and the graph-model converter.
 * Composed from the separate packages rather than @tensorflow/tfjs, which would also bring the
 * WebGL backend, tfjs-data and core-js polyfills (about 40 MB of a served bundle) that Node never
 * runs. tfjs-node, when installed, exports the same API as one module.
 */
export type Tf = typeof import('@tensorflow/tfjs-core') & typeof import('@tensorflow/tfjs-layers') & typeof import('@tensorflow/tfjs-converter')

export interface TfBackend {
  readonly tf: Tf
  /** The active backend: 'tensorflow' (tfjs-node), 'wasm', or 'cpu'. */
  readonly name: string
  /** The TF.js version that runs the models. */
  readonly version: string
  /** Why a faster backend was not used, when one was not. */
  readonly fallback?: string
}

const require = createRequire(import.meta.url)
// A variable, so TypeScript does not try to resolve an optional package that is usually absent.
const TFJS_NODE = '@tensorflow/tfjs-node'

let pending: Promise<TfBackend> | undefined

/**
 * Picks the TF.js backend once per process (TF.js keeps one global engine): tfjs-node when it is
 * installed and its native library loads, else the WebAssembly backend with its .wasm files read
 * from the installed package, else the plain JavaScript 'cpu' backend. Every later load reuses it.
 */
export function tfBackend(log: Logger): Promise<TfBackend> {
  pending ??= pick(log).catch((err: unknown) => {
    pending = undefined // a failed start may be retried (e.g. after fixing the install)
    throw err
  })
  return pending
}

async function pick(log: Logger): Promise<TfBackend> {
  const reasons: string[] = []
  if (process.env.MLX_TFJS_BACKEND !== 'wasm' && process.env.MLX_TFJS_BACKEND !== 'cpu') {
    try {
      const tf = (await import(TFJS_NODE)) as Tf
      await tf.ready()
      return done(log, { tf, name: tf.getBackend(), version: versionOf(tf) })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') reasons.push('@tensorflow/tfjs-node is not installed')
      else reasons.push(`@tensorflow/tfjs-node is installed but failed to load: ${firstLine(err)}`)
    }
  } else reasons.push(`MLX_TFJS_BACKEND=${process.env.MLX_TFJS_BACKEND}`)

  const tf = await composedTf()
  if (process.env.MLX_TFJS_BACKEND !== 'cpu') {
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm')
      const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep
      wasm.setWasmPaths(dist)
      // setBackend resolves false (after a console warning) when the module cannot start.
      if (await tf.setBackend('wasm')) {
        await tf.ready()
        return done(log, { tf, name: 'wasm', version: versionOf(tf), fallback: reasons.join('; ') })
      }
      reasons.push('the wasm backend failed to initialise')
    } catch (err) {
      reasons.push(`the wasm backend failed to load: ${firstLine(err)}`)
    }
  }
  await tf.setBackend('cpu')
  await tf.ready()
  log.warn(`tfjs: falling back to the slow JavaScript 'cpu' backend (${reasons.join('; ')})`)
  return done(log, { tf, name: 'cpu', version: versionOf(tf), fallback: reasons.join('; ') })
}

async function composedTf(): Promise<Tf> {
  const [core, layers, converter] = await Promise.all([import('@tensorflow/tfjs-core'), import('@tensorflow/tfjs-layers'), import('@tensorflow/tfjs-converter'), import('@tensorflow/tfjs-backend-cpu')])
  return { ...core, ...layers, ...converter } as Tf
}

function done(log: Logger, b: TfBackend): TfBackend {
  if (b.fallback && b.name !== 'cpu') log.debug(`tfjs: not using tfjs-node: ${b.fallback}`)
  return b
}

function versionOf(tf: Tf): string {
  return ((tf as { version?: Record<string, string> }).version)?.tfjs ?? tf.version_core
}

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0]
