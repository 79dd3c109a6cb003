import type { Logger, Tensor, TensorInfo } from '../types.js'
import type { EndpointSpec } from '../project.js'
import type { Frame } from './frame.js'

/** What a TypeScript handler module's default export receives. */
export interface HandlerInput {
  /** The parsed body (validated against input.schema when one is declared). */
  readonly body: unknown
  readonly query: Readonly<Record<string, unknown>>
  /** For endpoints with features: the validated, typed columns. */
  readonly frame?: Frame
}

export interface ModelHandle {
  readonly inputs: readonly TensorInfo[]
  readonly outputs: readonly TensorInfo[]
  run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>
  /** Feeds a frame the way tabular endpoints do (one input per feature, or a stacked matrix). */
  predict(frame: Frame): Promise<Record<string, Tensor>>
}

export interface HandlerContext {
  readonly endpoint: EndpointSpec
  readonly models: Readonly<Record<string, ModelHandle>>
  readonly log: Logger
  /** The project (or bundle) folder: where files listed under include: are found. */
  readonly root: string
}

export type Handler = (input: HandlerInput, ctx: HandlerContext) => unknown

/** Typed helper for handler authors: `export default defineHandler(async (input, ctx) => ...)`. */
export function defineHandler(fn: Handler): Handler {
  return fn
}
