// A recording, fault-injecting HTTP proxy in front of the test registry: every request is logged
// (method + path + status), and a rule can make matching requests fail once or more, with a 500
// answer or a dropped connection, before they reach the registry.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Logged {
  readonly method: string
  readonly path: string
  status?: number
  readonly injected?: 'status' | 'drop'
}

export interface Fault {
  readonly method?: string
  readonly path: RegExp
  /** Answer this status instead of forwarding, or cut the connection mid-request. */
  readonly action: { status: number; retryAfter?: string } | 'drop'
  /** How many matching requests fail (Infinity for all). */
  times: number
  /** Let this many matching requests through before failing. */
  skip?: number
}

export interface RegistryProxy {
  readonly host: string
  readonly log: Logged[]
  readonly faults: Fault[]
  /** Requests that sent blob bytes: monolithic PUTs with a body, PATCH chunks, POST ?digest= uploads. */
  uploads(since?: number): Logged[]
  mounts(since?: number): Logged[]
  close(): Promise<void>
}

const isUpload = (l: Logged) => /\/blobs\/uploads\//.test(l.path) && (l.method === 'PATCH' || l.method === 'PUT')
const isMount = (l: Logged) => l.method === 'POST' && /[?&]mount=/.test(l.path)

export async function startProxy(upstream: string): Promise<RegistryProxy> {
  const log: Logged[] = []
  const faults: Fault[] = []
  const [uhost, uport] = upstream.split(':')
  const server = http.createServer((req, res) => {
    const entry: Logged = { method: req.method!, path: req.url! }
    const fault = faults.find((f) => (!f.method || f.method === req.method) && f.path.test(req.url!) && f.times > 0)
    if (fault && (fault.skip ?? 0) > 0) fault.skip!--
    else if (fault) {
      fault.times--
      if (fault.action === 'drop') {
        log.push({ ...entry, injected: 'drop' })
        // Read a little of the body, then cut the connection: the client sees a reset mid-upload.
        req.once('data', () => req.socket.destroy())
        req.once('end', () => req.socket.destroy())
        return
      }
      log.push({ ...entry, status: fault.action.status, injected: 'status' })
      req.resume()
      req.on('end', () => {
        res.writeHead(fault.action !== 'drop' ? fault.action.status : 500, {
          'Content-Type': 'application/json',
          ...(fault.action !== 'drop' && fault.action.retryAfter ? { 'Retry-After': fault.action.retryAfter } : {}),
        })
        res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'injected by the test proxy' }] }))
      })
      return
    }
    log.push(entry)
    const up = http.request({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      entry.status = ur.statusCode
      res.writeHead(ur.statusCode!, ur.headers)
      ur.pipe(res)
    })
    up.on('error', (err) => {
      res.writeHead(502)
      res.end(String(err))
    })
    req.pipe(up)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    host: `127.0.0.1:${port}`,
    log,
    faults,
    uploads: (since = 0) => log.slice(since).filter((l) => isUpload(l) && !l.injected),
    mounts: (since = 0) => log.slice(since).filter(isMount),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
