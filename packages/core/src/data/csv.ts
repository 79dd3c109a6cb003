/**
 * CSV → Table. CSV carries no schema, so each COLUMN is typed from its text as a whole: a "1" in a
 * column of names stays "1", and "22.0" makes a float column even if every value is whole.
 */
import { createReadStream } from 'node:fs'
import { parse } from 'csv-parse'
import { MlxError } from '../errors.js'
import { tableFromColumns, type Cell, type ColumnType, type ReadOptions, type Table } from './table.js'

const INTEGER = /^[+-]?\d+$/
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ['True', true], ['true', true], ['TRUE', true],
  ['False', false], ['false', false], ['FALSE', false],
])

/** Reads a CSV whose first row is the header; empty fields are null; columns are typed as a whole (see typeCsvColumn). */
export async function readCsv(path: string, opts: ReadOptions = {}): Promise<Table> {
  const rows = await readRecords(path, opts.limit)
  const header = dedupeHeader(rows.shift() ?? [])
  const record: Record<string, Cell[]> = {}
  const types: Record<string, ColumnType> = {}
  header.forEach((name, i) => {
    const typed = typeCsvColumn(rows.map((row) => row[i] ?? ''))
    record[name] = typed.values
    if (typed.type) types[name] = typed.type
  })
  return tableFromColumns(record, types)
}

/**
 * Types one column from its raw texts: all integers → 'integer', all numeric → 'number', all
 * True/False spellings → 'boolean', else 'string' (text kept verbatim). '' is null; an all-null
 * column gets no type. Integers beyond 2^53 keep the column as strings so ids are not corrupted.
 */
export function typeCsvColumn(texts: readonly string[]): { type?: ColumnType; values: Cell[] } {
  const present = texts.filter((t) => t !== '').map((t) => t.trim())
  const nulls = (convert: (text: string) => Cell): Cell[] => texts.map((t) => (t === '' ? null : convert(t.trim())))
  const strings = { type: 'string' as const, values: texts.map((t) => (t === '' ? null : t)) }
  if (present.length === 0) return { values: texts.map(() => null) }
  if (present.every((t) => INTEGER.test(t))) {
    return present.every((t) => Number.isSafeInteger(Number(t))) ? { type: 'integer', values: nulls(Number) } : strings
  }
  if (present.every((t) => NUMBER.test(t) && Number.isFinite(Number(t)))) {
    return { type: 'number', values: nulls(Number) }
  }
  if (present.every((t) => BOOLEANS.has(t))) {
    return { type: 'boolean', values: nulls((t) => BOOLEANS.get(t)!) }
  }
  return strings
}

async function readRecords(path: string, limit: number | undefined): Promise<string[][]> {
  const max = limit === undefined ? Infinity : Math.max(0, Math.floor(limit)) + 1 // + header
  const input = createReadStream(path)
  const parser = input.pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count_less: true }))
  input.on('error', (err) => parser.destroy(err)) // pipe() does not forward read errors
  const rows: string[][] = []
  try {
    for await (const row of parser as AsyncIterable<string[]>) {
      if (rows.length >= max) break
      rows.push(row)
    }
  } catch (err) {
    const fsCode = (err as NodeJS.ErrnoException).code
    if (fsCode === 'ENOENT') {
      throw new MlxError('DATA_INVALID', `${path} does not exist.`, { file: path, cause: err })
    }
    throw new MlxError('DATA_INVALID', `${path} is not a valid CSV file: ${(err as Error).message}`, {
      file: path,
      hint: 'the first row must be the header and no row may have more fields than the header.',
      cause: err,
    })
  } finally {
    input.destroy()
  }
  return rows
}

/** Repeated header names get pandas-style suffixes ("a", "a.1", ...) so no column is lost; "" is kept as is. */
function dedupeHeader(header: readonly string[]): string[] {
  const seen = new Set<string>()
  return header.map((name) => {
    let unique = name
    for (let n = 1; seen.has(unique); n++) unique = `${name}.${n}`
    seen.add(unique)
    return unique
  })
}
