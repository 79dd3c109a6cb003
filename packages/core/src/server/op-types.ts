import type { Tensor } from '../types.js'

/**
 * The shapes of pre- and post-processing ops, with the frame they work on. This module imports
 * only types.ts, so contracts.ts (a plugin's `preprocess`/`postprocess` tables) can name these
 * types without depending on the server modules that implement the ops.
 */

/**
 * Numbers (and booleans as 0/1) are Float64Array with NaN for missing; strings keep null; files
 * are Buffers. Pre-processing may add a ready Tensor (an image op's pixels), fed to the model as is.
 */
export type Column = Float64Array | (string | null)[] | (Buffer | null)[] | Tensor

/** The validated request, column-wise: what pre-processing and the model feed work on. */
export interface Frame {
  readonly rows: number
  readonly columns: Map<string, Column>
}

/** A compiled pre-processing op: edits the frame's columns in place or adds new ones. */
export type FrameOp = (frame: Frame, where: 'body' | 'query') => void | Promise<void>

export interface FrameOpDefinition {
  readonly usage: string
  /** `columns` maps the names present before this op to whether they are numeric; the op adds its outputs. */
  compile(params: Record<string, unknown>, columns: Map<string, boolean>): FrameOp
}

/** What flows through post-processing: a map of named tensors, then one tensor, then JSON. */
export type Value = Record<string, Tensor> | Tensor | unknown
/** What a post op may look at besides the value: the row count and the request (e.g. a top-K from the body). */
export interface PostContext {
  readonly rows: number
  /** The request's frame after pre-processing (e.g. image geometry, to map boxes back to pixels). */
  readonly frame?: Frame
  readonly body: unknown
  readonly query: Readonly<Record<string, unknown>>
}
export type PostOp = (value: Value, ctx: PostContext) => Value

/** Where a step is compiled: the project root resolves files such as labels lists. */
export interface CompileContext {
  readonly root: string
}

export interface StepDefinition {
  /** Human description of the parameters, shown when they are wrong. */
  readonly usage: string
  compile(params: Record<string, unknown>, ctx: CompileContext): PostOp
}
