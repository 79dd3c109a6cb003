import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { readCsv } from './csv.js'
import { exampleRows, inferFeatures, type Feature } from './infer.js'
import { tableFromColumns, type Table } from './table.js'

// The first 30 rows of the titanic data set (seaborn layout).
const TITANIC = fileURLToPath(new URL('./fixtures/titanic-head.csv', import.meta.url))

describe('inferFeatures on titanic', () => {
  let table: Table
  let features: Feature[]
  let byName: Record<string, Feature>
  beforeAll(async () => {
    table = await readCsv(TITANIC)
    features = inferFeatures(table, { label: 'survived' })
    byName = Object.fromEntries(features.map((f) => [f.name, f]))
  })

  it('keeps table order and leaves the label out', () => {
    expect(table.rowCount).toBe(30)
    expect(features.map((f) => f.name)).toEqual(table.columns.filter((c) => c !== 'survived'))
    expect(byName.survived).toBeUndefined()
  })

  it('pclass is a non-null integer with its range', () => {
    expect(byName.pclass).toEqual({ name: 'pclass', type: 'integer', nullable: false, min: 1, max: 3, examples: [3, 1, 3] })
  })

  it('age is a nullable number although every value in the sample is whole ("22.0")', () => {
    expect(byName.age).toEqual({ name: 'age', type: 'number', nullable: true, min: 2, max: 58, examples: [22, 38, 26] })
  })

  it('deck is a nullable string with categories by frequency then name, examples skip nulls', () => {
    expect(byName.deck).toEqual({
      name: 'deck', type: 'string', nullable: true, categories: ['C', 'A', 'D', 'E', 'G'], examples: ['C', 'C', 'E'],
    })
  })

  it('adult_male is a boolean', () => {
    expect(byName.adult_male).toEqual({ name: 'adult_male', type: 'boolean', nullable: false, examples: [true, false, false] })
  })

  it('fare is a number, sex a two-category string', () => {
    expect(byName.fare).toMatchObject({ type: 'number', nullable: false, min: 7.225, max: 263 })
    expect(byName.sex).toMatchObject({ type: 'string', categories: ['female', 'male'] }) // 15 each: tie broken by name
  })

  it('takes several labels, exclude, maxCategories and exampleRows', () => {
    const fs = inferFeatures(table, { label: ['survived', 'alive'], exclude: ['who', 'not-a-column'], maxCategories: 2, exampleRows: 1 })
    const names = fs.map((f) => f.name)
    expect(names).not.toContain('alive')
    expect(names).not.toContain('who')
    const cls = fs.find((f) => f.name === 'class')!
    expect(cls.categories).toBeUndefined() // Third/First/Second: 3 > maxCategories
    expect(cls.examples).toEqual(['Third'])
    expect(fs.find((f) => f.name === 'sex')!.categories).toEqual(['female', 'male'])
  })

  it('a label that is not a column is an error naming it and listing the columns', () => {
    expect(() => inferFeatures(table, { label: 'Survived' })).toThrow(
      /label "Survived" is not a column of the data; columns: "survived", "pclass", "sex", .*"alone"\./,
    )
  })

  it('exampleRows gives the first n rows of feature columns, column-wise and as objects', () => {
    const picked = features.filter((f) => ['pclass', 'age', 'deck'].includes(f.name))
    const ex = exampleRows(table, picked, 2)
    expect(ex.columns).toEqual({ pclass: [3, 1], age: [22, 38], deck: [null, 'C'] })
    expect(ex.rows).toEqual([
      { pclass: 3, age: 22, deck: null },
      { pclass: 1, age: 38, deck: 'C' },
    ])
    expect(exampleRows(table, picked, 1000).rows).toHaveLength(30)
  })
})

describe('inferFeatures without declared types', () => {
  const table = tableFromColumns({
    '': [0, 1, 2, 3],
    ints: [1, 2, null, 4],
    floats: [1, 2.5, 3, 4],
    bools: [true, false, true, null],
    mixed: [1, 'a', true, null],
    ties: ['b', 'a', 'b', 'a'],
    nothing: [null, null, null, null],
  })

  it('infers integer / number / boolean / string from values', () => {
    const fs = inferFeatures(table, { exclude: [''] })
    expect(fs.map((f) => [f.name, f.type, f.nullable])).toEqual([
      ['ints', 'integer', true],
      ['floats', 'number', false],
      ['bools', 'boolean', true],
      ['mixed', 'string', true],
      ['ties', 'string', false],
      ['nothing', 'string', true],
    ])
    const byName = Object.fromEntries(fs.map((f) => [f.name, f]))
    expect(byName.ints).toMatchObject({ min: 1, max: 4, examples: [1, 2, 4] })
    expect(byName.floats).toMatchObject({ min: 1, max: 4 })
    expect(byName.ties!.categories).toEqual(['a', 'b'])
    expect(byName.mixed!.categories).toEqual(['1', 'a', 'true'])
    expect(byName.nothing).toEqual({ name: 'nothing', type: 'string', nullable: true, examples: [] })
  })

  it('keeps the unnamed index column unless the caller excludes it', () => {
    expect(inferFeatures(table)[0]).toMatchObject({ name: '', type: 'integer' })
  })

  it('declared types win over values', () => {
    const t = tableFromColumns({ x: [1, 2], d: ['2024-01-01T00:00:00.000Z', null] }, { x: 'number', d: 'datetime' })
    expect(inferFeatures(t)).toEqual([
      { name: 'x', type: 'number', nullable: false, min: 1, max: 2, examples: [1, 2] },
      { name: 'd', type: 'string', nullable: true, examples: ['2024-01-01T00:00:00.000Z'] },
    ])
  })
})
