import type { Ajv2020 as Ajv, ValidateFunction } from 'ajv/dist/2020.js'

/** Returns the answer without what its schema does not declare; the input is never mutated. */
export type AnswerFilter = (value: unknown) => unknown

type Schema = Record<string, unknown>

/**
 * Drops the object properties an answer carries beyond its output.schema, as FastAPI does with a
 * response_model: a handler that returns an internal field (a raw score array, a debug path) does
 * not leak it into the public contract. The rule is deliberately narrow so that it never changes
 * an answer the schema author meant to be open:
 * - only an object schema that lists `properties` and says nothing of `additionalProperties`,
 *   `patternProperties`, `unevaluatedProperties` or `allOf` is closed; a free-form object
 *   (`{type: object}`, or `additionalProperties: {...}` as a map) passes through whole;
 * - `items`, `prefixItems` (2020-12 tuples), `properties`, `$ref` (within the document) are
 *   followed; for `anyOf`/`oneOf` the first branch the value matches decides, as a
 *   validator would pick it.
 * Runs after the answer passed validation, so the branch lookup always finds a match.
 * Returns undefined when nothing in the schema can close an object: the hot path pays nothing.
 */
export function compileAnswerFilter(root: unknown, ajv: Ajv, rootKey: string): AnswerFilter | undefined {
  if (!closesSomething(root, root, new Set())) return undefined
  const compiled = new Map<unknown, AnswerFilter>()
  const branchCheck = (pointer: string): ValidateFunction => {
    const v = ajv.getSchema(`${rootKey}#${pointer}`)
    if (!v) throw new Error(`output.schema: cannot resolve ${pointer}`)
    return v
  }

  const build = (schema: unknown, pointer: string): AnswerFilter => {
    if (!isSchema(schema)) return identity
    const known = compiled.get(schema)
    if (known) return known
    // Placeholder first: a recursive $ref reaches this node again while it is being built.
    let self: AnswerFilter = identity
    const lazy: AnswerFilter = (v) => self(v)
    compiled.set(schema, lazy)
    self = buildNode(schema, pointer)
    return self
  }

  const buildNode = (s: Schema, pointer: string): AnswerFilter => {
    const steps: AnswerFilter[] = []
    if (typeof s.$ref === 'string' && s.$ref.startsWith('#')) {
      const target = resolvePointer(root, s.$ref.slice(1))
      steps.push(build(target, s.$ref.slice(1)))
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const branches = s[key]
      if (!Array.isArray(branches)) continue
      const options = branches.map((b, i) => ({ check: branchCheck(`${pointer}/${key}/${i}`), filter: build(b, `${pointer}/${key}/${i}`) }))
      steps.push((v) => {
        const hit = options.find((o) => o.check(v))
        return hit ? hit.filter(v) : v
      })
    }
    const props = isSchema(s.properties) ? s.properties : undefined
    if (props) {
      const close = s.additionalProperties === undefined && s.patternProperties === undefined && s.unevaluatedProperties === undefined && s.allOf === undefined
      const children = new Map(Object.entries(props).map(([k, sub]) => [k, build(sub, `${pointer}/properties/${escape(k)}`)]))
      steps.push((v) => {
        if (!isPlainObject(v)) return v
        const out: Record<string, unknown> = {}
        for (const [k, val] of Object.entries(v)) {
          const child = children.get(k)
          if (child) out[k] = child(val)
          else if (!close) out[k] = val
        }
        return out
      })
    }
    if (Array.isArray(s.prefixItems)) {
      // 2020-12 tuple: prefixItems[i], then items for the rest.
      const heads = s.prefixItems.map((sub, i) => build(sub, `${pointer}/prefixItems/${i}`))
      const rest = isSchema(s.items) ? build(s.items, `${pointer}/items`) : identity
      steps.push((v) => (Array.isArray(v) ? v.map((x, i) => (heads[i] ?? rest)(x)) : v))
    } else if (isSchema(s.items)) {
      const each = build(s.items, `${pointer}/items`)
      steps.push((v) => (Array.isArray(v) ? v.map(each) : v))
    }
    if (steps.length === 0) return identity
    if (steps.length === 1) return steps[0]!
    return (v) => steps.reduce((acc, f) => f(acc), v)
  }

  return build(root, '')
}

/** Whether any object schema reachable from here lists properties (else filtering is a no-op). */
function closesSomething(schema: unknown, root: unknown, seen: Set<unknown>): boolean {
  if (!isSchema(schema) || seen.has(schema)) return false
  seen.add(schema)
  if (isSchema(schema.properties)) return true
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#')) {
    if (closesSomething(resolvePointer(root, schema.$ref.slice(1)), root, seen)) return true
  }
  const subs: unknown[] = [schema.items, ...(Array.isArray(schema.prefixItems) ? schema.prefixItems : []), ...(Array.isArray(schema.anyOf) ? schema.anyOf : []), ...(Array.isArray(schema.oneOf) ? schema.oneOf : [])]
  return subs.some((s) => closesSomething(s, root, seen))
}

function resolvePointer(root: unknown, pointer: string): unknown {
  let node = root
  for (const raw of pointer.split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~')
    node = isSchema(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined
  }
  return node
}

const escape = (key: string): string => encodeURIComponent(key.replace(/~/g, '~0').replace(/\//g, '~1'))
const identity: AnswerFilter = (v) => v
const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v)
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
