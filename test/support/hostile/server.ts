// A hostile platform API for the secrets and deadline tests: every request is recorded (headers,
// body, when), and a handler decides what each one gets: an error that echoes the request back
// (its headers as JSON and as raw lines, each credential's bare value, its body), a plain answer,
// a pass-through to a working fake behind it, or a fault: a connection accepted and never
// answered, headers then a body that stalls, or a TCP reset.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

export interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Record<string, string>
  readonly body: string
  readonly at: number
}

export type Action =
  /** Answers `status` with an error body that repeats the whole request, in every shape clients read errors from. */
  | { readonly echo: number }
  | { readonly status: number; readonly json?: unknown; readonly headers?: Record<string, string> }
  /** Forwards to a working server (http://host:port). */
  | { readonly proxy: string }
  /** Reads the request and never answers. */
  | 'hang'
  /** Sends 200 and half a JSON body, then nothing. */
  | 'stall'
  /** Resets the connection (RST) once the request is read. */
  | 'reset'

export type Handler = (req: Seen, n: number) => Action

/** Every way a credential can be read back from a request: the header value, the token after its scheme, a Basic pair's password. */
function credentialsOf(headers: Record<string, string>): string[] {
  const out: string[] = []
  for (const [k, v] of Object.entries(headers)) {
    if (!/authorization|token|api-key|cookie|secret|password/i.test(k)) continue
    out.push(v)
    const m = /^(\w+)\s+(.+)$/.exec(v)
    if (m) {
      out.push(m[2]!)
      if (m[1]!.toLowerCase() === 'basic') {
        const pair = Buffer.from(m[2]!, 'base64').toString('utf8')
        out.push(pair, pair.slice(pair.indexOf(':') + 1))
      }
    }
  }
  return out
}

/** The error text a careless platform writes: "invalid token 'X'", the headers as it saw them, the body. */
export function echoText(req: Seen): string {
  const creds = credentialsOf(req.headers)
  const lines = Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`)
  return [
    `request refused: ${req.method} ${req.url}`,
    ...creds.map((c) => `invalid credential '${c}'`),
    `headers: ${lines.join('; ')}`,
    `headers as JSON: ${JSON.stringify(req.headers)}`,
    `body: ${req.body.slice(0, 2000)}`,
  ].join('\n')
}

function echoBody(req: Seen, status: number): string {
  const text = echoText(req)
  return JSON.stringify({
    // Google's and GraphQL's and Kubernetes' and the registries' error shapes, all at once.
    error: { code: status, message: text, status: 'PERMISSION_DENIED' },
    errors: [{ message: text, code: 'DENIED', detail: req.headers }],
    message: text,
    detail: text,
    error_description: text,
    kind: 'Status',
    reason: 'Forbidden',
    code: status,
    headers: req.headers,
    rawHeaders: Object.entries(req.headers).flat(),
    body: req.body,
  })
}

export class HostileApi {
  readonly seen: Seen[] = []
  private server?: http.Server
  private readonly sockets = new Set<Socket>()
  url = ''
  host = ''
  /** With TLS: the self-signed certificate (PEM), for a client's CA setting. */
  cert = ''

  constructor(
    public handler: Handler,
    private readonly opts: { tls?: boolean } = {},
  ) {}

  async start(): Promise<this> {
    const listener = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res)
    if (this.opts.tls) {
      // Some clients (client-go, so helm) send a bearer token only over TLS.
      const dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-hostile-tls-'))
      const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')]
      await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
      this.cert = readFileSync(cert, 'utf8')
      this.server = https.createServer({ key: readFileSync(key), cert: this.cert }, listener)
      await rm(dir, { recursive: true, force: true })
    } else {
      this.server = http.createServer(listener)
    }
    // A stalled answer must not be cut by the server's own timeouts: only the client may give up.
    this.server.requestTimeout = 0
    this.server.headersTimeout = 0
    this.server.keepAliveTimeout = 60_000
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    const { port } = this.server.address() as AddressInfo
    this.host = `127.0.0.1:${port}`
    this.url = `${this.opts.tls ? 'https' : 'http'}://${this.host}`
    return this
  }

  /** When the first request arrived (ms since the epoch), for measuring how long a client held on. */
  get firstAt(): number | undefined {
    return this.seen[0]?.at
  }

  /** Connections still open: a client that gave up closes its own. */
  get open(): number {
    return this.sockets.size
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]))
    const seen: Seen = { method: req.method!, url: req.url!, headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() }
    this.seen.push(seen)
    let action: Action
    try {
      action = this.handler(seen, this.seen.length - 1)
    } catch (err) {
      action = { status: 500, json: { error: `hostile handler: ${(err as Error).message}` } }
    }
    if (action === 'hang') return
    if (action === 'reset') {
      // Under TLS the request's socket is the TLS layer: the reset goes to the TCP socket beneath it.
      const tcp = [...this.sockets].find((s) => s.remotePort === req.socket.remotePort) ?? req.socket
      tcp.resetAndDestroy()
      return
    }
    if (action === 'stall') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' })
      res.write('{"name": "')
      return
    }
    if ('echo' in action) {
      const body = echoBody(seen, action.echo)
      // Echoed in headers too: a client that logs response headers leaks them as well.
      const creds = credentialsOf(headers)
      res.writeHead(action.echo, { 'content-type': 'application/json', 'x-echo-credentials': creds.join(' | ').replace(/[^\x20-\x7e]/g, '?') })
      res.end(body)
      return
    }
    if ('proxy' in action) {
      const target = new URL(action.proxy)
      const request = target.protocol === 'https:' ? https.request : http.request
      // A test server's self-signed certificate is trusted: the client side is plain HTTP anyway.
      const up = request({ host: target.hostname, port: Number(target.port), method: req.method, path: req.url, headers: { ...req.headers, host: target.host }, rejectUnauthorized: false }, (ur) => {
        res.writeHead(ur.statusCode!, ur.headers)
        ur.pipe(res)
      })
      up.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' })
        res.end(String(err))
      })
      up.end(Buffer.concat(chunks))
      return
    }
    const body = action.json === undefined ? undefined : JSON.stringify(action.json)
    res.writeHead(action.status, { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...action.headers })
    res.end(body)
  }
}

export const startHostile = (handler: Handler, opts: { tls?: boolean } = {}) => new HostileApi(handler, opts).start()

export interface SilentServer {
  readonly host: string
  readonly url: string
  /** When the first connection was accepted. */
  readonly firstAt: number | undefined
  readonly accepted: number
  stop(): Promise<void>
}

/** Accepts TCP connections and never reads a byte: the request itself cannot even be sent in full. */
export async function startSilent(): Promise<SilentServer> {
  const { createServer } = await import('node:net')
  const sockets = new Set<Socket>()
  let firstAt: number | undefined
  let accepted = 0
  const server = createServer((s) => {
    accepted++
    firstAt ??= Date.now()
    s.pause()
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    host,
    url: `http://${host}`,
    get firstAt() {
      return firstAt
    },
    get accepted() {
      return accepted
    },
    async stop() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
