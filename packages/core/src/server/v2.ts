import type { FastifyInstance } from 'fastify'
import type { DType, Tensor, TensorInfo } from '../types.js'
import type { Project } from '../project.js'
import { clip, HttpError } from './problems.js'
import type { Serving } from './load-serving.js'
import { jsonToTensor } from './tensors.js'

/** Open Inference Protocol (KServe v2) datatype names. */
const V2_TYPES: Record<DType, string> = {
  float32: 'FP32', float64: 'FP64', int32: 'INT32', int64: 'INT64', uint8: 'UINT8', int8: 'INT8', bool: 'BOOL', string: 'BYTES',
}
const FROM_V2 = Object.fromEntries(Object.entries(V2_TYPES).map(([k, v]) => [v, k as DType])) as Record<string, DType>

const meta = (t: TensorInfo) => ({ name: t.name, datatype: V2_TYPES[t.dtype], shape: t.shape.map((d) => (typeof d === 'number' ? d : -1)) })

function flat(t: Tensor): unknown[] {
  return t.data instanceof BigInt64Array ? Array.from(t.data, Number) : Array.from(t.data as ArrayLike<unknown>)
}

interface InferBody {
  id?: string
  inputs?: { name?: string; shape?: number[]; datatype?: string; data?: unknown }[]
  outputs?: { name?: string }[]
}

/**
 * The v2 routes: raw tensors in and out, for clients that speak KServe/Triton's protocol.
 * `guard` wraps each model run (the shutdown drain answers a run that outlasts it).
 */
export function registerV2(app: FastifyInstance, project: Project, serving: () => Serving | undefined, guard: <T>(work: Promise<T>) => Promise<T> = (w) => w): void {
  const model = (name: string) => {
    const s = serving()
    if (!s) throw new HttpError(503, 'models are still loading')
    const m = s.models.get(name)
    if (!m) throw new HttpError(404, `no model named '${clip(name)}' (models: ${[...s.models.keys()].join(', ')})`)
    return { s, m }
  }
  app.get('/v2', async () => ({ name: 'mlx', version: '0.1.0', extensions: [] }))
  app.get('/v2/health/live', async () => ({ live: true }))
  app.get('/v2/health/ready', async (_req, reply) => (serving() ? { ready: true } : reply.code(503).send({ ready: false })))
  app.get<{ Params: { name: string } }>('/v2/models/:name', async (req) => {
    const { s, m } = model(req.params.name)
    return {
      name: req.params.name,
      versions: [project.version],
      platform: s.runtimeOf.get(req.params.name),
      inputs: m.inputs.map(meta),
      outputs: m.outputs.map(meta),
      ...(m.metadata ? { parameters: m.metadata } : {}),
    }
  })
  app.get<{ Params: { name: string } }>('/v2/models/:name/ready', async (req) => {
    model(req.params.name)
    return { name: req.params.name, ready: true }
  })
  const infer = async (name: string, body: InferBody) => {
    const { s, m } = model(name)
    if (!body || !Array.isArray(body.inputs)) throw new HttpError(400, "request needs 'inputs': a list of {name, shape, datatype, data}")
    const feeds: Record<string, Tensor> = {}
    for (const [i, inp] of body.inputs.entries()) {
      const info = m.inputs.find((x) => x.name === inp.name)
      if (!info) throw new HttpError(400, `inputs[${i}]: model '${name}' has no input '${clip(String(inp.name))}' (inputs: ${m.inputs.map((x) => x.name).join(', ')})`)
      const dtype = FROM_V2[String(inp.datatype)]
      if (!dtype) throw new HttpError(400, `inputs[${i}].datatype: '${clip(String(inp.datatype), 50)}' is not a v2 datatype (${Object.values(V2_TYPES).join(', ')})`)
      if (dtype !== info.dtype) throw new HttpError(400, `inputs[${i}]: '${info.name}' takes ${V2_TYPES[info.dtype]}, got ${inp.datatype}`)
      if (!Array.isArray(inp.shape) || !inp.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new HttpError(400, `inputs[${i}].shape must be a list of non-negative integers`)
      try {
        feeds[info.name] = jsonToTensor(dtype, inp.shape, inp.data)
      } catch (err) {
        throw new HttpError(400, `inputs[${i}]: ${(err as Error).message}`)
      }
    }
    const missing = m.inputs.filter((x) => !feeds[x.name]).map((x) => x.name)
    if (missing.length) throw new HttpError(400, `missing inputs: ${missing.join(', ')}`)
    const out = await guard(s.runners.get(name)!.run(feeds))
    const wanted = body.outputs?.map((o) => String(o.name)) ?? Object.keys(out)
    return {
      model_name: name,
      model_version: project.version,
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs: wanted.map((n) => {
        const t = out[n]
        if (!t) throw new HttpError(400, `model '${name}' has no output '${clip(n)}'`)
        return { name: n, datatype: V2_TYPES[t.dtype], shape: t.shape, data: flat(t) }
      }),
    }
  }
  app.post<{ Params: { name: string }; Body: InferBody }>('/v2/models/:name/infer', async (req) => infer(req.params.name, req.body))
  app.post<{ Params: { name: string; version: string }; Body: InferBody }>('/v2/models/:name/versions/:version/infer', async (req) => infer(req.params.name, req.body))
}
