import { maxHeaderSize, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import multipart from '@fastify/multipart'
import type { Logger } from '../types.js'
import { MlxError, isMlxError } from '../errors.js'
import type { EndpointSpec, Project } from '../project.js'
import { readArrowIpc } from '../data/arrow.js'
import { DOCS_INIT, docsAsset, docsPage, isDocsAsset } from './docs.js'
import { Metrics } from './metrics.js'
import { buildOpenApi } from './openapi.js'
import { apiKeysFrom, areaOf, KeyCheck } from './auth.js'
import { Drain } from './drain.js'
import { clip, HttpError, RequestInvalid, type Problem } from './problems.js'
import { loadServing, type Serving, type ServingOptions } from './load-serving.js'
import { registerV2 } from './v2.js'

export interface MlxServer {
  readonly app: FastifyInstance
  /** Resolves when every model is loaded and every endpoint compiled (then /readyz answers 200). */
  readonly ready: Promise<Serving>
  /** server.shutdownGraceSeconds: close() answers what still runs after this and returns. */
  readonly shutdownGraceSeconds: number
  listen(port: number, host?: string): Promise<string>
  /** Drains (see drain.ts), then frees the models; resolves within shutdownGraceSeconds and a little. */
  close(): Promise<void>
}

export type ServerOptions = ServingOptions & {
  /** Log one line per request (off by default: the hot path stays quiet). */
  readonly accessLog?: boolean
  /**
   * The keys server.auth accepts; read from the variable server.auth names when absent (and the
   * server refuses to start without one). `mlx validate` passes a stand-in: it builds the server
   * on a machine that has no key.
   */
  readonly apiKeys?: readonly string[]
}

const ARROW_STREAM = 'application/vnd.apache.arrow.stream'

/**
 * Deepest nesting of arrays and objects a JSON body may have: far beyond any real payload, far
 * below what would overflow the stack of whatever walks the parsed value.
 */
export const MAX_JSON_DEPTH = 64
/** Longest error message sent; the parts that repeat the client's input are cut shorter (problems.ts). */
const MAX_MESSAGE = 1000
/** After answering a request Node could not parse, how long the client may go on sending (read and dropped). */
const CLIENT_ERROR_LINGER_MS = 1000

/** `/v2/...` answers the Open Inference Protocol's {"error"}; every other route FastAPI's {"detail"}. */
const isV2 = (url: string | undefined): boolean => url !== undefined && /^\/v2(?:[/?]|$)/.test(url)

/** The one place error bodies get their shape. */
function errorBody(v2: boolean, detail: string | Problem[]): { detail: string | Problem[] } | { error: string } {
  if (!v2) return { detail: typeof detail === 'string' ? clip(detail, MAX_MESSAGE) : detail }
  const text = typeof detail === 'string' ? detail : detail.map((d) => `${d.type}: ${(d.ctx?.error as string | undefined) ?? d.msg}`).join('; ')
  return { error: clip(text, MAX_MESSAGE) }
}

/**
 * The one server: `mlx serve`, the bundle's entry point and every image run this. The HTTP
 * routes exist from the start so probes can ask; endpoints answer 503 until the models load.
 */
export function createServer(project: Project, opts: ServerOptions): MlxServer {
  // Before anything loads: a server that should ask for a key and has none does not start.
  const keys = project.server.auth ? new KeyCheck(opts.apiKeys?.length ? opts.apiKeys : apiKeysFrom(project.server.auth)) : undefined
  const metrics = new Metrics()
  const app = Fastify({
    bodyLimit: project.server.bodyLimit,
    requestTimeout: project.server.requestTimeoutMs,
    logger: opts.accessLog ? { level: 'info' } : false,
    // The drain (drain.ts) owns connections at shutdown: fastify's 503 has its own body shape,
    // and destroying idle connections is what resets a request sent at that moment.
    return503OnClosing: false,
    forceCloseConnections: false,
    clientErrorHandler: answerClientError(project.server.requestTimeoutMs),
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : err.code === 'FST_ERR_BAD_URL' ? 400 : 500
      const message = status === 414 ? 'a parameter in the URL path is longer than 100 characters' : status === 400 ? 'the URL path is not valid (malformed %-encoding)' : 'Internal Server Error'
      void reply.code(status).send(errorBody(isV2(req.raw.url), message))
    },
  })
  const graceSeconds = project.server.shutdownGraceSeconds
  const drain = new Drain(
    app.server,
    () => new HttpError(503, `the server is shutting down and this request did not finish within server.shutdownGraceSeconds (${graceSeconds} s); retry it`),
  )
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

  // JSON and Arrow only (and multipart where a file feature asks for it): fastify would also
  // take text/plain. The JSON parser is fastify's own (with its __proto__ checks) behind a depth
  // check that reads the text once, before anything can recurse into the parsed value.
  app.removeContentTypeParser(['application/json', 'text/plain'])
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (nestsDeeperThan(body as string, MAX_JSON_DEPTH)) {
      return done(new HttpError(400, `the JSON body is nested too deeply: more than ${MAX_JSON_DEPTH} levels of arrays and objects`), undefined)
    }
    parseJson(req, body as string, done)
  })
  app.addContentTypeParser(ARROW_STREAM, { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      const table = readArrowIpc(body as Buffer)
      done(null, Object.fromEntries(table.columns.map((c) => [c, table.column(c)])))
    } catch (err) {
      done(new HttpError(400, `body is not an Arrow IPC stream: ${(err as Error).message}`), undefined)
    }
  })

  const takesFiles = project.endpoints.some((e) => e.input.features?.some((f) => f.type === 'file'))
  const mediaTypes = `application/json${project.endpoints.length ? ` or ${ARROW_STREAM}` : ''}${takesFiles ? ' (or multipart/form-data)' : ''}`
  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    const v2 = isV2(req.url)
    const send = (status: number, detail: string | Problem[]) => reply.code(status).send(errorBody(v2, detail))
    if (err instanceof RequestInvalid) return send(422, err.detail)
    if (err instanceof HttpError) return send(err.statusCode, err.message)
    const code = (err as FastifyError).code
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || code === 'FST_REQ_FILE_TOO_LARGE') return send(413, `request body is larger than ${project.server.bodyLimit} bytes; send fewer rows per request or raise server.bodyLimit in mlx.yaml`)
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const type = req.headers['content-type']
      return send(415, type === undefined ? `the request has a body but no Content-Type header; send ${mediaTypes}` : `unsupported Content-Type '${clip(type, 100)}'; send ${mediaTypes}`)
    }
    if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return send(422, new RequestInvalid([{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }]).detail)
    if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return send(400, "the body's length does not match its Content-Length header")
    if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      return send(v2 ? 400 : 422, new RequestInvalid([{ type: 'json_invalid', loc: ['body'], msg: 'JSON decode error', input: {}, ctx: { error: err.message } }]).detail)
    }
    const status = (err as FastifyError).statusCode
    if (status && status >= 400 && status < 500) return send(status, err.message)
    opts.log.warn(`${req.method} ${req.url} failed: ${isMlxError(err) ? err.message : (err.stack ?? err.message)}`)
    return send(500, isMlxError(err) ? err.message : 'Internal Server Error')
  })

  // FastAPI's 404 body, so clients see one error shape everywhere; the v2 routes use the protocol's.
  app.setNotFoundHandler((req, reply) => {
    const v2 = isV2(req.url)
    return reply.code(404).send(v2 ? errorBody(true, `no route ${req.method} ${clip(req.url.split('?')[0]!)}`) : { detail: 'Not Found' })
  })

  const ownIndex = !project.endpoints.some((e) => e.path === '/' && e.method === 'GET')
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
  registerV2(app, project, () => serving, (work) => drain.race(work))

  // Multipart only where an endpoint takes a file; elsewhere a multipart body is a 415.
  if (takesFiles) {
    void app.register(multipart, { limits: { fileSize: project.server.bodyLimit, files: 16, fields: 256 } })
  }
  const readBody = async (req: FastifyRequest, ep: EndpointSpec): Promise<unknown> => {
    if (!takesFiles || !req.isMultipart()) return req.body
    const parts = new Map<string, { value: unknown; count: number; file: boolean }>()
    for await (const part of req.parts()) {
      const value = part.type === 'file' ? await part.toBuffer() : part.value
      const seen = parts.get(part.fieldname)
      if (seen) seen.count++
      else parts.set(part.fieldname, { value, count: 1, file: part.type === 'file' })
    }
    // A multipart body is one row: a feature sent twice has no one value to take.
    const features = ep.input.features ? new Set(ep.input.features.map((f) => f.name)) : undefined
    const repeated = [...parts].filter(([name, p]) => p.count > 1 && (!features || features.has(name)))
    if (repeated.length) {
      throw new RequestInvalid(
        repeated.map(([name, p]) => ({ type: 'too_long', loc: ['body', name], msg: `'${name}' takes one ${p.file ? 'file' : 'value'} per request, got ${p.count}`, input: null, ctx: { max_length: 1 } })),
      )
    }
    // fromEntries defines own properties, so a part named __proto__ stays a plain key.
    return Object.fromEntries([...parts].map(([name, p]) => [name, p.value]))
  }

  for (const ep of project.endpoints) {
    const observe = metrics.endpoint(ep.name)
    const tabular = Boolean(ep.input.features) && ep.input.style !== 'query'
    // Arrow carries columns: an endpoint that takes rows, a query or free JSON has no use for them.
    const takesArrow = Boolean(ep.input.features) && !ep.input.rowsKey && (ep.input.style === 'both' || ep.input.style === 'columns')
    app.route({
      method: ep.method,
      url: ep.path,
      config: { observe },
      handler: async (req) => {
        const fn = serving?.endpoints.get(ep.name)
        if (!fn) throw new HttpError(503, loadError ? `models failed to load: ${(loadError as Error).message}` : 'models are still loading; retry when /readyz answers 200')
        if (!takesArrow && mediaType(req.headers['content-type']) === ARROW_STREAM) {
          throw new HttpError(415, `endpoint '${ep.name}' does not take Arrow bodies (input.style: ${ep.input.rowsKey ? `rows_key ${ep.input.rowsKey}` : ep.input.style}); send application/json`)
        }
        const body = await readBody(req, ep)
        if (body === undefined && tabular) throw new RequestInvalid([{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }])
        return drain.race(answerWithin(fn({ body, query: req.query as Record<string, unknown>, contentType: req.headers['content-type'] }), project.server.requestTimeoutMs))
      },
    })
  }
  app.addHook('onResponse', async (req, reply) => {
    const observe = (req.routeOptions.config as { observe?: (s: number, status: number) => void }).observe
    observe?.(reply.elapsedTime / 1000, reply.statusCode)
  })
  if (project.server.cors) {
    app.addHook('onRequest', async (req, reply) => {
      reply.header('access-control-allow-origin', '*')
      if (req.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET,POST,PUT,OPTIONS').header('access-control-allow-headers', 'content-type,authorization,x-api-key')
        return reply.code(204).send()
      }
    })
  }
  const auth = project.server.auth
  if (auth) {
    const open = new Set(auth.public)
    // After the CORS hook: a preflight carries no credentials and is answered before this.
    app.addHook('onRequest', async (req, reply) => {
      const url = req.routeOptions.url
      // No route: the 404 tells nothing a key would protect.
      if (url === undefined) return
      const area = areaOf(url, ownIndex)
      if (area && open.has(area)) return
      const failed = keys!.check(req.headers)
      if (!failed) return
      return reply.code(401).header('www-authenticate', failed.challenge).send(errorBody(isV2(req.url), failed.message))
    })
  }
  if (ownIndex) {
    app.get('/', async () => ({
      name: project.name,
      version: project.version,
      docs: '/docs',
      openapi: '/openapi.json',
      endpoints: project.endpoints.map((e) => ({ name: e.name, method: e.method, path: e.path })),
    }))
  }

  let closed: Promise<void> | undefined
  return {
    app,
    ready,
    shutdownGraceSeconds: graceSeconds,
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
    close() {
      closed ??= (async () => {
        const { cutShort, destroyed } = await drain.close(graceSeconds * 1000)
        if (cutShort || destroyed) {
          opts.log.warn(
            `server.shutdownGraceSeconds (${graceSeconds} s) passed: ${cutShort} request(s) still running were answered 503, ${destroyed} connection(s) closed; raise it in mlx.yaml if requests take longer (within the platform's grace period)`,
          )
        }
        await app.close()
        // A run cut short may still be inside the runtime; freeing the model under it could
        // crash the process, which is about to exit and free everything anyway.
        if (!cutShort) await ready.then((s) => s.dispose(), () => {})
      })()
      return closed
    },
  }
}

const mediaType = (header: string | undefined) => header?.split(';')[0]!.trim().toLowerCase()

/** Whether `text` nests arrays and objects deeper than `max`, read in one pass without parsing it. */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      // Skip the string natively: to the next quote not escaped by an odd run of backslashes.
      for (;;) {
        const end = text.indexOf('"', i + 1)
        if (end === -1) return false
        let slashes = 0
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++
        i = end
        if (slashes % 2 === 0) break
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/**
 * Node's answer to a request it cannot parse (headers too large, a bad Content-Length, not HTTP,
 * too slow), in the routes' error shape instead of fastify's {"error","message","statusCode"}.
 * The connection ends with a FIN, and what the client still sends is read and dropped for a
 * moment: closing on unread bytes would be a reset, which can destroy the answer in flight.
 */
function answerClientError(requestTimeoutMs: number): (err: Error & { code?: string }, socket: Socket) => void {
  // Node's parser reports its error again for every chunk that follows; the first one is answered.
  const answered = new WeakSet<Socket>()
  return (err, socket) => {
    if (answered.has(socket)) return
    answered.add(socket)
    // As Node does: no answer of our own in the middle of one already being written.
    const busy = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent
    if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable || busy) return void socket.destroy()
    // Node attaches the bytes it was parsing; the types say otherwise.
    const raw = (err as { rawPacket?: unknown }).rawPacket instanceof Buffer ? ((err as { rawPacket?: unknown }).rawPacket as Buffer) : undefined
    const line = raw ? /^[A-Z]+ (\S*)/.exec(raw.subarray(0, 512).toString('latin1')) : null
    let status = 400
    let message: string
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      // The request line alone overflowing the limit is a URL too long.
      const eol = raw ? raw.indexOf('\r\n') : 0
      status = line && (eol === -1 || eol >= maxHeaderSize) ? 414 : 431
      message = status === 414 ? `the URL is longer than ${maxHeaderSize} bytes` : `the request headers are larger than ${maxHeaderSize} bytes`
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408
      message = `the request was not received within server.requestTimeoutMs (${requestTimeoutMs} ms)`
    } else {
      message = `malformed HTTP request: ${clip(err.message.replace(/^Parse Error: /, ''), 100)}`
    }
    const body = JSON.stringify(errorBody(isV2(line?.[1]), message))
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS).unref()
  }
}

/** SIGTERM/SIGINT: stop accepting, let in-flight requests finish, free the models, exit 0. */
export function installGracefulShutdown(server: MlxServer, log: Logger, exit: (code: number) => void = (c) => process.exit(c)): void {
  let closing = false
  const stop = (signal: string) => {
    if (closing) return
    closing = true
    const grace = server.shutdownGraceSeconds
    log.info(`${signal} received: finishing in-flight requests (at most ${grace} s, server.shutdownGraceSeconds)`)
    // close() returns at the drain's deadline; this is for a model whose dispose() never returns.
    // One second past the drain, still inside the grace the targets give (grace + 2 s on helm).
    setTimeout(() => {
      log.warn(`shutdown did not finish within server.shutdownGraceSeconds (${grace} s) and 1 s: exiting`)
      exit(1)
    }, grace * 1000 + 1000).unref()
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
