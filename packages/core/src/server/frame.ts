import type { FeatureSpec } from '../project.js'
import { MAX_PROBLEMS, RequestInvalid, type Problem } from './problems.js'
import { parseTimestamp } from './timestamp.js'
import type { Column, Frame } from './op-types.js'

// Column and Frame live in op-types.ts (dependency-free, so contracts.ts can name them); this module reads them.
export type { Column, Frame }
type Cells = Float64Array | (string | Buffer | null)[]

/** Where a value sits, built only when there is a problem: the happy path allocates nothing per value. */
type LocOf = (i: number) => (string | number)[]
type Coerce = (v: unknown, i: number, at: LocOf, problems: Problem[]) => number | string | Buffer | null

const TRUE = new Set(['true', '1', 'yes', 'on', 't', 'y'])
const FALSE = new Set(['false', '0', 'no', 'off', 'f', 'n'])

/**
 * One coercion function per feature, chosen once at startup. The rules follow pydantic's lax
 * mode, since the seeds' clients were written against pydantic: numeric strings are numbers,
 * numbers are accepted for string fields (0 → "0"), "true"/"false"/0/1 are booleans.
 * A null or absent value is allowed only for nullable features.
 */
function coercer(f: FeatureSpec): Coerce {
  const missing = (v: unknown, i: number, at: LocOf, problems: Problem[]) => {
    if (f.nullable) return f.type === 'string' || f.type === 'file' ? null : NaN
    problems.push({ type: 'missing', loc: at(i), msg: `Input should not be null: '${f.name}' is required (${f.type})`, input: v })
    return null
  }
  switch (f.type) {
    case 'file':
      return (v, i, at, problems) => {
        if (Buffer.isBuffer(v)) return v
        if (v === null || v === undefined) return missing(v, i, at, problems)
        if (typeof v === 'string') {
          // JSON clients send bytes as base64, optionally as a data: URL.
          const b64 = v.startsWith('data:') ? v.slice(v.indexOf(',') + 1) : v
          if (/^[A-Za-z0-9+/\r\n]*={0,2}$/.test(b64) && b64.length > 0) return Buffer.from(b64, 'base64')
        }
        problems.push({ type: 'bytes_type', loc: at(i), msg: 'Input should be a file: a multipart upload, or base64 text in JSON', input: typeof v === 'string' ? `${v.slice(0, 40)}…` : v })
        return null
      }
    case 'number':
    case 'integer': {
      const int = f.type === 'integer'
      const parse: Coerce = (v, i, at, problems) => {
        if (typeof v === 'number') {
          if (int && !Number.isInteger(v)) {
            problems.push({ type: 'int_from_float', loc: at(i), msg: 'Input should be a valid integer, got a number with a fractional part', input: v })
            return null
          }
          return v
        }
        if (v === null || v === undefined) return missing(v, i, at, problems)
        if (typeof v === 'boolean') return v ? 1 : 0
        if (typeof v === 'string') {
          const s = v.trim()
          const n = s === '' ? NaN : Number(s)
          if (!Number.isNaN(n) && (!int || Number.isInteger(n))) return n
          if (s === '' && f.nullable) return NaN
          problems.push({
            type: int ? 'int_parsing' : 'float_parsing',
            loc: at(i),
            msg: `Input should be a valid ${int ? 'integer' : 'number'}, unable to parse string as ${int ? 'an integer' : 'a number'}`,
            input: v,
          })
          return null
        }
        problems.push({ type: int ? 'int_type' : 'float_type', loc: at(i), msg: `Input should be a valid ${int ? 'integer' : 'number'}`, input: v })
        return null
      }
      const lo = f.minimum
      const hi = f.maximum
      if (lo === undefined && hi === undefined) return parse
      // Declared bounds are checked after coercion, with pydantic's error types.
      return (v, i, at, problems) => {
        const n = parse(v, i, at, problems)
        if (typeof n !== 'number' || Number.isNaN(n)) return n
        if (lo !== undefined && n < lo) {
          problems.push({ type: 'greater_than_equal', loc: at(i), msg: `Input should be greater than or equal to ${lo}`, input: v, ctx: { ge: lo } })
          return null
        }
        if (hi !== undefined && n > hi) {
          problems.push({ type: 'less_than_equal', loc: at(i), msg: `Input should be less than or equal to ${hi}`, input: v, ctx: { le: hi } })
          return null
        }
        return n
      }
    }
    case 'boolean':
      return (v, i, at, problems) => {
        if (typeof v === 'boolean') return v ? 1 : 0
        if (v === null || v === undefined) return missing(v, i, at, problems)
        if (v === 0 || v === 1) return v
        if (typeof v === 'string') {
          const s = v.trim().toLowerCase()
          if (TRUE.has(s)) return 1
          if (FALSE.has(s)) return 0
        }
        problems.push({ type: 'bool_parsing', loc: at(i), msg: 'Input should be a valid boolean', input: v })
        return null
      }
    case 'string':
      if (f.format === 'date-time') {
        return (v, i, at, problems) => {
          if (v === null || v === undefined) return missing(v, i, at, problems)
          if (typeof v === 'string' && !Number.isNaN(parseTimestamp(v))) return v
          problems.push({ type: 'datetime_from_date_parsing', loc: at(i), msg: 'Input should be a valid datetime, e.g. "2013-07-06 17:18:00 UTC" or ISO 8601', input: v })
          return null
        }
      }
      return (v, i, at, problems) => {
        if (typeof v === 'string') return v
        if (v === null || v === undefined) return missing(v, i, at, problems)
        if (typeof v === 'number' || typeof v === 'boolean') return String(v)
        problems.push({ type: 'string_type', loc: at(i), msg: 'Input should be a valid string', input: v })
        return null
      }
  }
}

export interface FrameReader {
  /** Column-oriented JSON: {"age": [22, 38], ...}; a scalar counts as one row. */
  fromColumns(body: unknown): Frame
  /** Row-oriented JSON: [{"age": 22, ...}, ...] (or one object). */
  fromRows(body: unknown, locPrefix?: (string | number)[]): Frame
  /** Query string: one row, values are strings. */
  fromQuery(query: Record<string, unknown>): Frame
}

/** Compiles, once per endpoint, the reader that validates a body and builds its typed columns in one pass. */
export function compileFrameReader(features: readonly FeatureSpec[], maxRows: number): FrameReader {
  const specs = features.map((f) => ({ f, coerce: coercer(f), numeric: f.type !== 'string' && f.type !== 'file', required: f.required !== false && !f.nullable }))

  const alloc = (numeric: boolean, n: number): Cells => (numeric ? new Float64Array(n) : new Array<string | Buffer | null>(n))
  const tooMany = (n: number, loc: (string | number)[]) =>
    new RequestInvalid([{ type: 'too_long', loc, msg: `at most ${maxRows} rows per request, got ${n}`, ctx: { max_length: maxRows } }])

  function fromColumns(body: unknown): Frame {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new RequestInvalid([{ type: 'dict_type', loc: ['body'], msg: 'Input should be an object of feature columns, e.g. {"age": [22, 38]}, or a list of rows', input: body }])
    }
    const obj = body as Record<string, unknown>
    const problems: Problem[] = []
    let rows = -1
    let first = ''
    for (const { f, required } of specs) {
      const col = obj[f.name]
      if (col === undefined) {
        if (required) problems.push({ type: 'missing', loc: ['body', f.name], msg: 'Field required', input: null })
        continue
      }
      const n = Array.isArray(col) ? col.length : 1
      if (rows < 0) {
        rows = n
        first = f.name
      } else if (n !== rows) {
        problems.push({ type: 'length_mismatch', loc: ['body', f.name], msg: `expected ${rows} values (as many as '${first}'), got ${n}`, input: null })
      }
    }
    if (problems.length) throw new RequestInvalid(problems)
    if (rows < 0) rows = 0
    if (rows > maxRows) throw tooMany(rows, ['body'])
    if (rows === 0) throw new RequestInvalid([{ type: 'too_short', loc: ['body'], msg: 'at least one row is needed', input: body }])
    const columns = new Map<string, Cells>()
    for (const { f, coerce, numeric } of specs) {
      const raw = obj[f.name]
      const out = alloc(numeric, rows)
      if (raw === undefined) {
        out.fill((numeric ? NaN : null) as never)
      } else if (!Array.isArray(raw)) {
        out[0] = coerce(raw, 0, () => ['body', f.name], problems) as never
      } else {
        const at: LocOf = (i) => ['body', f.name, i]
        for (let i = 0; i < rows; i++) {
          out[i] = coerce(raw[i], i, at, problems) as never
          if (problems.length >= MAX_PROBLEMS) break
        }
      }
      columns.set(f.name, out)
      if (problems.length >= MAX_PROBLEMS) break
    }
    if (problems.length) throw new RequestInvalid(problems)
    return { rows, columns: columns as Map<string, Column> }
  }

  function fromRows(body: unknown, locPrefix: (string | number)[] = ['body']): Frame {
    const list = Array.isArray(body) ? body : [body]
    const rows = list.length
    if (rows > maxRows) throw tooMany(rows, locPrefix)
    if (rows === 0) throw new RequestInvalid([{ type: 'too_short', loc: locPrefix, msg: 'at least one row is needed', input: body }])
    const problems: Problem[] = []
    const cells = new Map<string, Cells>()
    for (const { f, numeric } of specs) cells.set(f.name, alloc(numeric, rows))
    const listed = Array.isArray(body)
    const rowLoc = (i: number) => (listed ? [...locPrefix, i] : locPrefix)
    const targets = specs.map((s) => ({ ...s, col: cells.get(s.f.name)!, at: ((i: number) => [...rowLoc(i), s.f.name]) as LocOf }))
    outer: for (let i = 0; i < rows; i++) {
      const row = list[i] as Record<string, unknown> | null
      if (row === null || typeof row !== 'object' || Array.isArray(row)) {
        problems.push({ type: 'dict_type', loc: rowLoc(i), msg: 'Input should be an object with one key per feature', input: row })
        continue
      }
      for (const { f, coerce, required, numeric, col, at } of targets) {
        const v = row[f.name]
        if (v === undefined) {
          if (required) problems.push({ type: 'missing', loc: at(i), msg: 'Field required', input: row })
          col[i] = (numeric ? NaN : null) as never
        } else col[i] = coerce(v, i, at, problems) as never
        if (problems.length >= MAX_PROBLEMS) break outer
      }
    }
    if (problems.length) throw new RequestInvalid(problems)
    return { rows, columns: cells as Map<string, Column> }
  }

  function fromQuery(query: Record<string, unknown>): Frame {
    return fromRows(query, ['query'])
  }

  return { fromColumns, fromRows, fromQuery }
}

/** A frame back to row objects: for handlers and for echoing. */
export function frameRows(frame: Frame): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (let i = 0; i < frame.rows; i++) {
    const row: Record<string, unknown> = {}
    for (const [name, col] of frame.columns) {
      if (!('length' in col)) continue // a derived tensor has no per-row value
      const v = (col as Cells)[i]
      row[name] = typeof v === 'number' && Number.isNaN(v) ? null : v
    }
    out.push(row)
  }
  return out
}
