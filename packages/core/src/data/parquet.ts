/**
 * Parquet → Table with hyparquet. The file's schema says int vs float vs string, so it is kept in
 * Table.types: a DOUBLE column of whole numbers is still a 'number' feature.
 */
import { readFile } from 'node:fs/promises'
import { parquetMetadata, parquetRead, parquetSchema, type SchemaElement, type SchemaTree } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { MlxError } from '../errors.js'
import { tableFromColumns, type ColumnType, type ReadOptions, type Table } from './table.js'

/** Reads a parquet file (any codec hyparquet-compressors decodes: SNAPPY, GZIP, ZSTD, BROTLI, LZ4) into a Table with declared types. */
export async function readParquet(path: string, opts: ReadOptions = {}): Promise<Table> {
  const buf = await readFile(path).catch((err: unknown) => {
    throw new MlxError('DATA_INVALID', `cannot read ${path}: ${(err as Error).message}`, { file: path, cause: err })
  })
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer
  try {
    return await parquetBufferToTable(file, opts.limit)
  } catch (err) {
    throw new MlxError('DATA_INVALID', `${path} is not a readable parquet file: ${(err as Error).message}`, {
      file: path,
      cause: err,
    })
  }
}

async function parquetBufferToTable(file: ArrayBuffer, limit: number | undefined): Promise<Table> {
  const metadata = parquetMetadata(file)
  const fields = parquetSchema(metadata).children
  const names = fields.map((f) => f.element.name)
  const total = Number(metadata.num_rows)
  const rowEnd = limit === undefined ? total : Math.min(total, Math.max(0, Math.floor(limit)))
  let rows: unknown[][] = []
  if (rowEnd > 0) {
    await parquetRead({
      file,
      metadata,
      compressors,
      columns: names,
      rowStart: 0,
      rowEnd,
      rowFormat: 'array',
      onComplete: (data) => {
        rows = data
      },
    })
  }
  const record: Record<string, unknown[]> = {}
  const types: Record<string, ColumnType> = {}
  fields.forEach((field, i) => {
    record[field.element.name] = rows.map((row) => row[i])
    const type = parquetColumnType(field)
    if (type) types[field.element.name] = type
  })
  return tableFromColumns(record, types)
}

/** Maps a top-level parquet field to a column type; nested groups, TIME, INTERVAL and raw fixed bytes are left undeclared. */
export function parquetColumnType(field: SchemaTree): ColumnType | undefined {
  if (field.children.length > 0) return undefined
  const el: SchemaElement = field.element
  const logical = el.logical_type?.type
  const converted = el.converted_type
  if (converted === 'DECIMAL' || logical === 'DECIMAL') return (el.scale ?? 0) === 0 ? 'integer' : 'number'
  if (logical === 'DATE' || logical === 'TIMESTAMP' || converted === 'DATE') return 'datetime'
  if (converted === 'TIMESTAMP_MILLIS' || converted === 'TIMESTAMP_MICROS') return 'datetime'
  if (logical === 'TIME' || converted === 'TIME_MILLIS' || converted === 'TIME_MICROS' || converted === 'INTERVAL') {
    return undefined
  }
  if (logical === 'STRING' || logical === 'ENUM' || logical === 'JSON' || logical === 'UUID') return 'string'
  if (converted === 'UTF8' || converted === 'ENUM' || converted === 'JSON') return 'string'
  if (logical === 'FLOAT16') return 'number'
  switch (el.type) {
    case 'BOOLEAN':
      return 'boolean'
    case 'INT32':
    case 'INT64':
      return 'integer'
    case 'INT96':
      return 'datetime'
    case 'FLOAT':
    case 'DOUBLE':
      return 'number'
    case 'BYTE_ARRAY':
      return logical === undefined ? 'string' : undefined
    default:
      return undefined
  }
}
