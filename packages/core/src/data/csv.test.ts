import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readCsv, typeCsvColumn } from './csv.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mlx-csv-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function csvFile(name: string, text: string): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, text)
  return file
}

describe('typeCsvColumn', () => {
  it('types the column as a whole', () => {
    expect(typeCsvColumn(['1', '', '-3'])).toEqual({ type: 'integer', values: [1, null, -3] })
    expect(typeCsvColumn(['1', '2.5', '1e3'])).toEqual({ type: 'number', values: [1, 2.5, 1000] })
    expect(typeCsvColumn(['22.0', '38.0'])).toEqual({ type: 'number', values: [22, 38] })
    expect(typeCsvColumn(['True', 'false', 'TRUE', ''])).toEqual({ type: 'boolean', values: [true, false, true, null] })
    expect(typeCsvColumn(['1', 'abc'])).toEqual({ type: 'string', values: ['1', 'abc'] })
    expect(typeCsvColumn(['', ''])).toEqual({ values: [null, null] })
  })
  it('does not mix spellings across types: 1/0 stay integers, yes/no stay strings', () => {
    expect(typeCsvColumn(['1', '0']).type).toBe('integer')
    expect(typeCsvColumn(['yes', 'no']).type).toBe('string')
    expect(typeCsvColumn(['True', '1']).type).toBe('string')
  })
  it('keeps integers beyond 2^53 as exact strings', () => {
    expect(typeCsvColumn(['1', '9007199254740993'])).toEqual({ type: 'string', values: ['1', '9007199254740993'] })
  })
})

describe('readCsv', () => {
  it('reads ints, floats, bools, strings and nulls per column, with declared types', async () => {
    const file = await csvFile(
      'typed.csv',
      'i,f,b,s,code,empty\n1,1.5,True,a,1\n2,,False,,007x\n,3,true,"c",2,\n',
    )
    const t = await readCsv(file)
    expect(t.columns).toEqual(['i', 'f', 'b', 's', 'code', 'empty'])
    expect(t.rowCount).toBe(3)
    expect(t.column('i')).toEqual([1, 2, null])
    expect(t.column('f')).toEqual([1.5, null, 3])
    expect(t.column('b')).toEqual([true, false, true])
    expect(t.column('s')).toEqual(['a', null, 'c'])
    expect(t.column('code')).toEqual(['1', '007x', '2']) // "1" in a string column stays "1"
    expect(t.column('empty')).toEqual([null, null, null]) // short rows are padded with null
    expect(t.types).toEqual({ i: 'integer', f: 'number', b: 'boolean', s: 'string', code: 'string' })
  })

  it('handles quoted fields with commas, quotes and newlines', async () => {
    const file = await csvFile('quoted.csv', 'name,n\n"Smith, John",1\n"say ""hi""",2\n"two\nlines",3\n')
    const t = await readCsv(file)
    expect(t.column('name')).toEqual(['Smith, John', 'say "hi"', 'two\nlines'])
    expect(t.column('n')).toEqual([1, 2, 3])
  })

  it('strips a UTF-8 BOM so the first header is clean (CRLF line ends too)', async () => {
    const file = await csvFile('bom.csv', '\uFEFFid,x\r\n1,2\r\n')
    const t = await readCsv(file)
    expect(t.columns).toEqual(['id', 'x'])
    expect(t.column('id')).toEqual([1])
  })

  it('keeps a leading unnamed index column as "" and de-duplicates repeated headers', async () => {
    const file = await csvFile('index.csv', ',a,a\n0,x,1\n1,y,2\n')
    const t = await readCsv(file)
    expect(t.columns).toEqual(['', 'a', 'a.1'])
    expect(t.column('')).toEqual([0, 1])
    expect(t.column('a.1')).toEqual([1, 2])
  })

  it('honours limit, skips blank lines, and reads an empty file as an empty table', async () => {
    const file = await csvFile('many.csv', 'n\n1\n\n2\n3\n4\n')
    expect((await readCsv(file, { limit: 2 })).column('n')).toEqual([1, 2])
    expect((await readCsv(file)).column('n')).toEqual([1, 2, 3, 4])
    expect((await readCsv(file, { limit: 0 })).rowCount).toBe(0)
    const empty = await readCsv(await csvFile('empty.csv', ''))
    expect(empty.columns).toEqual([])
    expect(empty.rowCount).toBe(0)
  })

  it('names the file when a row has more fields than the header or the file is missing', async () => {
    const file = await csvFile('ragged.csv', 'a,b\n1,2\n1,2,3\n')
    await expect(readCsv(file)).rejects.toThrow(`${file} is not a valid CSV file`)
    await expect(readCsv(join(dir, 'nope.csv'))).rejects.toThrow(`${join(dir, 'nope.csv')} does not exist.`)
  })
})
