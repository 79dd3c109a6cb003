/**
 * Table → feature list: the input contract a served model advertises (types, nullability,
 * categories, ranges, examples), derived from a sample of its training data.
 */
import { MlxError } from '../errors.js'
import { listColumns, type Cell, type ColumnType, type Table } from './table.js'

export type FeatureType = 'integer' | 'number' | 'string' | 'boolean'

export interface Feature {
  name: string
  type: FeatureType
  /** True if any null was seen. */
  nullable: boolean
  /** For strings (not datetimes) with 1..maxCategories distinct values: most frequent first, ties by name. */
  categories?: string[]
  /** For integer/number features with at least one value. */
  min?: number
  max?: number
  /** The first exampleRows non-null values. */
  examples: unknown[]
}

export interface InferOptions {
  /** Target column(s): must exist, and are left out of the features. */
  label?: string | string[]
  /** Columns to leave out (e.g. an unnamed index column ""); names that are not columns are ignored. */
  exclude?: string[]
  /** Largest distinct-value count for which a string feature lists its categories (default 20). */
  maxCategories?: number
  /** How many non-null examples each feature carries (default 3). */
  exampleRows?: number
}

/** Describes every column except labels/excluded ones, in table order; declared types win over values. */
export function inferFeatures(table: Table, opts: InferOptions = {}): Feature[] {
  const labels = opts.label === undefined ? [] : Array.isArray(opts.label) ? opts.label : [opts.label]
  for (const label of labels) {
    if (!table.columns.includes(label)) {
      throw new MlxError('DATA_INVALID', `label "${label}" is not a column of the data; columns: ${listColumns(table.columns)}.`, {
        hint: 'set the label to one of the listed columns.',
      })
    }
  }
  const skip = new Set([...labels, ...(opts.exclude ?? [])])
  const maxCategories = opts.maxCategories ?? 20
  const exampleCount = opts.exampleRows ?? 3
  return table.columns
    .filter((name) => !skip.has(name))
    .map((name) => describeColumn(name, table.column(name), table.types?.[name], maxCategories, exampleCount))
}

function describeColumn(
  name: string,
  values: readonly Cell[],
  declared: ColumnType | undefined,
  maxCategories: number,
  exampleCount: number,
): Feature {
  const present = values.filter((v): v is Exclude<Cell, null> => v !== null)
  const type = declared ? featureType(declared) : typeFromValues(present)
  const extra: Pick<Feature, 'categories' | 'min' | 'max'> = {}
  if (type === 'string' && declared !== 'datetime') {
    const categories = rankCategories(present.map(String), maxCategories)
    if (categories) extra.categories = categories
  } else if (type === 'integer' || type === 'number') {
    const numbers = present.filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
    if (numbers.length > 0) {
      extra.min = numbers.reduce((a, b) => (b < a ? b : a))
      extra.max = numbers.reduce((a, b) => (b > a ? b : a))
    }
  }
  return { name, type, nullable: present.length < values.length, ...extra, examples: present.slice(0, exampleCount) }
}

/** Datetimes travel as ISO strings, so they are string features. */
function featureType(declared: ColumnType): FeatureType {
  return declared === 'datetime' ? 'string' : declared
}

/** Without a declared type: all booleans → boolean, all whole numbers → integer, any fraction → number, else string. */
function typeFromValues(present: readonly Exclude<Cell, null>[]): FeatureType {
  if (present.length === 0) return 'string'
  if (present.every((v) => typeof v === 'boolean')) return 'boolean'
  if (present.every((v) => typeof v === 'number')) {
    return present.every((v) => Number.isInteger(v)) ? 'integer' : 'number'
  }
  return 'string'
}

/** Distinct values by frequency desc then name, or undefined when there are none or more than max. */
function rankCategories(values: readonly string[], max: number): string[] | undefined {
  const counts = new Map<string, number>()
  for (const v of values) {
    counts.set(v, (counts.get(v) ?? 0) + 1)
    if (counts.size > max) return undefined
  }
  if (counts.size === 0) return undefined
  return [...counts.entries()]
    .sort(([a, na], [b, nb]) => nb - na || (a < b ? -1 : a > b ? 1 : 0))
    .map(([v]) => v)
}

/** First n rows of the feature columns, both column-wise and as row objects, for docs and request examples. */
export function exampleRows(
  table: Table,
  features: readonly Pick<Feature, 'name'>[],
  n: number,
): { columns: Record<string, unknown[]>; rows: Record<string, unknown>[] } {
  const count = Math.max(0, Math.min(Math.floor(n), table.rowCount))
  const columns: Record<string, unknown[]> = {}
  for (const f of features) columns[f.name] = table.column(f.name).slice(0, count)
  const rows: Record<string, unknown>[] = []
  for (let i = 0; i < count; i++) {
    const row: Record<string, unknown> = {}
    for (const f of features) row[f.name] = columns[f.name]![i]
    rows.push(row)
  }
  return { columns, rows }
}
