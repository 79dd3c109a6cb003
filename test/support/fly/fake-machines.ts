// A local stand-in for the Fly Machines REST API (https://docs.machines.dev), speaking the
// documented paths and JSON shapes: apps (GET/POST /v1/apps…), IP assignments, Machines
// (list/create/get/update/delete) and the long-polling wait. It checks what it receives (the
// token's Authorization header, app bodies, the image by digest and present in the registry,
// update bodies carrying the current instance_id, wait's state/timeout/instance_id) and keeps the
// state a real app would have. Anything it refuses lands in `rejected`, so a test can assert none.
// Machines "start" when waited for, unless `neverStart` is set (then wait answers 408 as Fly does).
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

export interface Call {
  readonly method: string
  readonly path: string
  readonly query: Record<string, string>
  readonly authorization?: string
  readonly body?: any
}

export interface FakeMachine {
  id: string
  name: string
  region: string
  state: string
  instance_id: string
  config: any
  checks: { name: string; status: string; output: string; updated_at: string }[]
  created_at: string
  updated_at: string
  /** Every instance this Machine had, oldest first (a new one per update). */
  instances: string[]
  neverStarts: boolean
}

export interface FakeApp {
  name: string
  org: string
  ips: { ip: string; type: string; shared: boolean; region: string; created_at: string }[]
  machines: Map<string, FakeMachine>
}

const hex = (n: number) => randomBytes(n).toString('hex')
const ulid = () => `01${randomBytes(12).toString('base64url').toUpperCase().replace(/[^0-9A-Z]/g, 'X').slice(0, 24)}`
const DIGEST_REF = /^(?<host>[^/]+)\/(?<repo>[a-z0-9._/-]+)@(?<digest>sha256:[a-f0-9]{64})$/

export class FakeFly {
  readonly calls: Call[] = []
  readonly rejected: string[] = []
  readonly apps = new Map<string, FakeApp>()
  /** Machines created or updated from now on never reach `started`. */
  neverStart = false
  private server?: Server

  constructor(private readonly opts: { token: string; orgs: string[]; registry: string; registryHost: string }) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server?.closeAllConnections()
      this.server?.close(() => resolve())
    })
  }

  /** Calls since index `from` as "METHOD /path". */
  seq(from = 0): string[] {
    return this.calls.slice(from).map((c) => `${c.method} ${c.path}`)
  }

  /** Deploy tokens are macaroons sent as `FlyV1 fm2_…`; anything else as Bearer. */
  private expectedAuth(): string {
    return /^fm\d\w*_/.test(this.opts.token) ? `FlyV1 ${this.opts.token}` : `Bearer ${this.opts.token}`
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url!, 'http://fly.test')
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    let body: any
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      return this.send(res, 400, { error: 'invalid JSON body' })
    }
    const call: Call = { method: req.method!, path: url.pathname, query: Object.fromEntries(url.searchParams), authorization: req.headers.authorization, body }
    this.calls.push(call)
    if (req.headers.authorization !== this.expectedAuth()) return this.send(res, 401, { error: 'unauthorized' })
    if (body !== undefined && !String(req.headers['content-type']).startsWith('application/json')) return this.reject(res, `${call.method} ${call.path}: body without content-type application/json`)
    try {
      await this.route(call, res)
    } catch (err) {
      this.send(res, 500, { error: String(err) })
    }
  }

  private send(res: ServerResponse, status: number, body?: unknown) {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(body === undefined ? '' : JSON.stringify(body))
  }

  private reject(res: ServerResponse, why: string, status = 400) {
    this.rejected.push(why)
    this.send(res, status, { error: why })
  }

  private async route(c: Call, res: ServerResponse) {
    const p = c.path.split('/').slice(1) // v1, apps, {app}, machines, {id}, wait
    if (p[0] !== 'v1' || p[1] !== 'apps') return this.send(res, 404, { error: 'not found' })
    if (p.length === 2 && c.method === 'POST') return this.createApp(c, res)
    const app = this.apps.get(p[2] ?? '')
    if (!app) return this.send(res, 404, { error: 'app not found' })
    if (p.length === 3 && c.method === 'GET') return this.send(res, 200, { id: `app-${app.name}`, name: app.name, status: app.machines.size ? 'deployed' : 'pending', organization: { name: app.org, slug: app.org } })
    if (p[3] === 'ip_assignments' && p.length === 4) return this.ips(app, c, res)
    if (p[3] !== 'machines') return this.send(res, 404, { error: 'not found' })
    if (p.length === 4 && c.method === 'GET') return this.send(res, 200, [...app.machines.values()].map(view))
    if (p.length === 4 && c.method === 'POST') return this.createMachine(app, c, res)
    const m = app.machines.get(p[4] ?? '')
    if (!m) return this.send(res, 404, { error: 'machine not found' })
    if (p.length === 5 && c.method === 'GET') return this.send(res, 200, view(m))
    if (p.length === 5 && c.method === 'POST') return this.updateMachine(app, m, c, res)
    if (p.length === 5 && c.method === 'DELETE') {
      if (c.query.force !== 'true' && m.state === 'started') return this.reject(res, `DELETE ${m.id}: a started Machine needs ?force=true`, 412)
      app.machines.delete(m.id)
      return this.send(res, 200, { ok: true })
    }
    if (p[5] === 'wait' && c.method === 'GET') return this.wait(m, c, res)
    return this.send(res, 404, { error: 'not found' })
  }

  private createApp(c: Call, res: ServerResponse) {
    const { app_name: name, org_slug: org } = c.body ?? {}
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(name)) return this.reject(res, `POST /v1/apps: app_name ${JSON.stringify(name)} is not an app name`, 422)
    if (!this.opts.orgs.includes(org)) return this.reject(res, `POST /v1/apps: org_slug ${JSON.stringify(org)} is not an organization of the token`, 404)
    if (this.apps.has(name)) return this.send(res, 422, { error: 'Name has already been taken' })
    this.apps.set(name, { name, org, ips: [], machines: new Map() })
    this.send(res, 201, { id: hex(8), created_at: Date.now() })
  }

  private ips(app: FakeApp, c: Call, res: ServerResponse) {
    if (c.method === 'GET') return this.send(res, 200, { ips: app.ips.map(({ type: _t, ...ip }) => ({ ...ip, service_name: '' })) })
    const type = c.body?.type
    if (!['v4', 'v6', 'shared_v4', 'private_v6'].includes(type)) return this.reject(res, `POST ip_assignments: type ${JSON.stringify(type)}`)
    const ip = type === 'shared_v4' ? '66.241.124.7' : type === 'v4' ? '137.66.1.9' : `2a09:8280:1::${hex(2)}`
    const made = { ip, type, shared: type === 'shared_v4', region: 'global', created_at: new Date().toISOString() }
    app.ips.push(made)
    this.send(res, 200, { ip, region: made.region, shared: made.shared, created_at: made.created_at, service_name: '' })
  }

  /** Fly pulls the image when the Machine starts: by digest, from the app's repository, which must hold it. */
  private async checkImage(app: FakeApp, config: any): Promise<string | undefined> {
    const ref = DIGEST_REF.exec(String(config?.image ?? ''))?.groups
    if (!ref) return `config.image ${JSON.stringify(config?.image)} is not REGISTRY/REPOSITORY@sha256:…`
    if (ref.host !== this.opts.registryHost || ref.repo !== app.name) return `config.image ${config.image} is not in ${this.opts.registryHost}/${app.name}`
    const head = await fetch(`http://${this.opts.registry}/v2/${ref.repo}/manifests/${ref.digest}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } })
    return head.status === 200 ? undefined : `config.image ${config.image}: manifest not found in the registry (HTTP ${head.status})`
  }

  private async createMachine(app: FakeApp, c: Call, res: ServerResponse) {
    const bad = await this.checkImage(app, c.body?.config)
    if (bad) return this.reject(res, `POST machines: ${bad}`, 422)
    if (typeof c.body.region !== 'string' || !/^[a-z]{3}$/.test(c.body.region)) return this.reject(res, `POST machines: region ${JSON.stringify(c.body.region)}`)
    const now = new Date().toISOString()
    const instance = ulid()
    const m: FakeMachine = { id: hex(7), name: `mlx-${hex(3)}`, region: c.body.region, state: 'created', instance_id: instance, config: c.body.config, checks: [], created_at: now, updated_at: now, instances: [instance], neverStarts: this.neverStart }
    app.machines.set(m.id, m)
    this.send(res, 200, view(m))
  }

  private async updateMachine(app: FakeApp, m: FakeMachine, c: Call, res: ServerResponse) {
    const bad = await this.checkImage(app, c.body?.config)
    if (bad) return this.reject(res, `POST machines/${m.id}: ${bad}`, 422)
    if (c.body.current_version !== undefined && c.body.current_version !== m.instance_id) return this.reject(res, `POST machines/${m.id}: current_version ${c.body.current_version} is not ${m.instance_id}`, 412)
    if (c.body.region !== undefined && c.body.region !== m.region) return this.reject(res, `POST machines/${m.id}: region is immutable`)
    m.instance_id = ulid()
    m.instances.push(m.instance_id)
    m.config = c.body.config
    m.state = 'replacing'
    m.checks = []
    m.neverStarts = this.neverStart
    m.updated_at = new Date().toISOString()
    this.send(res, 200, view(m))
  }

  private async wait(m: FakeMachine, c: Call, res: ServerResponse) {
    const { state, timeout, instance_id: instance } = c.query
    if (state !== 'started') return this.reject(res, `wait ${m.id}: state=${state}`)
    if (!/^\d+$/.test(timeout ?? '') || Number(timeout) < 1 || Number(timeout) > 60) return this.reject(res, `wait ${m.id}: timeout=${timeout} (1..60 seconds)`)
    if (instance !== undefined && instance !== m.instance_id) return this.reject(res, `wait ${m.id}: instance_id ${instance} is not the current ${m.instance_id}`)
    if (m.neverStarts) {
      m.state = 'starting'
      // Fly holds the call for `timeout` seconds; a short hold keeps the test fast.
      await new Promise((r) => setTimeout(r, Math.min(Number(timeout) * 1000, 200)))
      return this.send(res, 408, { error: `deadline_exceeded: machine ${m.id} did not reach started` })
    }
    m.state = 'started'
    const port = m.config?.services?.[0]?.internal_port
    m.checks = [{ name: `servicecheck-00-http-${port}`, status: 'passing', output: `[✓] GET http://[fdaa::3]:${port}/readyz: 200 OK`, updated_at: new Date().toISOString() }]
    this.send(res, 200, { ok: true })
  }
}

/** A Machine as the API returns it. */
function view(m: FakeMachine) {
  const { instances: _i, neverStarts: _n, ...out } = m
  const image = DIGEST_REF.exec(String(m.config?.image ?? ''))?.groups
  return { ...out, private_ip: 'fdaa:0:1:a7b:1::3', image_ref: image ? { registry: image.host, repository: image.repo, tag: '', digest: image.digest } : undefined }
}
