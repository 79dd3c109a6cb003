import type { EndpointSpec, FeatureSpec, Project } from '../project.js'
import { areaOf, type AuthSpec } from './auth.js'

type Schema = Record<string, unknown>

const pascal = (s: string) => s.replace(/(^|[_-])(\w)/g, (_, __, c: string) => c.toUpperCase())

function featureSchema(f: FeatureSpec, multipart = false): Schema {
  if (f.type === 'file') {
    return multipart
      ? { type: 'string', format: 'binary', contentMediaType: 'application/octet-stream', ...(f.description ? { description: f.description } : {}) }
      : { type: f.nullable ? ['string', 'null'] : 'string', contentEncoding: 'base64', description: f.description ?? 'File contents, base64-encoded (or send multipart/form-data).' }
  }
  const s: Schema = { type: f.nullable ? [f.type, 'null'] : f.type }
  const notes: string[] = []
  if (f.description) notes.push(f.description)
  if (f.categories?.length) notes.push(`Seen in training: ${f.categories.join(', ')}. Other values are treated as missing.`)
  if (f.min !== undefined && f.max !== undefined) notes.push(`Range in the reference data: ${f.min} to ${f.max}.`)
  if (notes.length) s.description = notes.join(' ')
  if (f.format) s.format = f.format
  if (f.minimum !== undefined) s.minimum = f.minimum
  if (f.maximum !== undefined) s.maximum = f.maximum
  if (f.examples.length) s.examples = f.examples.slice(0, 3)
  return s
}

const required = (fs: readonly FeatureSpec[]) => fs.filter((f) => f.required !== false && !f.nullable).map((f) => f.name)

function bodySchemas(ep: EndpointSpec, components: Record<string, Schema>): Schema | undefined {
  const fs = ep.input.features
  if (!fs) return ep.input.schema
  const base = pascal(ep.name)
  components[`${base}Row`] = {
    type: 'object',
    title: `${base}Row`,
    properties: Object.fromEntries(fs.map((f) => [f.name, featureSchema(f)])),
    required: required(fs),
  }
  components[`${base}Columns`] = {
    type: 'object',
    title: `${base}Columns`,
    description: 'Column-oriented: one list per feature, all of the same length.',
    properties: Object.fromEntries(fs.map((f) => [f.name, { type: 'array', items: featureSchema(f) }])),
    required: required(fs),
  }
  components[`${base}Rows`] = { type: 'array', title: `${base}Rows`, description: 'Row-oriented: one object per row.', items: { $ref: `#/components/schemas/${base}Row` }, minItems: 1 }
  const ref = (n: string) => ({ $ref: `#/components/schemas/${base}${n}` })
  if (ep.input.rowsKey) return { type: 'object', required: [ep.input.rowsKey], properties: { [ep.input.rowsKey]: ref('Rows') } }
  switch (ep.input.style) {
    case 'columns':
      return ref('Columns')
    case 'rows':
      return ref('Rows')
    default:
      return { oneOf: [ref('Columns'), ref('Rows')] }
  }
}

function requestExamples(ep: EndpointSpec): Record<string, { summary: string; value: unknown }> | undefined {
  const ex = ep.input.example
  if (!ex) return undefined
  const out: Record<string, { summary: string; value: unknown }> = {}
  if (ex.body !== undefined) out.example = { summary: 'Example', value: ex.body }
  if (ex.columns && ep.input.style !== 'rows') out.columns = { summary: 'Column-oriented (from the reference data)', value: ex.columns }
  if (ex.rows && ep.input.style !== 'columns') out.rows = { summary: 'Row-oriented (from the reference data)', value: ex.rows }
  return Object.keys(out).length ? out : undefined
}

const errorResponses = {
  '413': { description: 'Body larger than the server accepts', content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPError' } } } },
  '422': { description: 'Validation Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPValidationError' } } } },
  '503': { description: 'Models still loading', content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPError' } } } },
}

/** OpenAPI 3.1 for the project's endpoints plus the operational routes, built once at startup. */
export function buildOpenApi(project: Project): Schema {
  const components: Record<string, Schema> = {
    ValidationError: {
      type: 'object',
      required: ['loc', 'msg', 'type'],
      properties: {
        loc: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] } },
        msg: { type: 'string' },
        type: { type: 'string' },
        input: {},
      },
    },
    HTTPValidationError: { type: 'object', properties: { detail: { type: 'array', items: { $ref: '#/components/schemas/ValidationError' } } } },
    HTTPError: { type: 'object', properties: { detail: { type: 'string' } } },
  }
  const paths: Record<string, Record<string, unknown>> = {}
  for (const ep of project.endpoints) {
    const op: Schema = {
      operationId: ep.name,
      summary: ep.summary ?? `${ep.name}${ep.models.length ? ` (model: ${ep.models.join(', ')})` : ''}`,
      tags: ['endpoints'],
      responses: {
        '200': {
          description: ep.output.description ?? 'Successful Response',
          content: { 'application/json': { schema: ep.output.schema ?? {}, ...(ep.output.example !== undefined ? { example: ep.output.example } : {}) } },
        },
        ...errorResponses,
      },
    }
    if (ep.description) op.description = ep.description
    if (ep.input.style === 'query' && ep.input.features) {
      op.parameters = ep.input.features.map((f) => ({
        name: f.name,
        in: 'query',
        required: f.required !== false && !f.nullable,
        schema: featureSchema(f),
        ...(f.examples.length ? { example: f.examples[0] } : {}),
      }))
    } else if (ep.method !== 'GET') {
      const schema = bodySchemas(ep, components) ?? {}
      const examples = requestExamples(ep)
      const content: Record<string, unknown> = { 'application/json': { schema, ...(examples ? { examples } : {}) } }
      const fs = ep.input.features
      if (fs?.some((f) => f.type === 'file')) {
        content['multipart/form-data'] = {
          schema: { type: 'object', properties: Object.fromEntries(fs.map((f) => [f.name, featureSchema(f, true)])), required: required(fs) },
        }
      }
      op.requestBody = { required: true, content }
    }
    paths[ep.path] = { ...(paths[ep.path] ?? {}), [ep.method.toLowerCase()]: op }
  }
  const plain = (summary: string, tag = 'operations') => ({ get: { summary, tags: [tag], responses: { '200': { description: 'OK' }, '503': { description: 'Not ready' } } } })
  paths['/healthz'] ??= plain('Liveness: the process answers')
  paths['/readyz'] ??= plain('Readiness: every model is loaded')
  paths['/metrics'] ??= plain('Prometheus metrics (text exposition format)')
  paths['/v2/health/live'] ??= plain('Open Inference Protocol v2: live', 'v2')
  paths['/v2/health/ready'] ??= plain('Open Inference Protocol v2: ready', 'v2')
  paths['/v2/models/{name}'] ??= { get: { summary: 'Model metadata (inputs, outputs, platform)', tags: ['v2'], parameters: [nameParam], responses: { '200': { description: 'OK' }, '404': { description: 'No such model' } } } }
  paths['/v2/models/{name}/ready'] ??= { get: { summary: 'Model readiness', tags: ['v2'], parameters: [nameParam], responses: { '200': { description: 'OK' } } } }
  paths['/v2/models/{name}/infer'] ??= {
    post: {
      summary: 'Run the model on raw tensors (Open Inference Protocol v2)',
      tags: ['v2'],
      parameters: [nameParam],
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/InferenceRequest' } } } },
      responses: { '200': { description: 'Inference response' }, '400': { description: 'Bad tensors' }, '404': { description: 'No such model' } },
    },
  }
  components.InferenceRequest = {
    type: 'object',
    required: ['inputs'],
    properties: {
      id: { type: 'string' },
      inputs: {
        type: 'array',
        items: { type: 'object', required: ['name', 'shape', 'datatype', 'data'], properties: { name: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } }, datatype: { type: 'string' }, data: { type: 'array' } } },
      },
      outputs: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
    },
  }
  const doc: Schema = {
    openapi: '3.1.0',
    info: { title: project.name, version: project.version, ...(project.description ? { description: project.description } : {}) },
    paths,
    components: { schemas: components },
  }
  if (project.server.auth) secure(doc, project.server.auth, !project.endpoints.some((e) => e.path === '/' && e.method === 'GET'))
  return doc
}

/**
 * server.auth in the document: both ways of sending the key as security schemes (the docs page
 * then has its Authorize button), required by every operation outside the public areas, which
 * also document the 401.
 */
function secure(doc: Schema, auth: AuthSpec, ownIndex: boolean): void {
  const schemes = {
    bearer: { type: 'http', scheme: 'bearer', description: `The API key (server.auth; the server reads it from ${auth.env}).` },
    apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same key, in a header of its own.' },
  }
  ;(doc.components as Schema).securitySchemes = schemes
  doc.security = [{ bearer: [] }, { apiKey: [] }]
  const open = new Set<string>(auth.public)
  for (const [url, ops] of Object.entries(doc.paths as Record<string, Record<string, Schema>>)) {
    const area = areaOf(url, ownIndex)
    for (const op of Object.values(ops)) {
      if (area && open.has(area)) op.security = []
      else op.responses = { ...(op.responses as Schema), '401': { description: 'No API key, or not a valid one', headers: { 'WWW-Authenticate': { schema: { type: 'string' } } }, content: { 'application/json': { schema: url.startsWith('/v2') ? { type: 'object', properties: { error: { type: 'string' } } } : { $ref: '#/components/schemas/HTTPError' } } } } }
    }
  }
}

const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } }
