/**
 * Tabular data readers (CSV, Parquet, Arrow IPC) behind one Table shape, plus feature inference.
 */
import path from 'node:path'
import { MlxError } from '../errors.js'
import { readArrowFile } from './arrow.js'
import { readCsv } from './csv.js'
import { readParquet } from './parquet.js'
import type { ReadOptions, Table } from './table.js'

export { tableFromColumns, toCell, type Cell, type ColumnType, type ReadOptions, type Table } from './table.js'
export { readCsv, typeCsvColumn } from './csv.js'
export { readParquet, parquetColumnType } from './parquet.js'
export { readArrowIpc, readArrowFile, arrowColumnType } from './arrow.js'
export { inferFeatures, exampleRows, type Feature, type FeatureType, type InferOptions } from './infer.js'

const READERS: Readonly<Record<string, (file: string, opts: ReadOptions) => Promise<Table>>> = {
  '.csv': readCsv,
  '.parquet': readParquet,
  '.pqt': readParquet,
  '.parq': readParquet,
  '.arrow': readArrowFile,
  '.feather': readArrowFile,
  '.ipc': readArrowFile,
}

/** File extensions readTable understands (lower case, with the dot). */
export const TABLE_EXTENSIONS: readonly string[] = Object.keys(READERS)

/** Reads a data file, choosing the reader by extension (case-insensitive); an unknown extension is an error naming the file. */
export async function readTable(file: string, opts: ReadOptions = {}): Promise<Table> {
  const ext = path.extname(file).toLowerCase()
  const reader = READERS[ext]
  if (!reader) {
    throw new MlxError(
      'DATA_INVALID',
      `cannot read ${file}: ${ext ? `unsupported extension "${ext}"` : 'no file extension'}; supported: ${TABLE_EXTENSIONS.join(', ')}.`,
      { file, hint: 'convert the data to CSV, Parquet or Arrow IPC, or rename it with the matching extension.' },
    )
  }
  return reader(file, opts)
}
