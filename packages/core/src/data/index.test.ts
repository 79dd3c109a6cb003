import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tableFromArrays, tableToIPC } from 'apache-arrow'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TABLE_EXTENSIONS, readTable } from './index.js'

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

describe('readTable', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlx-table-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('dispatches .csv, .parquet and arrow extensions (case-insensitive) with limit', async () => {
    const csv = await readTable(fixture('titanic-head.csv'), { limit: 5 })
    expect(csv.rowCount).toBe(5)
    expect(csv.columns[0]).toBe('survived')
    const pq = await readTable(fixture('types.zstd.parquet'))
    expect(pq.types?.whole).toBe('number')
    for (const ext of ['.arrow', '.feather', '.IPC']) {
      const file = join(dir, `t${ext}`)
      await writeFile(file, tableToIPC(tableFromArrays({ a: Int32Array.from([7, 8]) }), 'file'))
      expect((await readTable(file)).column('a')).toEqual([7, 8])
    }
  })

  it('treats .pqt and .parq as parquet', async () => {
    for (const ext of ['.pqt', '.parq']) {
      const file = join(dir, `t${ext}`)
      await copyFile(fixture('types.gzip.parquet'), file)
      expect((await readTable(file)).column('id')).toEqual([1, 2, 3, 4, 5])
    }
  })

  it('an unknown extension names the file and the supported extensions', async () => {
    expect(TABLE_EXTENSIONS).toEqual(['.csv', '.parquet', '.pqt', '.parq', '.arrow', '.feather', '.ipc'])
    await expect(readTable('data/train.xlsx')).rejects.toThrow(
      'cannot read data/train.xlsx: unsupported extension ".xlsx"; supported: .csv, .parquet, .pqt, .parq, .arrow, .feather, .ipc.',
    )
    await expect(readTable('data/train')).rejects.toThrow(/cannot read data\/train: no file extension; supported: \.csv/)
  })
})
