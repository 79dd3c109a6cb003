/**
 * FastAPI/pydantic-compatible validation errors, so clients written against a FastAPI service
 * parse ours unchanged: {"detail": [{"type", "loc", "msg", "input"}]} with status 422.
 */
export interface Problem {
  type: string
  loc: (string | number)[]
  msg: string
  input?: unknown
  ctx?: Record<string, unknown>
}

export class RequestInvalid extends Error {
  readonly statusCode = 422
  readonly detail: Problem[]
  constructor(detail: Problem[]) {
    super(detail.map((d) => `${d.loc.join('.')}: ${d.msg}`).join('; '))
    this.name = 'RequestInvalid'
    // FastAPI always sends "input"; JSON drops undefined, so a problem without one says null.
    this.detail = detail.map((d) => (d.input === undefined ? { ...d, input: null } : d))
  }
}

/** Errors the server answers with a status and a plain {"detail": "..."} body (FastAPI's HTTPException). */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

/** Stop collecting after this many problems: a 10k-row body of garbage must not build a 10k-entry reply. */
export const MAX_PROBLEMS = 50
