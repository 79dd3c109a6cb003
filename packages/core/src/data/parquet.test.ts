import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parquetMetadata } from 'hyparquet'
import { describe, expect, it } from 'vitest'
import { inferFeatures } from './infer.js'
import { readParquet } from './parquet.js'

// Fixtures come from fixtures/make-parquet-fixtures.mjs (hyparquet-writer + real zstd/gzip compressors).
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

const CODECS = [
  { codec: 'ZSTD', file: 'types.zstd.parquet', magic: [0x28, 0xb5, 0x2f, 0xfd] },
  { codec: 'GZIP', file: 'types.gzip.parquet', magic: [0x1f, 0x8b, 0x08] },
] as const

describe.each(CODECS)('readParquet with $codec pages', ({ codec, file, magic }) => {
  it(`the fixture really is ${codec}-compressed`, async () => {
    const bytes = new Uint8Array(await readFile(fixture(file)))
    const codecs = parquetMetadata(bytes.buffer).row_groups.flatMap((rg) => rg.columns.map((c) => c.meta_data?.codec))
    expect(new Set(codecs)).toEqual(new Set([codec]))
    expect(Buffer.from(bytes).includes(Buffer.from(magic))).toBe(true)
  })

  it('decodes int, float, string, boolean, timestamp and null values', async () => {
    const t = await readParquet(fixture(file))
    expect(t.columns).toEqual(['id', 'big', 'score', 'whole', 'name', 'flag', 'ts', 'missing'])
    expect(t.rowCount).toBe(5)
    expect(t.column('id')).toEqual([1, 2, 3, 4, 5])
    expect(t.column('big')).toEqual([10, null, '9007199254740993', -4, 0]) // INT64: bigint → number if safe
    expect(t.column('score')).toEqual([1.5, 2, null, 3.25, 4])
    expect(t.column('whole')).toEqual([1, 2, 3, 4, 5])
    expect(t.column('name')).toEqual(['a', 'b', null, 'a', 'c'])
    expect(t.column('flag')).toEqual([true, false, null, true, false])
    expect(t.column('ts')).toEqual(['2024-01-02T03:04:05.000Z', null, null, null, '1970-01-01T00:00:00.000Z'])
    expect(t.column('missing')).toEqual([null, null, null, null, null])
  })

  it('keeps the declared types so a DOUBLE of whole numbers is a number feature', async () => {
    const t = await readParquet(fixture(file))
    expect(t.types).toEqual({
      id: 'integer', big: 'integer', score: 'number', whole: 'number',
      name: 'string', flag: 'boolean', ts: 'datetime', missing: 'number',
    })
    const byName = Object.fromEntries(inferFeatures(t).map((f) => [f.name, f]))
    expect(byName.id).toMatchObject({ type: 'integer', nullable: false, min: 1, max: 5 })
    expect(byName.whole).toMatchObject({ type: 'number', nullable: false, min: 1, max: 5 })
    expect(byName.score).toMatchObject({ type: 'number', nullable: true, min: 1.5, max: 4 })
    expect(byName.name).toMatchObject({ type: 'string', nullable: true, categories: ['a', 'b', 'c'] })
    expect(byName.flag).toMatchObject({ type: 'boolean', nullable: true, examples: [true, false, true] })
    expect(byName.ts).toEqual({ name: 'ts', type: 'string', nullable: true, examples: ['2024-01-02T03:04:05.000Z', '1970-01-01T00:00:00.000Z'] })
    expect(byName.missing).toEqual({ name: 'missing', type: 'number', nullable: true, examples: [] })
  })

  it('honours limit', async () => {
    const t = await readParquet(fixture(file), { limit: 2 })
    expect(t.rowCount).toBe(2)
    expect(t.column('name')).toEqual(['a', 'b'])
    expect((await readParquet(fixture(file), { limit: 0 })).rowCount).toBe(0)
  })
})

describe('readParquet errors', () => {
  it('names the file when it is not parquet or does not exist', async () => {
    const csv = fixture('titanic-head.csv')
    await expect(readParquet(csv)).rejects.toThrow(`${csv} is not a readable parquet file`)
    await expect(readParquet(fixture('nope.parquet'))).rejects.toThrow(/cannot read .*nope\.parquet/)
  })
})
