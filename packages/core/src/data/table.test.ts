import { describe, expect, it } from 'vitest'
import { tableFromColumns, toCell } from './table.js'

describe('toCell', () => {
  it('keeps JSON scalars and maps missing values to null', () => {
    expect([1, 'a', true, null, undefined, NaN].map(toCell)).toEqual([1, 'a', true, null, null, null])
  })
  it('turns safe bigints into numbers and unsafe ones into exact decimal strings', () => {
    expect(toCell(42n)).toBe(42)
    expect(toCell(-(2n ** 53n) + 1n)).toBe(-(2 ** 53) + 1)
    expect(toCell(2n ** 53n + 1n)).toBe('9007199254740993')
  })
  it('writes dates as ISO strings, bytes as base64, nested values as JSON', () => {
    expect(toCell(new Date(Date.UTC(2024, 0, 2)))).toBe('2024-01-02T00:00:00.000Z')
    expect(toCell(new Date(NaN))).toBeNull()
    expect(toCell(new Uint8Array([104, 105]))).toBe('aGk=')
    expect(toCell({ a: [1, 2n] })).toBe('{"a":[1,2]}')
  })
})

describe('tableFromColumns', () => {
  it('is column-oriented, keeps insertion order, and normalises cells', () => {
    const t = tableFromColumns({ b: [1n, 2n], a: ['x', undefined] }, { b: 'integer' })
    expect(t.columns).toEqual(['b', 'a'])
    expect(t.rowCount).toBe(2)
    expect(t.column('b')).toEqual([1, 2])
    expect(t.column('a')).toEqual(['x', null])
    expect(t.types).toEqual({ b: 'integer' })
  })
  it('has no types when none are declared, and 0 rows when empty', () => {
    const t = tableFromColumns({})
    expect(t.types).toBeUndefined()
    expect(t.rowCount).toBe(0)
  })
  it('rejects ragged columns and names a missing column with the existing ones', () => {
    expect(() => tableFromColumns({ a: [1], b: [1, 2] })).toThrow(/"b" has 2 values but "a" has 1/)
    expect(() => tableFromColumns({ a: [1], '': [2] }).column('zz')).toThrow('no column "zz" in table; columns: "a", "".')
  })
})
