/**
 * The one in-memory shape every reader returns: named columns of plain JSON-able cells, so
 * inference, docs examples and request validation never care which file format the data came from.
 */

/** A single value: what survives JSON and what a feature schema can describe. */
export type Cell = number | string | boolean | null

/** Options every file reader takes. */
export interface ReadOptions {
  /** Read at most this many data rows (a CSV header does not count). */
  limit?: number
}

/** Column types a source can declare (parquet/arrow schema, or CSV text typing). */
export type ColumnType = 'integer' | 'number' | 'string' | 'boolean' | 'datetime'

export interface Table {
  readonly columns: readonly string[]
  readonly rowCount: number
  /** Values of one column, rowCount long. Throws if the column does not exist. */
  column(name: string): readonly Cell[]
  /** Types known from the source, per column; absent columns must be inferred from values. */
  readonly types?: Readonly<Record<string, ColumnType>>
}

/** Builds a Table from equal-length columns (insertion order = column order); cells are normalised with toCell. */
export function tableFromColumns(
  record: Readonly<Record<string, readonly unknown[]>>,
  types?: Readonly<Record<string, ColumnType>>,
): Table {
  const columns = Object.keys(record)
  const data = new Map<string, readonly Cell[]>()
  let rowCount: number | undefined
  for (const name of columns) {
    const values = record[name]!.map(toCell)
    if (rowCount !== undefined && values.length !== rowCount) {
      throw new Error(
        `column "${name}" has ${values.length} values but "${columns[0]}" has ${rowCount}; all columns of a table must be the same length.`,
      )
    }
    rowCount = values.length
    data.set(name, values)
  }
  const declared = types && Object.keys(types).length > 0 ? { ...types } : undefined
  return {
    columns,
    rowCount: rowCount ?? 0,
    ...(declared ? { types: declared } : {}),
    column(name: string): readonly Cell[] {
      const values = data.get(name)
      if (!values) {
        throw new Error(`no column "${name}" in table; columns: ${listColumns(columns)}.`)
      }
      return values
    },
  }
}

/**
 * Converts any decoded value to a Cell so tables stay JSON-safe: bigint → number when safe else
 * decimal string, Date → ISO string, NaN → null (pandas' missing value), bytes → base64,
 * nested arrays/objects → JSON text.
 */
export function toCell(value: unknown): Cell {
  if (value === null || value === undefined) return null
  switch (typeof value) {
    case 'number':
      return Number.isNaN(value) ? null : value
    case 'string':
    case 'boolean':
      return value
    case 'bigint':
      return bigintToCell(value)
    default:
      break
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? bigintToCell(v) : v))
}

function bigintToCell(value: bigint): number | string {
  const n = Number(value)
  return Number.isSafeInteger(n) ? n : value.toString()
}

/** Column list for error messages; the unnamed index column shows as "". */
export function listColumns(columns: readonly string[]): string {
  return columns.length === 0 ? '(none)' : columns.map((c) => JSON.stringify(c)).join(', ')
}
