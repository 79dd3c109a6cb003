import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify'
import multipart from '@fastify/multipart'
import type { Logger } from '../types.js'
import { MlxError, isMlxError } from '../errors.js'
import type { Project } from '../project.js'
import { readArrowIpc } from '../data/arrow.js'
import { DOCS_INIT, docsAsset, docsPage, isDocsAsset } from './docs.js'
import { Metrics } from './metrics.js'
import { buildOpenApi } from './openapi.js'
import { HttpError, RequestInvalid } from './problems.js'
import { loadServing, type Serving, type ServingOptions } from './load-serving.js'
import { registerV2 } from './v2.js'

export interface MlxServer {
  readonly app: FastifyInstance
  /** Resolves when every model is loaded and every endpoint compiled (then /readyz answers 200). */
  readonly ready: Promise<Serving>
  listen(port: number, host?: string): Promise<string>
  close(): Promise<void>
}

export type ServerOptions = ServingOptions & {
  /** Log one line per request (off by default: the hot path stays quiet). */
  readonly accessLog?: boolean
}

const ARROW_STREAM = 'application/vnd.apache.arrow.stream'

/**
 * The one server: `mlx serve`, the bundle's entry point and every image run this. The HTTP
 * routes exist from the start so probes can ask; endpoints answer 503 until the models load.
 */
export function createServer(project: Project, opts: ServerOptions): MlxServer {
  const metrics = new Metrics()
  const app = Fastify({
    bodyLimit: project.server.bodyLimit,
    requestTimeout: project.server.requestTimeoutMs,
    logger: opts.accessLog ? { level: 'info' } : false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  })
  let serving: Serving | undefined
  let loadError: unknown
  const ready = loadServing(project, { ...opts, metrics }).then(
    (s) => (serving = s),
    (err) => {
      loadError = err
      throw err
    },
  )
  ready.catch(() => {}) // the caller awaits `ready`; this only keeps Node from calling it unhandled

  app.addContentTypeParser(ARROW_STREAM, { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      const table = readArrowIpc(body as Buffer)
      done(null, Object.fromEntries(table.columns.map((c) => [c, table.column(c)])))
    } catch (err) {
      done(new HttpError(400, `body is not an Arrow IPC stream: ${(err as Error).message}`), undefined)
    }
  })

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    const v2 = req.url.startsWith('/v2/')
    const send = (status: number, detail: unknown) =>
      reply.code(status).send(v2 ? { error: typeof detail === 'string' ? detail : Array.isArray(detail) ? detail.map((d: { type?: string; msg?: string; ctx?: { error?: string } }) => `${d.type}: ${d.ctx?.error ?? d.msg}`).join('; ') : String(detail) } : { detail })
    if (err instanceof RequestInvalid) return send(422, err.detail)
    if (err instanceof HttpError) return send(err.statusCode, err.message)
    const code = (err as FastifyError).code
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || code === 'FST_REQ_FILE_TOO_LARGE') return send(413, `request body is larger than ${project.server.bodyLimit} bytes; send fewer rows per request or raise server.bodyLimit in mlx.yaml`)
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return send(415, `unsupported Content-Type '${req.headers['content-type']}'; send application/json${project.endpoints.length ? ` or ${ARROW_STREAM}` : ''}`)
    if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return send(422, [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }])
    if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
      return send(v2 ? 400 : 422, [{ type: 'json_invalid', loc: ['body'], msg: 'JSON decode error', input: {}, ctx: { error: err.message } }])
    }
    const status = (err as FastifyError).statusCode
    if (status && status >= 400 && status < 500) return send(status, err.message)
    opts.log.warn(`${req.method} ${req.url} failed: ${isMlxError(err) ? err.message : (err.stack ?? err.message)}`)
    return send(500, isMlxError(err) ? err.message : 'Internal Server Error')
  })

  // FastAPI's 404 body, so clients see one error shape everywhere; the v2 routes use the protocol's.
  app.setNotFoundHandler((req, reply) => {
    const v2 = req.url.startsWith('/v2/')
    return reply.code(404).send(v2 ? { error: `no route ${req.method} ${req.url.split('?')[0]}` } : { detail: 'Not Found' })
  })

  const openapi = buildOpenApi(project)
  const page = docsPage(project.name)
  app.get('/openapi.json', async () => openapi)
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page))
  app.get('/docs/init.js', async (_req, reply) => reply.type('application/javascript; charset=utf-8').send(DOCS_INIT))
  app.get<{ Params: { file: string } }>('/docs/assets/:file', async (req, reply) => {
    if (!isDocsAsset(req.params.file)) throw new HttpError(404, 'not found')
    const { body, type } = await docsAsset(req.params.file)
    return reply.type(type).header('cache-control', 'public, max-age=86400').send(body)
  })

  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    if (serving) return { status: 'ready', models: Object.keys(project.models) }
    return reply.code(503).send({ status: loadError ? 'failed' : 'loading', ...(loadError ? { detail: (loadError as Error).message } : {}) })
  })
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()))
  registerV2(app, project, () => serving)

  // Multipart only where an endpoint takes a file: JSON endpoints keep fastify's plain parser.
  const takesFiles = project.endpoints.some((e) => e.input.features?.some((f) => f.type === 'file'))
  if (takesFiles) {
    void app.register(multipart, { limits: { fileSize: project.server.bodyLimit, files: 16, fields: 256 } })
  }
  const readBody = async (req: FastifyRequest): Promise<unknown> => {
    if (!takesFiles || !req.isMultipart()) return req.body
    const body: Record<string, unknown> = {}
    for await (const part of req.parts()) {
      body[part.fieldname] = part.type === 'file' ? await part.toBuffer() : part.value
    }
    return body
  }

  for (const ep of project.endpoints) {
    const observe = metrics.endpoint(ep.name)
    app.route({
      method: ep.method,
      url: ep.path,
      config: { observe },
      handler: async (req) => {
        const fn = serving?.endpoints.get(ep.name)
        if (!fn) throw new HttpError(503, loadError ? `models failed to load: ${(loadError as Error).message}` : 'models are still loading; retry when /readyz answers 200')
        const body = await readBody(req)
        return answerWithin(fn({ body, query: req.query as Record<string, unknown>, contentType: req.headers['content-type'] }), project.server.requestTimeoutMs)
      },
    })
  }
  // Requests in flight when close() starts answer with Connection: close, so their keep-alive
  // sockets end with the response; otherwise close() waits out keepAliveTimeout (72 s) and a
  // SIGTERM drain outlasts the platform's grace period.
  let closing = false
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
  app.addHook('onResponse', async (req, reply) => {
    const observe = (req.routeOptions.config as { observe?: (s: number, status: number) => void }).observe
    observe?.(reply.elapsedTime / 1000, reply.statusCode)
  })
  if (project.server.cors) {
    app.addHook('onRequest', async (req, reply) => {
      reply.header('access-control-allow-origin', '*')
      if (req.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET,POST,PUT,OPTIONS').header('access-control-allow-headers', 'content-type,authorization')
        return reply.code(204).send()
      }
    })
  }
  if (!project.endpoints.some((e) => e.path === '/' && e.method === 'GET')) {
    app.get('/', async () => ({
      name: project.name,
      version: project.version,
      docs: '/docs',
      openapi: '/openapi.json',
      endpoints: project.endpoints.map((e) => ({ name: e.name, method: e.method, path: e.path })),
    }))
  }

  return {
    app,
    ready,
    async listen(port, host = '0.0.0.0') {
      try {
        return await app.listen({ port, host })
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new MlxError('PORT_IN_USE', `port ${port} on ${host} is already in use.`, {
            hint: `stop the process that holds it (\`lsof -i :${port}\`), or pick another port with --port or the PORT variable.`,
            cause: err,
          })
        }
        throw err
      }
    },
    async close() {
      closing = true
      await app.close()
      await ready.then((s) => s.dispose(), () => {})
    },
  }
}

/** SIGTERM/SIGINT: stop accepting, let in-flight requests finish, free the models, exit 0. */
export function installGracefulShutdown(server: MlxServer, log: Logger, exit: (code: number) => void = (c) => process.exit(c)): void {
  let closing = false
  const stop = (signal: string) => {
    if (closing) return
    closing = true
    log.info(`${signal} received: finishing in-flight requests`)
    server.close().then(
      () => exit(0),
      (err) => {
        log.warn(`shutdown failed: ${(err as Error).message}`)
        exit(1)
      },
    )
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}

/**
 * A request whose model takes longer than server.requestTimeoutMs gets a 504 instead of holding
 * its client (and a proxy's connection) open. Runtimes cannot cancel a run, so the computation
 * finishes in the background and its result is dropped.
 */
function answerWithin<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HttpError(504, `the endpoint took longer than server.requestTimeoutMs (${ms} ms) to answer; retry, send fewer rows, or raise server.requestTimeoutMs in mlx.yaml`)),
      ms,
    )
  })
  work.catch(() => {}) // a run that fails after the 504 was sent has nobody left to tell
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}
