/**
 * The dependency-free vocabulary every other module speaks: tensors, the logger, JSON Schema,
 * credentials. Nothing here imports anything, so any module may import it without a cycle.
 */

export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'bool' | 'string'

export interface TensorInfo {
  readonly name: string
  readonly dtype: DType
  /** -1 (or a symbolic name) marks a dynamic dimension, usually the batch. */
  readonly shape: readonly (number | string)[]
}

export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | string[]
  | boolean[]

/** A plain tensor: runtimes convert to and from their own types at the edge. */
export interface Tensor {
  readonly dtype: DType
  readonly shape: readonly number[]
  readonly data: TensorData
}

export interface Logger {
  info(msg: string): void
  warn(msg: string): void
  debug(msg: string): void
  /** A long step: the CLI shows a spinner or progress line on a TTY, a plain line otherwise. */
  step<T>(title: string, work: () => Promise<T>): Promise<T>
}

export type JSONSchema = Record<string, unknown>

export interface Credentials {
  /** Reads a setting that is not a secret (a project id, a region, an API URL): never masked. */
  setting(name: string): string | undefined
  /** Reads a secret from the environment by name; never stored, never logged. */
  get(name: string): string | undefined
  require(name: string | string[], hint: string): string
}


/** A flag a target (or the image tool) adds to `mlx package` and `mlx deploy`. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean'
  readonly description: string
  /** Repeatable (string flags): the value is a list. */
  readonly multiple?: boolean
}

