import type { FeatureSpec } from '../project.js'
import type { StepDecl } from '../manifest/types.js'
import type { Column, Frame, FrameOp, FrameOpDefinition } from './op-types.js'
import { RequestInvalid, type Problem } from './problems.js'
import { parseTimestamp } from './timestamp.js'

export type { FrameOp, FrameOpDefinition }

/**
 * Pre-processing: ops over the validated frame that derive the columns a model takes (distance
 * from coordinates, hour from a timestamp, ...). Each op is compiled once from its manifest
 * parameters against the columns that exist at that point, so a typo fails at startup. The op
 * shapes (FrameOp, FrameOpDefinition) are in op-types.ts.
 */

const ops = new Map<string, FrameOpDefinition>()
export function registerFrameOp(op: string, def: FrameOpDefinition): void {
  const had = ops.get(op)
  if (had && had !== def) throw new Error(`pre-processing op '${op}' is already defined; a plugin must use another name`)
  ops.set(op, def)
}
export function frameOpNames(): string[] {
  return [...ops.keys()].sort()
}

export interface CompiledPreprocess {
  readonly ops: FrameOp[]
  /** Numeric columns in order, for models that take one stacked matrix (a `stack` op overrides it). */
  readonly order: string[]
}

export function compilePreprocess(decls: readonly StepDecl[], features: readonly FeatureSpec[], where: string): CompiledPreprocess {
  const columns = new Map(features.map((f) => [f.name, f.type !== 'string' && f.type !== 'file']))
  let order: string[] | undefined
  const compiled = decls.map((d, i) => {
    const def = ops.get(d.op)
    if (!def) throw new Error(`${where}[${i}]: unknown op '${d.op}' (known: ${frameOpNames().join(', ')})`)
    const { op: _op, ...params } = d
    try {
      if (d.op === 'stack') order = needColumns(params.columns, columns, true)
      return def.compile(params, columns)
    } catch (err) {
      throw new Error(`${where}[${i}] (${d.op}): ${(err as Error).message}; usage: ${def.usage}`)
    }
  })
  return { ops: compiled, order: order ?? [...columns].filter(([, numeric]) => numeric).map(([n]) => n) }
}

function needColumn(name: unknown, columns: Map<string, boolean>, numeric?: boolean): string {
  if (typeof name !== 'string') throw new Error('a column name is required')
  if (!columns.has(name)) throw new Error(`no column '${name}' at this point (columns: ${[...columns.keys()].join(', ')})`)
  if (numeric === true && !columns.get(name)) throw new Error(`column '${name}' is not numeric`)
  if (numeric === false && columns.get(name)) throw new Error(`column '${name}' is not a string column`)
  return name
}
function needColumns(list: unknown, columns: Map<string, boolean>, numeric?: boolean): string[] {
  if (!Array.isArray(list) || list.length === 0) throw new Error("'columns' must be a non-empty list")
  return list.map((c) => needColumn(c, columns, numeric))
}
const numCol = (frame: Frame, name: string) => frame.columns.get(name) as Float64Array
const strCol = (frame: Frame, name: string) => frame.columns.get(name) as (string | null)[]

registerFrameOp('fill_missing', {
  usage: '{op: fill_missing, values: {column: value, ...}}',
  compile(p, columns) {
    const values = p.values as Record<string, unknown> | undefined
    if (!values || typeof values !== 'object') throw new Error("'values' must map column names to values")
    const fills = Object.entries(values).map(([c, v]) => {
      const numeric = columns.get(needColumn(c, columns))!
      if (numeric && typeof v !== 'number') throw new Error(`fill for numeric column '${c}' must be a number`)
      return { c, v, numeric }
    })
    return (frame) => {
      for (const { c, v, numeric } of fills) {
        const col = frame.columns.get(c)!
        if (numeric) {
          const a = col as Float64Array
          for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!)) a[i] = v as number
        } else {
          const a = col as (string | null)[]
          for (let i = 0; i < a.length; i++) if (a[i] === null || a[i] === '') a[i] = String(v)
        }
      }
    }
  },
})

registerFrameOp('clip', {
  usage: '{op: clip, column: name, min?: number, max?: number}',
  compile(p, columns) {
    const c = needColumn(p.column, columns, true)
    const min = typeof p.min === 'number' ? p.min : -Infinity
    const max = typeof p.max === 'number' ? p.max : Infinity
    return (frame) => {
      const a = numCol(frame, c)
      for (let i = 0; i < a.length; i++) a[i] = Math.min(max, Math.max(min, a[i]!))
    }
  },
})

registerFrameOp('log1p', {
  usage: '{op: log1p, column: name, to?: new_name}',
  compile(p, columns) {
    const c = needColumn(p.column, columns, true)
    const to = typeof p.to === 'string' ? p.to : c
    columns.set(to, true)
    return (frame) => {
      frame.columns.set(to, Float64Array.from(numCol(frame, c), Math.log1p))
    }
  },
})

registerFrameOp('lowercase', {
  usage: '{op: lowercase, column: name}',
  compile(p, columns) {
    const c = needColumn(p.column, columns, false)
    return (frame) => {
      const a = strCol(frame, c)
      for (let i = 0; i < a.length; i++) a[i] = a[i]?.toLowerCase() ?? null
    }
  },
})

const PARTS: Record<string, (d: Date) => number> = {
  year: (d) => d.getUTCFullYear(),
  month: (d) => d.getUTCMonth() + 1,
  day: (d) => d.getUTCDate(),
  hour: (d) => d.getUTCHours(),
  minute: (d) => d.getUTCMinutes(),
  // Monday = 0 … Sunday = 6, as pandas' dayofweek.
  weekday: (d) => (d.getUTCDay() + 6) % 7,
}

registerFrameOp('datetime_parts', {
  usage: `{op: datetime_parts, column: name, parts: {${Object.keys(PARTS).join('|')}: new_name, ...}}`,
  compile(p, columns) {
    const c = needColumn(p.column, columns, false)
    const parts = p.parts as Record<string, unknown> | undefined
    if (!parts || typeof parts !== 'object' || !Object.keys(parts).length) throw new Error("'parts' must map part names to new column names")
    const outs = Object.entries(parts).map(([part, name]) => {
      if (!PARTS[part]) throw new Error(`unknown part '${part}' (parts: ${Object.keys(PARTS).join(', ')})`)
      if (typeof name !== 'string') throw new Error(`parts.${part} must be a column name`)
      columns.set(name, true)
      return { get: PARTS[part]!, name }
    })
    return (frame, where) => {
      const src = strCol(frame, c)
      const cols = outs.map(() => new Float64Array(frame.rows))
      const problems: Problem[] = []
      for (let i = 0; i < frame.rows; i++) {
        const s = src[i]
        const t = s === null ? NaN : parseTimestamp(s)
        if (Number.isNaN(t)) {
          if (s !== null) problems.push({ type: 'datetime_from_date_parsing', loc: [where, c, ...(frame.rows > 1 ? [i] : [])], msg: 'Input should be a valid datetime, e.g. "2013-07-06 17:18:00 UTC" or ISO 8601', input: s })
          cols.forEach((col) => (col[i] = NaN))
          continue
        }
        const d = new Date(t)
        outs.forEach((o, j) => (cols[j]![i] = o.get(d)))
      }
      if (problems.length) throw new RequestInvalid(problems)
      outs.forEach((o, j) => frame.columns.set(o.name, cols[j]!))
    }
  },
})

registerFrameOp('haversine', {
  usage: '{op: haversine, from: [lat1, lon1, lat2, lon2], to: new_name, unit?: km|miles}',
  compile(p, columns) {
    const from = needColumns(p.from, columns, true)
    if (from.length !== 4) throw new Error("'from' must list four columns: lat1, lon1, lat2, lon2")
    if (typeof p.to !== 'string') throw new Error("'to' must be a column name")
    const to = p.to
    const radius = p.unit === 'miles' ? 3958.8 : 6371.0088
    columns.set(to, true)
    return (frame) => {
      const [la1, lo1, la2, lo2] = from.map((c) => numCol(frame, c))
      const out = new Float64Array(frame.rows)
      const rad = Math.PI / 180
      for (let i = 0; i < frame.rows; i++) {
        const dLat = (la2![i]! - la1![i]!) * rad
        const dLon = (lo2![i]! - lo1![i]!) * rad
        const a = Math.sin(dLat / 2) ** 2 + Math.cos(la1![i]! * rad) * Math.cos(la2![i]! * rad) * Math.sin(dLon / 2) ** 2
        out[i] = 2 * radius * Math.asin(Math.min(1, Math.sqrt(a)))
      }
      frame.columns.set(to, out)
    }
  },
})

registerFrameOp('stack', {
  usage: '{op: stack, columns: [numeric column, ...]} — the column order for a model with one [N, F] input',
  compile: () => () => {},
})

export type { Column }
