// registry.fly.io's login in front of the shared test registry: every request needs Basic auth
// with user `x` and the Fly token as the password (what `fly auth docker` writes), else 401 with a
// Basic challenge. Accepted requests go on to the registry unchanged; the users seen are recorded.
import http from 'node:http'

export interface RegistryLogin {
  /** 127.0.0.1:PORT, for targets.fly.registry. */
  readonly host: string
  /** `user:ok` or `user:refused` per authenticated request, `none` for anonymous ones. */
  readonly seen: string[]
  close(): Promise<void>
}

export async function startRegistryLogin(upstream: string, password: string): Promise<RegistryLogin> {
  const seen: string[] = []
  const [uhost, uport] = upstream.split(':')
  const server = http.createServer((req, res) => {
    const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    const [user, pass] = auth ? Buffer.from(auth, 'base64').toString('utf8').split(/:(.*)/s) : []
    const ok = user === 'x' && pass === password
    seen.push(auth ? `${user}:${ok ? 'ok' : 'refused'}` : 'none')
    if (!ok) {
      req.resume()
      res.writeHead(401, { 'www-authenticate': 'Basic realm="registry.fly.io"', 'content-type': 'application/json' })
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }))
      return
    }
    const { authorization: _a, ...headers } = req.headers
    const up = http.request({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers }, (ur) => {
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
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
