// A local stand-in for Google Cloud, speaking the documented wire formats so the real clients run
// unchanged against it:
//  - the GCE metadata server (what Application Default Credentials use last; found through
//    GCE_METADATA_HOST): project id and an OAuth access token, only with `Metadata-Flavor: Google`;
//  - the Cloud Run Admin API v2 over REST (@google-cloud/run with fallback: true): services
//    create/get/patch as long-running operations, operations polling, revisions, getIamPolicy and
//    setIamPolicy, with Google's JSON error shape.
// It checks what it receives (bearer token, paths, bodies, etags), records every request, and can
// fail on purpose: a revision that never becomes ready, 429 throttling. A revision also fails, as
// on Cloud Run, when its image is not in the registry by digest: the push must come first.
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

export interface Recorded {
  method: string
  path: string
  query: Record<string, string>
  authorized: boolean
  body?: Record<string, unknown>
}

interface Revision {
  name: string
  createTime: string
  labels: Record<string, unknown>
  containers: unknown[]
  ready: boolean
  message?: string
  template: Record<string, unknown>
}

interface Service {
  body: Record<string, unknown>
  generation: number
  etag: string
  uri: string
  revisions: Revision[]
  latestCreated?: string
  latestReady?: string
  terminal: { type: string; state: string; message?: string }
  policy: { version: number; bindings: { role: string; members: string[] }[]; etag: string }
}

interface Operation {
  name: string
  polls: number
  service: string
  error?: { code: number; message: string }
}

export interface FakeCloud {
  /** 127.0.0.1:PORT, for GCE_METADATA_HOST and apiEndpoint http://… */
  readonly host: string
  readonly project: string
  /** Every access token handed out (tests check none of them is ever printed). */
  readonly tokens: string[]
  readonly requests: Recorded[]
  readonly services: Map<string, Service>
  /** The next revision created fails to become ready with this message. */
  failNextRevision(message: string): void
  /** The next `n` Cloud Run API calls answer 429 RESOURCE_EXHAUSTED. */
  throttle(n: number): void
  /** Requests to the Run API (not the metadata server) since `from`. */
  runCalls(from?: number): Recorded[]
  serving(name: string): string | undefined
  close(): Promise<void>
}

const TRAFFIC = ['TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED', 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION']
const trafficName = (t: unknown) => (typeof t === 'number' ? TRAFFIC[t] : String(t))

/** Drops what proto3 JSON treats as unset, so a template read back and sent again compares equal. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? v.map(canonical) : undefined
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) {
      const c = canonical(x)
      if (c !== undefined) out[k] = c
    }
    return Object.keys(out).length ? out : undefined
  }
  if (v === '' || v === 0 || v === false || v === null || v === '0s') return undefined
  return v
}
const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}
const gError = (res: ServerResponse, code: number, status: string, message: string, headers?: Record<string, string>) => send(res, code, { error: { code, message, status } }, headers)

async function readBody(req: IncomingMessage): Promise<string> {
  let s = ''
  for await (const c of req) s += c
  return s
}

export async function startFakeCloud(opts: { project?: string; registry: string }): Promise<FakeCloud> {
  const project = opts.project ?? 'mlx-test-project'
  const tokens: string[] = []
  const requests: Recorded[] = []
  const services = new Map<string, Service>()
  const operations = new Map<string, Operation>()
  let failNext: string | undefined
  let throttled = 0
  let opCount = 0

  /** Cloud Run pulls the image by digest; one that is not in the registry fails the revision. */
  async function imageProblem(image: unknown): Promise<string | undefined> {
    const m = /^([^/]+)\/(.+)@(sha256:[a-f0-9]{64})$/.exec(String(image))
    if (!m) return `Image '${String(image)}' is not pinned by digest (mlx always deploys REGISTRY/REPO@sha256:…).`
    const [, host, repo, digest] = m
    if (host !== opts.registry) return `Image '${String(image)}' not found: this fake only knows the registry ${opts.registry}.`
    const r = await fetch(`http://${host}/v2/${repo}/manifests/${digest}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } }).catch(() => undefined)
    return r?.status === 200 ? undefined : `Image '${String(image)}' not found.`
  }

  function view(name: string, s: Service) {
    const traffic = (s.body.traffic as { type?: unknown; revision?: string; percent?: number }[] | undefined) ?? []
    const trafficStatuses = traffic.map((t) => ({
      type: trafficName(t.type),
      revision: trafficName(t.type) === TRAFFIC[1] ? (s.latestReady?.split('/').pop() ?? '') : t.revision,
      percent: t.percent,
    }))
    return {
      ...s.body,
      name,
      uid: 'uid-' + name.split('/').pop(),
      generation: String(s.generation),
      observedGeneration: String(s.generation),
      etag: s.etag,
      uri: s.uri,
      urls: [s.uri],
      reconciling: false,
      terminalCondition: s.terminal,
      conditions: [s.terminal],
      latestCreatedRevision: s.latestCreated ?? '',
      latestReadyRevision: s.latestReady ?? '',
      trafficStatuses,
    }
  }
  const revisionView = (r: Revision) => ({
    name: r.name,
    createTime: r.createTime,
    labels: r.labels,
    containers: r.containers,
    conditions: [{ type: 'Ready', state: r.ready ? 'CONDITION_SUCCEEDED' : 'CONDITION_FAILED', ...(r.message ? { message: r.message } : {}) }],
  })

  /** Applies a create or an update: a changed template makes a revision; traffic is checked. */
  async function reconcile(name: string, s: Service): Promise<Operation> {
    const template = (s.body.template ?? {}) as Record<string, unknown>
    const last = s.revisions.at(-1)
    let error: Operation['error']
    const given = typeof template.revision === 'string' && template.revision ? template.revision : undefined
    // A template change, or a revision name not used yet, makes a new revision.
    if (!last || (given && !last.name.endsWith(`/${given}`)) || !same({ ...last.template, revision: undefined }, { ...template, revision: undefined })) {
      const n = s.revisions.length + 1
      if (given && !given.startsWith(`${name.split('/').pop()}-`)) throw new Error(`template.revision must start with the service name: ${given}`)
      if (given && s.revisions.some((r) => r.name.endsWith(`/${given}`))) throw new Error(`revision ${given} already exists`)
      const revName = `${name}/revisions/${given ?? `${name.split('/').pop()}-${String(n).padStart(5, '0')}-${'abcdefghjk'[n % 10]}${'xyz'[n % 3]}q`}`
      const containers = (template.containers as { image?: unknown }[] | undefined) ?? []
      const problem = (await imageProblem(containers[0]?.image)) ?? failNext
      failNext = undefined
      const rev: Revision = { name: revName, createTime: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString(), labels: (template.labels as Record<string, unknown>) ?? {}, containers, ready: !problem, message: problem, template: structuredClone(template) }
      s.revisions.push(rev)
      s.latestCreated = revName
      if (rev.ready) s.latestReady = revName
      else error = { code: 9, message: `Revision '${revName.split('/').pop()}' is not ready and cannot serve traffic. ${problem}` }
    }
    // Traffic may only name revisions that exist and are ready.
    for (const t of (s.body.traffic as { type?: unknown; revision?: string; percent?: number }[] | undefined) ?? []) {
      if (trafficName(t.type) !== TRAFFIC[2]) continue
      const rev = s.revisions.find((r) => r.name.endsWith(`/revisions/${t.revision}`))
      if (!rev || !rev.ready) error = { code: 9, message: `Revision '${t.revision}' ${rev ? 'is not ready' : 'does not exist'}; traffic cannot be routed to it.` }
    }
    s.terminal = error ? { type: 'Ready', state: 'CONDITION_FAILED', message: error.message } : { type: 'Ready', state: 'CONDITION_SUCCEEDED' }
    s.generation++
    s.etag = `"${randomBytes(6).toString('hex')}"`
    const op = { name: `projects/${project}/locations/${name.split('/')[3]}/operations/op-${++opCount}`, polls: 0, service: name, error }
    operations.set(op.name, op)
    return op
  }

  const opView = (op: Operation) => ({ name: op.name, done: false, metadata: { '@type': 'type.googleapis.com/google.cloud.run.v2.Service', name: op.service } })

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x')
      const raw = await readBody(req)
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined
      const auth = req.headers.authorization ?? ''
      const rec: Recorded = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), authorized: tokens.some((t) => auth === `Bearer ${t}`), body }
      requests.push(rec)

      // ---- metadata server
      if (url.pathname.startsWith('/computeMetadata/v1')) {
        if (req.headers['metadata-flavor'] !== 'Google') return send(res, 403, { error: 'Missing Metadata-Flavor: Google header' })
        res.setHeader('Metadata-Flavor', 'Google')
        const p = url.pathname.slice('/computeMetadata/v1'.length)
        if (p === '/project/project-id') return res.writeHead(200, { 'content-type': 'application/text' }).end(project)
        if (p === '/instance/service-accounts/default/token') {
          if (!String(url.searchParams.get('scopes')).includes('https://www.googleapis.com/auth/cloud-platform')) return send(res, 400, { error: 'cloud-platform scope expected' })
          const token = `ya29.fake-${randomBytes(12).toString('hex')}`
          tokens.push(token)
          return send(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' })
        }
        if (p === '/instance' || p === '/instance/') return send(res, 200, {})
        return res.writeHead(404).end('not found')
      }

      // ---- Cloud Run Admin API v2
      if (!rec.authorized) return gError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.')
      if (throttled > 0) {
        throttled--
        return gError(res, 429, 'RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Write requests' of service 'run.googleapis.com'.", { 'retry-after': '0' })
      }
      const p = url.pathname
      let m: RegExpExecArray | null
      if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/operations\/[^/:]+)$/.exec(p)) && req.method === 'GET') {
        const op = operations.get(m[1]!)
        if (!op) return gError(res, 404, 'NOT_FOUND', `Operation ${m[1]} not found`)
        // Not done on the first poll, as a real rollout takes a while.
        if (op.polls++ === 0) return send(res, 200, opView(op))
        const s = services.get(op.service)!
        return send(res, 200, { ...opView(op), done: true, ...(op.error ? { error: op.error } : { response: { '@type': 'type.googleapis.com/google.cloud.run.v2.Service', ...view(op.service, s) } }) })
      }
      if ((m = /^\/v2\/(projects\/([^/]+)\/locations\/([^/]+))\/services$/.exec(p)) && req.method === 'POST') {
        const id = url.searchParams.get('serviceId') ?? ''
        if (m[2] !== project) return gError(res, 403, 'PERMISSION_DENIED', `Permission 'run.services.create' denied on project ${m[2]}`)
        if (!/^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$/.test(id)) return gError(res, 400, 'INVALID_ARGUMENT', `serviceId '${id}' is invalid`)
        const name = `${m[1]}/services/${id}`
        if (services.has(name)) return gError(res, 409, 'ALREADY_EXISTS', `Resource '${id}' already exists.`)
        if (!body || body.name) return gError(res, 400, 'INVALID_ARGUMENT', 'service.name must be empty on create; it comes from parent and serviceId')
        const s: Service = { body, generation: 0, etag: '', uri: `https://${id}-x7f3kq2lba-${m[3]!.replace(/[^a-z]/g, '').slice(0, 2)}.a.run.app`, revisions: [], terminal: { type: 'Ready', state: 'CONDITION_RECONCILING' }, policy: { version: 1, bindings: [], etag: 'BwYAAAAAAAA=' } }
        services.set(name, s)
        return send(res, 200, opView(await reconcile(name, s)))
      }
      if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/:]+)(:getIamPolicy|:setIamPolicy)?$/.exec(p))) {
        const name = m[1]!
        const s = services.get(name)
        if (!s) return gError(res, 404, 'NOT_FOUND', `Resource '${name.split('/').pop()}' of kind 'SERVICE' in region '${name.split('/')[3]}' in project '${name.split('/')[1]}' does not exist.`)
        if (m[2] === ':getIamPolicy' && req.method === 'GET') return send(res, 200, s.policy)
        if (m[2] === ':setIamPolicy' && req.method === 'POST') {
          const policy = body?.policy as Service['policy'] | undefined
          if (!policy) return gError(res, 400, 'INVALID_ARGUMENT', 'policy is required')
          if (policy.etag && policy.etag !== s.policy.etag) return gError(res, 409, 'ABORTED', 'There were concurrent policy changes.')
          s.policy = { version: 1, bindings: policy.bindings ?? [], etag: randomBytes(8).toString('base64') }
          return send(res, 200, s.policy)
        }
        if (!m[2] && req.method === 'GET') return send(res, 200, view(name, s))
        if (!m[2] && req.method === 'PATCH') {
          if (!body) return gError(res, 400, 'INVALID_ARGUMENT', 'service is required')
          if (body.etag && body.etag !== s.etag) return gError(res, 409, 'ABORTED', 'The service was modified concurrently (etag mismatch).')
          // Output-only fields sent back are ignored, as the API does.
          const { uri: _u, etag: _e, generation: _g, observedGeneration: _o, terminalCondition: _t, conditions: _c, latestCreatedRevision: _lc, latestReadyRevision: _lr, trafficStatuses: _ts, urls: _urls, reconciling: _r, uid: _uid, ...rest } = body
          s.body = rest
          return send(res, 200, opView(await reconcile(name, s)))
        }
      }
      if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/:]+)\/revisions(?:\/([^/:]+))?$/.exec(p)) && req.method === 'GET') {
        const s = services.get(m[1]!)
        if (!s) return gError(res, 404, 'NOT_FOUND', `Service ${m[1]} does not exist.`)
        if (!m[2]) return send(res, 200, { revisions: [...s.revisions].reverse().map(revisionView) })
        const rev = s.revisions.find((r) => r.name === `${m![1]}/revisions/${m![2]}`)
        return rev ? send(res, 200, revisionView(rev)) : gError(res, 404, 'NOT_FOUND', `Revision ${m[2]} does not exist.`)
      }
      return gError(res, 404, 'NOT_FOUND', `fake Cloud Run: no route for ${req.method} ${p}`)
    })().catch((err: unknown) => {
      if (!res.headersSent) gError(res, 500, 'INTERNAL', String(err))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`

  return {
    host,
    project,
    tokens,
    requests,
    services,
    failNextRevision: (message) => void (failNext = message),
    throttle: (n) => void (throttled = n),
    runCalls: (from = 0) => requests.slice(from).filter((r) => r.path.startsWith('/v2/')),
    serving(name) {
      const s = services.get(name)
      if (!s) return undefined
      const t = ((s.body.traffic as { type?: unknown; revision?: string; percent?: number }[] | undefined) ?? []).find((x) => (x.percent ?? 0) > 0)
      return t && trafficName(t.type) === TRAFFIC[2] ? t.revision : s.latestReady?.split('/').pop()
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
