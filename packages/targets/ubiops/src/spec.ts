import { MlxError, type EndpointSpec, type FeatureSpec, type JSONSchema, type Project } from '@mlx/core'

/** The data types a UbiOps structured field can have. */
export type DataType = 'int' | 'double' | 'string' | 'bool' | 'dict' | 'file' | 'array_int' | 'array_double' | 'array_string' | 'array_file'

export interface Field {
  readonly name: string
  readonly data_type: DataType
}

/** What deployment.py needs to turn a UbiOps request into the endpoint's HTTP request and back. */
export interface EndpointPlan {
  readonly endpoint: string
  readonly method: 'GET' | 'POST' | 'PUT'
  readonly path: string
  /** query: GET parameters; row: one row object; rows_key: {key: [row]}; object: the fields as the JSON body; none: no input. */
  readonly body: 'query' | 'row' | 'rows_key' | 'object' | 'none'
  readonly rows_key?: string
  readonly input_fields: readonly Field[]
  readonly output_fields: readonly Field[]
  readonly required: readonly string[]
  /** Fields carried as JSON text in a string field. */
  readonly json_fields: readonly string[]
  /** object: the response's properties are the output fields; single: the whole response is one field. */
  readonly output: 'object' | 'single'
}

export interface SpecFiles {
  readonly input: { input_type: 'structured'; input_fields: readonly Field[] }
  readonly output: { output_type: 'structured'; output_fields: readonly Field[] }
}

const TYPES = 'int, double, string, bool, dict, file, array_int, array_double, array_string, array_file'

class Unmappable extends Error {
  constructor(
    readonly where: string,
    readonly field: string,
    readonly why: string,
    readonly hint?: string,
  ) {
    super(`${where}: ${why}`)
  }
}

const FEATURE_TYPES: Record<FeatureSpec['type'], DataType> = { integer: 'int', number: 'double', string: 'string', boolean: 'bool', file: 'file' }

const isFileSchema = (s: JSONSchema) => s.format === 'binary' || s.format === 'byte' || s.contentEncoding === 'base64'

/** A JSON Schema → one UbiOps data type, or why there is none. */
function schemaType(s: JSONSchema, where: string, field: string): DataType {
  const raw = s.type
  let types = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(String).filter((t) => t !== 'null')
  if (types.length === 2 && types.includes('integer') && types.includes('number')) types = ['number']
  if (types.length === 0) {
    if (s.properties) types = ['object']
    else if (Array.isArray(s.enum) && s.enum.length && s.enum.every((v) => typeof v === 'string')) types = ['string']
    else if (Array.isArray(s.enum) && s.enum.length && s.enum.every((v) => typeof v === 'number')) types = [s.enum.every((v) => Number.isInteger(v)) ? 'integer' : 'number']
  }
  if (types.length !== 1) {
    const what = types.length === 0 ? (raw === 'null' || (Array.isArray(raw) && raw.every((t) => t === 'null')) ? 'is always null' : 'declares no type') : `may be any of ${types.join(', ')}`
    throw new Unmappable(where, field, `'${field}' ${what}, and a UbiOps field has exactly one data type`)
  }
  switch (types[0]) {
    case 'integer':
      return 'int'
    case 'number':
      return 'double'
    case 'boolean':
      return 'bool'
    case 'string':
      return isFileSchema(s) ? 'file' : 'string'
    case 'object':
      return 'dict'
    case 'array': {
      const items = (s.items ?? {}) as JSONSchema
      let inner: DataType
      try {
        inner = schemaType(items, `${where}.items`, field)
      } catch {
        throw new Unmappable(where, field, `'${field}' is an array whose items have no single scalar type`)
      }
      const arrays: Partial<Record<DataType, DataType>> = { int: 'array_int', double: 'array_double', string: 'array_string', file: 'array_file' }
      const t = arrays[inner]
      if (!t) throw new Unmappable(where, field, `'${field}' is an array of ${inner === 'dict' ? 'objects' : inner}s, and UbiOps arrays hold only ints, doubles, strings or files`)
      return t
    }
    default:
      throw new Unmappable(where, field, `'${field}' has type ${types[0]}, which UbiOps has no data type for`)
  }
}

/**
 * Maps an endpoint's declared input and output to UbiOps fields. Everything is driven by the
 * manifest: tabular features become one field each (one UbiOps request is one row), a handler's
 * object schema gives one field per property, a non-object output becomes one field. What has no
 * UbiOps type is an error naming the field, unless targets.ubiops.jsonFields lists it.
 */
export function endpointPlan(ep: EndpointSpec, project: Project, opts: { jsonFields: readonly string[]; outputField: string }): EndpointPlan {
  const json = new Set(opts.jsonFields)
  const used: string[] = []
  const typed = (s: JSONSchema, where: string, field: string): DataType => {
    if (json.has(field)) {
      used.push(field)
      return 'string'
    }
    return schemaType(s, where, field)
  }
  const base = `endpoints.${ep.name}`
  try {
    let input_fields: Field[] = []
    let required: string[] = []
    let body: EndpointPlan['body']
    if (ep.input.features) {
      input_fields = ep.input.features.map((f) => ({ name: f.name, data_type: json.has(f.name) ? (used.push(f.name), 'string') : FEATURE_TYPES[f.type] }))
      required = ep.input.features.filter((f) => f.required !== false && !f.nullable).map((f) => f.name)
      body = ep.input.style === 'query' ? 'query' : ep.input.rowsKey ? 'rows_key' : 'row'
    } else if (ep.input.schema) {
      const s = ep.input.schema
      const props = s.properties as Record<string, JSONSchema> | undefined
      if (s.type !== 'object' && !props) throw new Unmappable(`${base}.input.schema`, ep.name, `the body is not an object with properties, so it has no named fields for UbiOps`, 'give input.schema type: object with properties (one UbiOps field each), or serve another endpoint (targets.ubiops.endpoint).')
      input_fields = Object.entries(props ?? {}).map(([name, p]) => ({ name, data_type: typed(p, `${base}.input.schema.properties.${name}`, name) }))
      required = Array.isArray(s.required) ? s.required.map(String) : []
      body = ep.method === 'GET' ? 'query' : 'object'
    } else if (ep.method === 'GET') {
      body = 'none'
    } else {
      throw new Unmappable(`${base}.input`, ep.name, `the ${ep.method} body is free-form (no features and no schema), so it has no named fields for UbiOps`, 'declare input.features or an object input.schema, or serve another endpoint (targets.ubiops.endpoint).')
    }

    const out = oneRowAnswer(ep.output.schema)
    if (!out) throw new Unmappable(`${base}.output`, ep.name, 'there is no output.schema, so the output fields are unknown', 'declare output.schema for the endpoint (it also documents the API in /openapi.json).')
    const outProps = out.properties as Record<string, JSONSchema> | undefined
    const objectOut = (out.type === 'object' || (out.type === undefined && outProps !== undefined)) && outProps !== undefined && Object.keys(outProps).length > 0
    const output_fields: Field[] = objectOut
      ? Object.entries(outProps!).map(([name, p]) => ({ name, data_type: typed(p, `${base}.output.schema.properties.${name}`, name) }))
      : [{ name: opts.outputField, data_type: typed(out, `${base}.output.schema`, opts.outputField) }]
    return {
      endpoint: ep.name,
      method: ep.method,
      path: ep.path,
      body,
      ...(ep.input.rowsKey ? { rows_key: ep.input.rowsKey } : {}),
      input_fields,
      output_fields,
      required,
      json_fields: [...new Set(used)],
      output: objectOut ? 'object' : 'single',
    }
  } catch (err) {
    if (!(err instanceof Unmappable)) throw err
    throw new MlxError('TARGET_CONFIG_INVALID', `${project.manifestFile}: ${err.where}: ${err.why}. UbiOps data types are ${TYPES}.`, {
      hint: err.hint ?? `add '${err.field}' to targets.ubiops.jsonFields to carry it as JSON text in a string field, or declare a type UbiOps has.`,
      file: project.manifestFile,
    })
  }
}

export const specFiles = (plan: EndpointPlan): SpecFiles => ({
  input: { input_type: 'structured', input_fields: plan.input_fields },
  output: { output_type: 'structured', output_fields: plan.output_fields },
})

/** The reference example of an endpoint as one UbiOps request (files are base64 here; written to disk to send). */
export function exampleRequest(ep: EndpointSpec, plan: EndpointPlan): Record<string, unknown> | undefined {
  const ex = ep.input.example
  let row: Record<string, unknown> | undefined
  if (plan.body === 'none') return {}
  if (ep.input.features) {
    row = ex?.rows?.[0] ?? (ex?.columns ? Object.fromEntries(Object.entries(ex.columns).map(([k, v]) => [k, v[0]])) : undefined)
    const body = ex?.body as Record<string, unknown> | unknown[] | undefined
    if (!row && body && typeof body === 'object') {
      const b = plan.rows_key && !Array.isArray(body) ? (body as Record<string, unknown>)[plan.rows_key] : body
      row = (Array.isArray(b) ? b[0] : b) as Record<string, unknown> | undefined
    }
  } else {
    row = ex?.body as Record<string, unknown> | undefined
  }
  if (!row || typeof row !== 'object') return undefined
  const out: Record<string, unknown> = {}
  for (const f of plan.input_fields) {
    const v = row[f.name]
    if (v === undefined || v === null) continue
    out[f.name] = plan.json_fields.includes(f.name) ? JSON.stringify(v) : v
  }
  return out
}

/**
 * One UbiOps request is one row, so of an output schema that reads "one object, or a list of them
 * for a list of rows" (anyOf/oneOf of an object and an array of that object) the object is the
 * answer's shape.
 */
function oneRowAnswer(schema: JSONSchema | undefined): JSONSchema | undefined {
  const variants = (schema?.anyOf ?? schema?.oneOf) as JSONSchema[] | undefined
  if (!schema || !Array.isArray(variants) || variants.length !== 2) return schema
  const object = variants.find((v) => v.type === 'object')
  const list = variants.find((v) => v.type === 'array')
  return object && list && JSON.stringify(list.items) === JSON.stringify(object) ? object : schema
}
