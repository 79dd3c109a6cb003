// A local stand-in for the UbiOps REST API v2.1: the documented paths and JSON, a Token header it
// checks on every call, multipart revision uploads it unpacks far enough to see a deployment
// package, builds that go queued → building → success|failed, signed-URL file uploads, and
// failures injected on demand (429 with Retry-After, a failing build).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { listZip } from '../../../packages/targets/ubiops/src/zip.js'

export interface Field {
  name: string
  data_type: string
}
export interface FakeVersion {
  version: string
  status: string
  creation_date: string
  active_revision: string | null
  environment: string
  body: Record<string, unknown>
  revisions: FakeRevision[]
}
export interface FakeRevision {
  id: string
  status: string
  error_message: string | null
  polls: number
  zipFile: string
  zipEntries: string[]
}
export interface FakeDeployment {
  name: string
  input_type: string
  output_type: string
  input_fields: Field[]
  output_fields: Field[]
  default_version: string | null
  versions: FakeVersion[]
}
export interface Call {
  method: string
  path: string
  auth?: string
  body?: unknown
}
export interface Injected {
  method: string
  path: RegExp
  status: number
  retryAfter?: string
  times: number
}

export class FakeUbiops {
  readonly project: string
  readonly token: string
  readonly deployments = new Map<string, FakeDeployment>()
  readonly calls: Call[] = []
  readonly files = new Map<string, Buffer>()
  readonly injected: Injected[] = []
  /** What the next build ends as. */
  buildOutcome: { status: 'success' } | { status: 'failed'; error_message: string } = { status: 'success' }
  /** What a version request answers (the fake does not run models). */
  answer: (data: Record<string, unknown>) => { status: string; result?: unknown; error_message?: string | null } = () => ({ status: 'completed', result: {} })
  private server?: Server
  private dir = ''
  private clock = Date.parse('2026-01-01T00:00:00Z')
  private ids = 0
  url = ''

  constructor(opts: { project: string; token: string }) {
    this.project = opts.project
    this.token = opts.token
  }

  async start(): Promise<string> {
    this.dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-fake-ubiops-'))
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => send(res, 500, { error: `fake: ${err.message}` }))
    })
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r))
    const { port } = this.server.address() as { port: number }
    this.url = `http://127.0.0.1:${port}/v2.1`
    return this.url
  }

  async stop() {
    await new Promise<void>((r) => this.server?.close(() => r()))
  }

  reset() {
    this.deployments.clear()
    this.calls.length = 0
    this.injected.length = 0
    this.files.clear()
    this.buildOutcome = { status: 'success' }
    this.answer = () => ({ status: 'completed', result: {} })
  }

  fail(method: string, p: RegExp, status: number, times = 1, retryAfter?: string) {
    this.injected.push({ method, path: p, status, times, retryAfter })
  }

  /** A deployment that already exists, with versions created in the order given. */
  seed(name: string, fields: { input: Field[]; output: Field[] }, versions: string[], defaultVersion: string | null) {
    const dep: FakeDeployment = { name, input_type: 'structured', output_type: 'structured', input_fields: fields.input, output_fields: fields.output, default_version: defaultVersion, versions: [] }
    for (const v of versions) dep.versions.push(this.newVersion({ version: v, environment: 'python3-12' }, 'available'))
    this.deployments.set(name, dep)
    return dep
  }

  private newVersion(body: Record<string, unknown>, status = 'unavailable'): FakeVersion {
    this.clock += 60_000
    return { version: String(body.version), status, creation_date: new Date(this.clock).toISOString(), active_revision: status === 'available' ? `rev-seed-${String(body.version)}` : null, environment: String(body.environment), body, revisions: [] }
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url!, 'http://x')
    const raw = await readBody(req)
    const p = url.pathname
    // Signed upload URLs carry no API token, as on UbiOps' storage.
    const up = /^\/upload\/(.+)$/.exec(p)
    if (up && req.method === 'PUT') {
      if (req.headers.authorization) return send(res, 400, { error: 'a signed URL must not get the API token' })
      this.files.set(decodeURIComponent(up[1]!), raw)
      this.calls.push({ method: 'PUT', path: p })
      return send(res, 200, {})
    }
    const ct = req.headers['content-type'] ?? ''
    const body = ct.includes('application/json') && raw.length ? JSON.parse(raw.toString('utf8')) : undefined
    this.calls.push({ method: req.method!, path: p + url.search, auth: req.headers.authorization, body })
    if (req.headers.authorization !== `Token ${this.token}`) return send(res, 401, { error: 'Authentication credentials were not provided or are invalid.' })
    const inj = this.injected.find((i) => i.method === req.method && i.path.test(p) && i.times > 0)
    if (inj) {
      inj.times--
      return send(res, inj.status, { error: inj.status === 429 ? 'Too many requests' : 'injected failure' }, inj.retryAfter ? { 'Retry-After': inj.retryAfter } : {})
    }
    const base = `/v2.1/projects/${this.project}`
    if (!p.startsWith(`${base}/`)) return send(res, 404, { error: 'Project not found' })
    const rest = p.slice(base.length)
    let m: RegExpExecArray | null

    if ((m = /^\/buckets\/([^/]+)\/files\/(.+)$/.exec(rest)) && req.method === 'POST') {
      const key = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`
      return send(res, 201, { url: `${this.url.replace('/v2.1', '')}/upload/${encodeURIComponent(key)}`, provider: 'google' })
    }
    if (rest === '/deployments' && req.method === 'POST') {
      const b = body as Partial<FakeDeployment> & { name?: string }
      if (!b?.name || !['structured', 'plain'].includes(String(b.input_type)) || !Array.isArray(b.input_fields) || !Array.isArray(b.output_fields)) return send(res, 400, { error: 'name, input_type, output_type and fields are required' })
      const types = ['int', 'double', 'string', 'bool', 'dict', 'file', 'array_int', 'array_double', 'array_string', 'array_file']
      const bad = [...b.input_fields, ...b.output_fields].find((f) => !types.includes(f.data_type))
      if (bad) return send(res, 400, { error: `data_type ${bad.data_type} of field ${bad.name} is not valid` })
      if (this.deployments.has(b.name)) return send(res, 400, { error: 'Deployment already exists' })
      const dep: FakeDeployment = { name: b.name, input_type: String(b.input_type), output_type: String(b.output_type), input_fields: b.input_fields, output_fields: b.output_fields, default_version: null, versions: [] }
      this.deployments.set(b.name, dep)
      return send(res, 201, view(dep))
    }
    if (!(m = /^\/deployments\/([^/]+)(\/.*)?$/.exec(rest))) return send(res, 404, { error: 'Not found' })
    const dep = this.deployments.get(decodeURIComponent(m[1]!))
    if (!dep) return send(res, 404, { error: 'Deployment not found' })
    const sub = m[2] ?? ''
    if (sub === '') {
      if (req.method === 'GET') return send(res, 200, view(dep))
      if (req.method === 'PATCH') {
        const dv = (body as { default_version?: string }).default_version
        if (dv !== undefined) {
          if (!dep.versions.some((v) => v.version === dv)) return send(res, 400, { error: `Version ${dv} does not exist` })
          dep.default_version = dv
        }
        return send(res, 200, view(dep))
      }
    }
    if (sub === '/versions') {
      if (req.method === 'GET') return send(res, 200, dep.versions.map(versionView))
      if (req.method === 'POST') {
        const b = body as Record<string, unknown>
        if (typeof b?.version !== 'string' || typeof b.environment !== 'string') return send(res, 400, { error: 'version and environment are required' })
        if (dep.versions.length >= 5) return send(res, 400, { error: 'The maximum number of versions (5) for this deployment has been reached' })
        if (dep.versions.some((v) => v.version === b.version)) return send(res, 400, { error: 'Version already exists' })
        const v = this.newVersion(b)
        dep.versions.push(v)
        dep.default_version ??= v.version
        return send(res, 201, versionView(v))
      }
    }
    if (!(m = /^\/versions\/([^/]+)(\/.*)?$/.exec(sub))) return send(res, 404, { error: 'Not found' })
    const v = dep.versions.find((x) => x.version === decodeURIComponent(m![1]!))
    if (!v) return send(res, 404, { error: 'Version not found' })
    const vsub = m[2] ?? ''
    if (vsub === '' && req.method === 'GET') return send(res, 200, versionView(v))
    if (vsub === '' && req.method === 'DELETE') {
      if (dep.default_version === v.version) return send(res, 400, { error: 'The default version cannot be deleted' })
      dep.versions.splice(dep.versions.indexOf(v), 1)
      return send(res, 204)
    }
    if (vsub === '/revisions' && req.method === 'POST') {
      if (!ct.startsWith('multipart/form-data')) return send(res, 400, { error: 'expected multipart/form-data' })
      const form = await new Request('http://x', { method: 'POST', headers: { 'content-type': ct }, body: raw }).formData()
      const file = form.get('file')
      if (!(file instanceof Blob)) return send(res, 400, { error: 'field file is required' })
      const zipFile = path.join(this.dir, `${++this.ids}.zip`)
      await writeFile(zipFile, Buffer.from(await file.arrayBuffer()))
      const entries = (await listZip(zipFile).catch(() => [])).map((e) => e.name)
      if (!entries.includes('deployment_package/deployment.py')) return send(res, 400, { error: 'The uploaded file is not a valid deployment package: deployment.py not found' })
      const rev: FakeRevision = { id: `rev-${this.ids}`, status: 'queued', error_message: null, polls: 0, zipFile, zipEntries: entries }
      v.revisions.push(rev)
      return send(res, 201, { success: true, revision: rev.id, build: rev.id })
    }
    if ((m = /^\/revisions\/([^/]+)$/.exec(vsub)) && req.method === 'GET') {
      const rev = v.revisions.find((r) => r.id === m![1])
      if (!rev) return send(res, 404, { error: 'Revision not found' })
      // queued → building → outcome, one step per poll.
      rev.polls++
      if (rev.polls === 2) rev.status = 'building'
      if (rev.polls >= 3 && (rev.status === 'queued' || rev.status === 'building')) {
        rev.status = this.buildOutcome.status
        if (this.buildOutcome.status === 'failed') rev.error_message = this.buildOutcome.error_message
        else {
          v.active_revision = rev.id
          v.status = 'available'
        }
      }
      return send(res, 200, { id: rev.id, version: v.version, status: rev.status, error_message: rev.error_message, creation_date: v.creation_date })
    }
    if (vsub === '/requests' && req.method === 'POST') {
      if (v.status !== 'available') return send(res, 400, { error: 'Version is not available' })
      const a = this.answer(body as Record<string, unknown>)
      return send(res, 200, { id: `req-${++this.ids}`, deployment: dep.name, version: v.version, status: a.status, result: a.result ?? null, error_message: a.error_message ?? null, timeout: Number(url.searchParams.get('timeout') ?? 300) })
    }
    return send(res, 404, { error: 'Not found' })
  }
}

const view = (d: FakeDeployment) => ({ name: d.name, input_type: d.input_type, output_type: d.output_type, input_fields: d.input_fields, output_fields: d.output_fields, default_version: d.default_version })
const versionView = (v: FakeVersion) => ({ version: v.version, status: v.status, creation_date: v.creation_date, active_revision: v.active_revision, environment: v.environment })

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers })
  res.end(body === undefined ? undefined : JSON.stringify(body))
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}
