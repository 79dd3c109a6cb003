/**
 * Arrow IPC (stream or file format, incl. Feather v2) → Table with apache-arrow. Used for
 * .arrow/.feather/.ipc files and for `application/vnd.apache.arrow.stream` request bodies.
 */
import { readFile } from 'node:fs/promises'
import { DataType, tableFromIPC, util, type Field, type Vector } from 'apache-arrow'
import { MlxError } from '../errors.js'
import { tableFromColumns, toCell, type Cell, type ColumnType, type ReadOptions, type Table } from './table.js'

/** Decodes Arrow IPC bytes (stream or file format; detected from the bytes) into a Table with declared types. */
export function readArrowIpc(bytes: Uint8Array, opts: ReadOptions = {}): Table {
  let arrow
  try {
    arrow = tableFromIPC(bytes)
  } catch (err) {
    throw new MlxError('DATA_INVALID', `not valid Arrow IPC data: ${(err as Error).message}`, {
      hint: 'send the Arrow IPC stream or file format (e.g. pyarrow.ipc.new_stream / new_file).',
      cause: err,
    })
  }
  if (opts.limit !== undefined) arrow = arrow.slice(0, Math.max(0, Math.floor(opts.limit)))
  const record: Record<string, Cell[]> = {}
  const types: Record<string, ColumnType> = {}
  for (const field of arrow.schema.fields) {
    const vector = arrow.getChild(field.name)
    const type = arrowColumnType(field.type)
    record[field.name] = vector ? vectorCells(vector, field) : new Array<Cell>(arrow.numRows).fill(null)
    if (type) types[field.name] = type
  }
  return tableFromColumns(record, types)
}

/** Reads an Arrow IPC / Feather v2 file into a Table (Feather v1 is not Arrow IPC and is rejected). */
export async function readArrowFile(path: string, opts: ReadOptions = {}): Promise<Table> {
  const bytes = await readFile(path).catch((err: unknown) => {
    throw new MlxError('DATA_INVALID', `cannot read ${path}: ${(err as Error).message}`, { file: path, cause: err })
  })
  try {
    return readArrowIpc(bytes, opts)
  } catch (err) {
    throw new MlxError('DATA_INVALID', `${path}: ${(err as Error).message}`, { file: path, cause: err })
  }
}

/** Maps an Arrow data type to a column type; nested, binary, time-of-day, interval and duration types stay undeclared. */
export function arrowColumnType(type: DataType): ColumnType | undefined {
  if (DataType.isDictionary(type)) return arrowColumnType(type.dictionary)
  if (DataType.isInt(type)) return 'integer'
  if (DataType.isFloat(type)) return 'number'
  if (DataType.isDecimal(type)) return type.scale === 0 ? 'integer' : 'number'
  if (DataType.isBool(type)) return 'boolean'
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type) || DataType.isUtf8View(type)) return 'string'
  if (DataType.isDate(type) || DataType.isTimestamp(type)) return 'datetime'
  return undefined
}

function vectorCells(vector: Vector, field: Field): Cell[] {
  const type = DataType.isDictionary(field.type) ? field.type.dictionary : field.type
  const convert = cellConverter(type)
  const out = new Array<Cell>(vector.length)
  let i = 0
  for (const value of vector) out[i++] = value === null || value === undefined ? null : convert(value)
  return out
}

function cellConverter(type: DataType): (value: unknown) => Cell {
  // apache-arrow returns dates and timestamps as epoch milliseconds (number), whatever the unit
  if (DataType.isDate(type) || DataType.isTimestamp(type)) {
    return (v) => toCell(typeof v === 'number' || typeof v === 'bigint' ? new Date(Number(v)) : v)
  }
  if (DataType.isDecimal(type)) {
    const scale = type.scale
    return (v) => toCell(util.bigNumToNumber(v as Parameters<typeof util.bigNumToNumber>[0], scale))
  }
  return toCell
}
