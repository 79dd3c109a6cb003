import { Ajv2020 as Ajv } from 'ajv/dist/2020.js'
import { describe, expect, it } from 'vitest'
import { compileAnswerFilter } from './answer-filter.js'

/** Validates as the endpoint does, then filters: the filter only ever sees valid answers. */
function filterFor(schema: unknown): (v: unknown) => unknown {
  const ajv = new Ajv({ allErrors: true, strict: false })
  ajv.addSchema(schema as object, 'answer')
  const validate = ajv.getSchema('answer')!
  const filter = compileAnswerFilter(schema, ajv, 'answer')
  return (v) => {
    if (!validate(v)) throw new Error(`invalid: ${JSON.stringify(validate.errors)}`)
    return filter ? filter(v) : v
  }
}

describe('answer filter (response_model semantics)', () => {
  it('drops undeclared properties of a declared object, recursively through properties and items, without touching the input', () => {
    const f = filterFor({
      type: 'object',
      properties: { count: { type: 'integer' }, faces: { type: 'array', items: { type: 'object', properties: { score: { type: 'number' } } } } },
    })
    const answer = { count: 1, debug: '/tmp/x', faces: [{ score: 0.9, landmarks: [1, 2] }] }
    expect(f(answer)).toEqual({ count: 1, faces: [{ score: 0.9 }] })
    expect(answer.debug).toBe('/tmp/x')
    expect(answer.faces[0]!.landmarks).toEqual([1, 2])
  })

  it('keeps open objects open: free-form objects, maps, patternProperties, explicit additionalProperties, allOf', () => {
    expect(filterFor({ type: 'object' })({ a: 1 })).toEqual({ a: 1 })
    expect(filterFor({ type: 'object', additionalProperties: { type: 'number' } })({ a: 1, b: 2 })).toEqual({ a: 1, b: 2 })
    expect(filterFor({ type: 'object', properties: { a: {} }, additionalProperties: true })({ a: 1, b: 2 })).toEqual({ a: 1, b: 2 })
    expect(filterFor({ type: 'object', properties: { a: {} }, patternProperties: { '^x': {} } })({ a: 1, xb: 2 })).toEqual({ a: 1, xb: 2 })
    expect(filterFor({ properties: { a: {} }, allOf: [{ properties: { b: {} } }] })({ a: 1, b: 2 })).toEqual({ a: 1, b: 2 })
  })

  it('anyOf/oneOf: the branch the answer matches decides (one object for a row, a list for several)', () => {
    const row = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } }
    const f = filterFor({ anyOf: [row, { type: 'array', items: row }] })
    expect(f({ name: 'a', logits: [1] })).toEqual({ name: 'a' })
    expect(f([{ name: 'a', logits: [1] }, { name: 'b' }])).toEqual([{ name: 'a' }, { name: 'b' }])
    const g = filterFor({ oneOf: [{ type: 'object', required: ['x'], properties: { x: {} } }, { type: 'object', required: ['y'], properties: { y: {}, z: {} } }] })
    expect(g({ y: 1, z: 2, w: 3 })).toEqual({ y: 1, z: 2 })
  })

  it('follows local $refs, recursive ones too, and prefixItems tuples', () => {
    const tree = filterFor({
      $defs: { node: { type: 'object', properties: { label: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } } } },
      $ref: '#/$defs/node',
    })
    expect(tree({ label: 'r', id: 1, children: [{ label: 'c', id: 2, children: [] }] })).toEqual({ label: 'r', children: [{ label: 'c', children: [] }] })
    const tuple = filterFor({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'object', properties: { p: {} } }], items: { type: 'object', properties: { q: {} } } })
    expect(tuple(['a', { p: 1, x: 2 }, { q: 1, y: 2 }])).toEqual(['a', { p: 1 }, { q: 1 }])
  })

  it('is not built at all when no schema in reach lists properties (the titanic answer: an array of numbers)', () => {
    const ajv = new Ajv({ strict: false })
    const schema = { type: 'array', items: { type: 'number' } }
    ajv.addSchema(schema, 'answer')
    expect(compileAnswerFilter(schema, ajv, 'answer')).toBeUndefined()
  })
})
