import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DateDay, Decimal, Dictionary, Int32, TimestampMicrosecond, Utf8,
  Table as ArrowTable, makeData, makeVector, tableFromArrays, tableToIPC, vectorFromArray,
} from 'apache-arrow'
import { describe, expect, it } from 'vitest'
import { readArrowFile, readArrowIpc } from './arrow.js'
import { inferFeatures } from './infer.js'

function sample() {
  return tableFromArrays({
    id: Int32Array.from([1, 2, 3]),
    big: BigInt64Array.from([1n, 2n, 2n ** 53n + 1n]),
    whole: Float64Array.from([1, 2, 3]),
    score: [0.5, null, 2.25],
    name: ['a', null, 'a'],
    flag: [true, false, null],
  })
}

describe('readArrowIpc', () => {
  it.each(['stream', 'file'] as const)('round-trips values and declared types through the %s format', (format) => {
    const t = readArrowIpc(tableToIPC(sample(), format))
    expect(t.columns).toEqual(['id', 'big', 'whole', 'score', 'name', 'flag'])
    expect(t.rowCount).toBe(3)
    expect(t.column('id')).toEqual([1, 2, 3])
    expect(t.column('big')).toEqual([1, 2, '9007199254740993'])
    expect(t.column('whole')).toEqual([1, 2, 3])
    expect(t.column('score')).toEqual([0.5, null, 2.25])
    expect(t.column('name')).toEqual(['a', null, 'a']) // dictionary-encoded in arrow, plain strings here
    expect(t.column('flag')).toEqual([true, false, null])
    expect(t.types).toEqual({
      id: 'integer', big: 'integer', whole: 'number', score: 'number', name: 'string', flag: 'boolean',
    })
    const whole = inferFeatures(t).find((f) => f.name === 'whole')
    expect(whole).toMatchObject({ type: 'number', min: 1, max: 3 })
  })

  it('turns dates and timestamps into ISO strings, decimals into numbers', () => {
    const table = new ArrowTable({
      day: vectorFromArray([new Date(Date.UTC(2024, 1, 3)), null], new DateDay()),
      at: vectorFromArray([new Date(1500), new Date(0)], new TimestampMicrosecond()),
      code: vectorFromArray(['x', 'y'], new Dictionary(new Utf8(), new Int32())),
    })
    const t = readArrowIpc(tableToIPC(table, 'stream'))
    expect(t.column('day')).toEqual(['2024-02-03T00:00:00.000Z', null])
    expect(t.column('at')).toEqual(['1970-01-01T00:00:01.500Z', '1970-01-01T00:00:00.000Z'])
    expect(t.column('code')).toEqual(['x', 'y'])
    expect(t.types).toEqual({ day: 'datetime', at: 'datetime', code: 'string' })

    // decimal128(10, 2): 123.45 and -0.5 stored as little-endian 128-bit unscaled integers
    const unscaled = new Uint32Array(BigUint64Array.from([12345n, 0n, BigInt.asUintN(64, -50n), 2n ** 64n - 1n]).buffer)
    const price = makeData({ type: new Decimal(2, 10, 128), length: 2, data: unscaled })
    const dec = readArrowIpc(tableToIPC(new ArrowTable({ price: makeVector(price) }), 'stream'))
    expect(dec.column('price')).toEqual([123.45, -0.5])
    expect(dec.types).toEqual({ price: 'number' })
  })

  it('honours limit', () => {
    const t = readArrowIpc(tableToIPC(sample(), 'stream'), { limit: 2 })
    expect(t.rowCount).toBe(2)
    expect(t.column('id')).toEqual([1, 2])
  })

  it('rejects bytes that are not Arrow IPC', () => {
    expect(() => readArrowIpc(new TextEncoder().encode('a,b\n1,2\n'))).toThrow(/not valid Arrow IPC data/)
  })
})

describe('readArrowFile', () => {
  it('reads an .arrow file written in the file format and names a missing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlx-arrow-'))
    try {
      const file = join(dir, 'sample.arrow')
      await writeFile(file, tableToIPC(sample(), 'file'))
      const t = await readArrowFile(file)
      expect(t.column('name')).toEqual(['a', null, 'a'])
      await expect(readArrowFile(join(dir, 'nope.arrow'))).rejects.toThrow(/cannot read .*nope\.arrow/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
