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
    // It echoes the input whole; here a large one is cut, so a bad 1 MB body is not sent back.
    this.detail = detail.map((d) => ({ ...d, input: d.input === undefined ? null : boundInput(d.input), ...(d.ctx ? { ctx: boundCtx(d.ctx) } : {}) }))
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

/** The most characters of a client's input an error body repeats, per place it repeats one. */
export const MAX_ECHO = 200

/** `text`, or its first `max` characters and an ellipsis. */
export function clip(text: string, max = MAX_ECHO): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`
}

/**
 * A problem's `input`: the value itself when its JSON is at most MAX_ECHO characters, else the
 * first MAX_ECHO characters of that JSON (a string, ending in …). Serialized only that far, and
 * file bytes are never echoed: they show as "<N bytes>".
 */
export function boundInput(value: unknown): unknown {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value
  if (typeof value === 'string') return clip(value)
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`
  const { text, exact } = jsonPrefix(value, MAX_ECHO)
  return exact && text.length <= MAX_ECHO ? value : clip(text)
}

function boundCtx(ctx: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(ctx).map(([k, v]) => [k, boundInput(v)]))
}

/** Deeper than this is not JSON a client sent (the body parser refuses it): cut, not walked. */
const PREFIX_DEPTH = 100

/** The JSON text of `value`, stopping once it is longer than `max` (the rest is never built). */
function jsonPrefix(value: unknown, max: number): { text: string; exact: boolean } {
  let out = ''
  let exact = true
  const walk = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== 'object') {
      if (typeof v === 'bigint') exact = false
      out += typeof v === 'string' ? JSON.stringify(clip(v, max + 1)) : typeof v === 'bigint' ? String(v) : (JSON.stringify(v) ?? 'null')
      return
    }
    if (Buffer.isBuffer(v)) {
      exact = false
      out += JSON.stringify(`<${v.length} bytes>`)
      return
    }
    if (depth > PREFIX_DEPTH || ArrayBuffer.isView(v)) {
      exact = false
      if (depth > PREFIX_DEPTH) out += '…'.repeat(max + 1)
      else out += JSON.stringify(Array.from(v as unknown as ArrayLike<number>).slice(0, max)).slice(0, max + 1)
      return
    }
    const list = Array.isArray(v)
    out += list ? '[' : '{'
    let first = true
    for (const key in v) {
      if (out.length > max) return
      if (!first) out += ','
      first = false
      if (!list) out += `${JSON.stringify(key)}:`
      walk((v as Record<string, unknown>)[key], depth + 1)
    }
    out += list ? ']' : '}'
  }
  walk(value, 0)
  return { text: out, exact }
}
