// JSON Schema 2020-12: the dialect /openapi.json (OpenAPI 3.1) documents these schemas in.
import { Ajv2020 as Ajv, type ErrorObject } from 'ajv/dist/2020.js'
import type { EndpointSpec } from '../project.js'
import type { Logger } from '../types.js'
import { compileFrameReader, type Frame, type FrameReader } from './frame.js'
import { compileSteps, finish } from './postprocess.js'
import { compilePreprocess } from './preprocess.js'
import { frameToFeeds } from './tensors.js'
import type { ModelRunner } from './model-runner.js'
import type { Handler, ModelHandle } from './handler.js'
import { HttpError, RequestInvalid, type Problem } from './problems.js'
import { compileAnswerFilter } from './answer-filter.js'

export interface RequestParts {
  readonly body: unknown
  readonly query: Record<string, unknown>
  readonly contentType?: string
}

/** An endpoint compiled once at startup: the hot path only runs the closures built here. */
export type EndpointFn = (req: RequestParts) => Promise<unknown>

export function compileEndpoint(
  ep: EndpointSpec,
  runners: ReadonlyMap<string, ModelRunner>,
  opts: { maxRows: number; handler?: Handler; log: Logger; root: string },
): EndpointFn {
  const answer = compileAnswer(ep, runners, opts)
  const check = ep.output.schema ? compileAnswerCheck(ep, opts.log) : undefined
  return check ? async (req) => check(await answer(req)) : answer
}

function compileAnswer(
  ep: EndpointSpec,
  runners: ReadonlyMap<string, ModelRunner>,
  opts: { maxRows: number; handler?: Handler; log: Logger; root: string },
): EndpointFn {
  const post = compileSteps(ep.postprocess, `endpoints.${ep.name}.postprocess`, { root: opts.root })
  const readFrame = ep.input.features ? frameStrategy(compileFrameReader(ep.input.features, opts.maxRows), ep.input.style, ep.input.rowsKey) : undefined
  const checkBody = ep.input.schema ? compileBodySchema(ep.input.schema) : undefined
  const pre = compilePreprocess(ep.preprocess, ep.input.features ?? [], `endpoints.${ep.name}.preprocess`)
  if (ep.preprocess.length && !ep.input.features) throw new Error('preprocess needs features (input.reference or input.features)')
  const featureOrder = pre.order
  const where = ep.input.style === 'query' ? 'query' : 'body'
  const prepare = async (frame: Frame): Promise<Frame> => {
    for (const op of pre.ops) await op(frame, where)
    return frame
  }

  const handles: Record<string, ModelHandle> = {}
  for (const name of ep.models) {
    const r = runners.get(name)!
    handles[name] = {
      inputs: r.model.inputs,
      outputs: r.model.outputs,
      run: (feeds) => r.run(feeds),
      predict: (frame) => r.run(frameToFeeds(frame, r.model.inputs, featureOrder)),
    }
  }

  if (opts.handler) {
    const handler = opts.handler
    const ctx = { endpoint: ep, models: handles, log: opts.log, root: opts.root }
    return async (req) => {
      const frame = readFrame ? await prepare(readFrame(req)) : undefined
      if (checkBody) checkBody(req.body)
      let value: unknown = await handler({ body: req.body, query: req.query, frame }, ctx)
      // Declared post ops apply to what the handler returns, as they do to a model's outputs.
      if (post.length) {
        const pctx = { rows: frame?.rows ?? 1, body: req.body, query: req.query, frame }
        for (const op of post) value = op(value, pctx)
        value = finish(value)
      }
      return value
    }
  }

  const runner = runners.get(ep.models[0]!)!
  if (!readFrame) {
    throw new Error(`endpoint '${ep.name}' serves model '${runner.name}' without features: declare input.reference or input.features, or add a handler`)
  }
  const inputs = runner.model.inputs
  return async (req) => {
    const frame = await prepare(readFrame(req))
    const outputs = await runner.run(frameToFeeds(frame, inputs, featureOrder))
    let value: unknown = outputs
    const pctx = { rows: frame.rows, body: req.body, query: req.query, frame }
    for (const op of post) value = op(value, pctx)
    return finish(value)
  }
}

function frameStrategy(reader: FrameReader, style: EndpointSpec['input']['style'], rowsKey?: string): (req: RequestParts) => Frame {
  if (rowsKey) {
    return (req) => {
      const body = req.body as Record<string, unknown> | null
      if (!body || typeof body !== 'object' || Array.isArray(body) || body[rowsKey] === undefined) {
        throw new RequestInvalid([{ type: 'missing', loc: ['body', rowsKey], msg: 'Field required', input: body }])
      }
      return reader.fromRows(body[rowsKey], ['body', rowsKey])
    }
  }
  switch (style) {
    case 'query':
      return (req) => reader.fromQuery(req.query)
    case 'columns':
      return (req) => reader.fromColumns(req.body)
    case 'rows':
      return (req) => reader.fromRows(req.body)
    default:
      // A list is rows; an object whose values are lists (or a scalar-per-feature object) is columns.
      return (req) => (Array.isArray(req.body) ? reader.fromRows(req.body) : reader.fromColumns(req.body))
  }
}

/** ajv for free-form handler bodies, with pydantic-like coercion, errors in FastAPI's shape. */
function compileBodySchema(schema: Record<string, unknown>): (body: unknown) => void {
  const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: false, verbose: true })
  const validate = ajv.compile(schema)
  return (body) => {
    if (!validate(body)) throw new RequestInvalid((validate.errors ?? []).map(toProblem))
  }
}

function toProblem(e: ErrorObject): Problem {
  const loc: (string | number)[] = ['body', ...e.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s))]
  if (e.keyword === 'required') return { type: 'missing', loc: [...loc, String(e.params.missingProperty)], msg: 'Field required' }
  return { type: e.keyword, loc, msg: e.message ?? 'invalid', input: e.data }
}

const ANSWER = 'mlx:answer'

/**
 * As FastAPI does with a response_model: the answer must match the declared output.schema (and
 * loses the properties the schema does not declare, see answer-filter.ts), else the client gets a
 * 500 and the log says which part of the answer broke it (a postprocess step or a handler that
 * drifted from the documented contract), instead of a silently different shape.
 */
function compileAnswerCheck(ep: EndpointSpec, log: Logger): (value: unknown) => unknown {
  const ajv = new Ajv({ allErrors: true, strict: false })
  let validate
  let filter
  try {
    ajv.addSchema(ep.output.schema!, ANSWER)
    validate = ajv.getSchema(ANSWER)!
    filter = compileAnswerFilter(ep.output.schema, ajv, ANSWER)
  } catch (err) {
    throw new Error(`output.schema is not a valid JSON Schema: ${(err as Error).message}`)
  }
  return (value) => {
    if (validate(value)) return filter ? filter(value) : value
    const where = (validate.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || '(the answer)'} ${e.message ?? 'is invalid'}`).join('; ')
    const message = `the answer of endpoint '${ep.name}' does not match its output.schema: ${where}`
    log.warn(`${message}. Fix the endpoint's postprocess steps or handler, or the schema in mlx.yaml.`)
    throw new HttpError(500, message)
  }
}
