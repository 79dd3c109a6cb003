/**
 * Every failure a user can cause or fix is an MlxError: a one-paragraph message that names the
 * file/field, plus a hint saying what to do. The CLI prints message + hint; the stack only with
 * --verbose. Anything that is not an MlxError is a bug in mlx and is shown as such.
 */
export type ErrorCode =
  | 'MANIFEST_NOT_FOUND'
  | 'MANIFEST_SYNTAX'
  | 'MANIFEST_INVALID'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_LOAD_FAILED'
  | 'DATA_INVALID'
  | 'PLUGIN_NOT_FOUND'
  | 'PLUGIN_INVALID'
  | 'TARGET_CONFIG_INVALID'
  | 'CREDENTIALS_MISSING'
  | 'PORT_IN_USE'
  | 'HANDLER_INVALID'
  | 'BUNDLE_FAILED'
  | 'DEPLOY_FAILED'
  | 'INPUT_INVALID'
  | 'USAGE'

export class MlxError extends Error {
  readonly code: ErrorCode
  readonly hint?: string
  readonly file?: string

  constructor(code: ErrorCode, message: string, opts: { hint?: string; file?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'MlxError'
    this.code = code
    this.hint = opts.hint
    this.file = opts.file
  }
}

export function isMlxError(err: unknown): err is MlxError {
  return err instanceof MlxError || (typeof err === 'object' && err !== null && (err as { name?: string }).name === 'MlxError')
}

/** One paragraph for a terminal: what went wrong, then what to do about it. */
export function formatError(err: unknown, verbose = false): string {
  if (isMlxError(err)) {
    let text = `error[${err.code}]: ${err.message}`
    if (err.hint) text += `\n  hint: ${err.hint}`
    if (verbose) {
      if (err.stack) text += `\n${err.stack}`
      if (err.cause instanceof Error && err.cause.stack) text += `\ncaused by: ${err.cause.stack}`
    }
    return text
  }
  const e = err instanceof Error ? err : new Error(String(err))
  const text = `error: ${e.message}`
  return verbose
    ? `${text}\n${e.stack ?? ''}`
    : `${text}\n  hint: this looks like a bug in mlx; re-run with --verbose and report the stack trace.`
}

