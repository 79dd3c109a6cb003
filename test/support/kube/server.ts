// A small Kubernetes API server (HTTPS) for the helm target, enough for mlx's apply path AND the
// real helm v4 binary (`helm upgrade --install --wait=watcher --rollback-on-failure`): version,
// legacy discovery (/api, /apis, per group/version), OpenAPI v3 (whose PATCH operations declare
// fieldValidation, so clients validate on the server), server-side apply PATCH, POST/PUT/GET/DELETE,
// lists with label/field selectors, watch streams (resourceVersion replay, sendInitialEvents with
// the initial-events-end bookmark), pod logs, and helm's release Secrets, which client-go sends as
// protobuf (decoded here). It CHECKS what it receives (bearer token, content types, fieldManager /
// force, bodies that match their URL, resourceVersion on update), stores what it gets, and plays a
// scripted rollout per image: ready after N steps, never ready, CrashLoopBackOff with logs,
// ImagePullBackOff, Unschedulable. A step is a GET of the Deployment, or a tick while it is watched.
// It can also fail chosen requests (429 with Retry-After, 500) to exercise retries.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'

export type Behaviour = { kind: 'ready'; afterPolls: number } | { kind: 'never' } | { kind: 'crashloop'; logs: string[] } | { kind: 'imagepull' } | { kind: 'unschedulable' }

export interface Recorded {
  method: string
  path: string
  query: Record<string, string>
  contentType?: string
  accept?: string
  userAgent?: string
  auth?: string
  body?: unknown
}

interface Stored {
  obj: Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  generation: number
  polls: number
}

const RESOURCES: Record<string, { kind: string; name: string; namespaced: boolean }[]> = {
  'api/v1': [
    { kind: 'Namespace', name: 'namespaces', namespaced: false },
    { kind: 'Service', name: 'services', namespaced: true },
    { kind: 'ServiceAccount', name: 'serviceaccounts', namespaced: true },
    { kind: 'Pod', name: 'pods', namespaced: true },
    { kind: 'Secret', name: 'secrets', namespaced: true },
  ],
  'apis/apps/v1': [
    { kind: 'Deployment', name: 'deployments', namespaced: true },
    { kind: 'ReplicaSet', name: 'replicasets', namespaced: true },
  ],
  'apis/autoscaling/v2': [{ kind: 'HorizontalPodAutoscaler', name: 'horizontalpodautoscalers', namespaced: true }],
  'apis/networking.k8s.io/v1': [{ kind: 'Ingress', name: 'ingresses', namespaced: true }],
}

/** Protocol-buffer wire fields (number -> values), enough to read the Kubernetes envelope and a Secret. */
function pbFields(buf: Buffer): Map<number, (Buffer | number)[]> {
  const out = new Map<number, (Buffer | number)[]>()
  let i = 0
  const varint = () => {
    let v = 0
    let mul = 1
    for (;;) {
      const b = buf[i++]!
      v += (b & 0x7f) * mul
      if (b < 0x80) return v
      mul *= 128
    }
  }
  while (i < buf.length) {
    const key = varint()
    const [field, wire] = [Math.floor(key / 8), key & 7]
    let v: Buffer | number
    if (wire === 0) v = varint()
    else if (wire === 2) {
      const n = varint()
      v = buf.subarray(i, i + n)
      i += n
    } else if (wire === 1 || wire === 5) {
      v = buf.subarray(i, i + (wire === 1 ? 8 : 4))
      i += wire === 1 ? 8 : 4
    } else throw new Error(`protobuf wire type ${wire}`)
    out.set(field, [...(out.get(field) ?? []), v])
  }
  return out
}

/**
 * client-go sends built-in types as application/vnd.kubernetes.protobuf (helm's release Secrets):
 * the "k8s\0" envelope (runtime.Unknown) around a v1 Secret, decoded to the JSON form. Only Secrets
 * are read; anything else is undefined (and a violation).
 */
export function decodeProtobufSecret(raw: Buffer): Record<string, any> | undefined { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (raw.subarray(0, 4).toString('latin1') !== 'k8s\0') return undefined
  const env = pbFields(raw.subarray(4))
  const tm = pbFields(env.get(1)![0] as Buffer)
  const str = (f: Map<number, (Buffer | number)[]>, n: number) => (f.get(n)?.[0] as Buffer | undefined)?.toString('utf8')
  if (str(tm, 1) !== 'v1' || str(tm, 2) !== 'Secret') return undefined
  const secret = pbFields(env.get(2)![0] as Buffer)
  const map = (entries: (Buffer | number)[] | undefined, enc: 'base64' | 'utf8') => {
    if (!entries) return undefined
    return Object.fromEntries(entries.map((e) => pbFields(e as Buffer)).map((kv) => [str(kv, 1)!, ((kv.get(2)?.[0] as Buffer | undefined) ?? Buffer.alloc(0)).toString(enc)]))
  }
  const meta = pbFields(secret.get(1)![0] as Buffer)
  const metadata = Object.fromEntries(
    Object.entries({ name: str(meta, 1), namespace: str(meta, 3), uid: str(meta, 5), resourceVersion: str(meta, 6), labels: map(meta.get(11), 'utf8'), annotations: map(meta.get(12), 'utf8') }).filter(([, v]) => v),
  )
  return { apiVersion: 'v1', kind: 'Secret', metadata, type: str(secret, 3), data: map(secret.get(2), 'base64') ?? {} }
}

/** managedFields' fieldsV1 of an object: its fields as {"f:name": {...}} (lists as leaves). */
const fieldSet = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'apiVersion' && k !== 'kind').map(([k, x]) => [`f:${k}`, fieldSet(x)])) : {}

export class FakeKube {
  readonly requests: Recorded[] = []
  readonly objects = new Map<string, Stored>()
  /** Protocol mistakes mlx made (wrong content type, missing fieldManager, body/URL mismatch...). */
  readonly violations: string[] = []
  behaviour: (image: string) => Behaviour = () => ({ kind: 'ready', afterPolls: 1 })
  /** Field managers a server-side apply may use (mlx for apply mode, helm for helm mode). */
  fieldManagers = ['mlx']
  /** Whether server-side applies must pass force=true (mlx does; helm does not by default). */
  requireForce = true
  /** While a Deployment is watched, its scripted rollout advances one step per tick. */
  tickMs = 100
  /** Called with each request as it arrives (for logging while debugging the fake). */
  onRequest?: (r: Recorded) => void
  private rv = 1
  private readonly events: { type: string; key: string; rv: number; obj: Record<string, any> }[] = [] // eslint-disable-line @typescript-eslint/no-explicit-any
  private readonly watchers = new Set<{ kind: string; match: (o: Record<string, any>) => boolean; res: ServerResponse }>() // eslint-disable-line @typescript-eslint/no-explicit-any
  private failures: { method: string; path: RegExp; status: number; headers: Record<string, string>; times: number }[] = []
  private server!: Server
  url = ''
  kubeconfig = ''

  constructor(readonly token: string) {}

  async start(): Promise<this> {
    // TLS with a throwaway self-signed certificate that the kubeconfig names as the cluster's CA:
    // helm (client-go) will not send a bearer token over plain HTTP.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-kube-'))
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')]
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    this.server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => void this.handle(req, res))
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.url = `https://127.0.0.1:${(this.server.address() as { port: number }).port}`
    const ca = readFileSync(cert).toString('base64')
    this.kubeconfig = path.join(dir, 'kubeconfig.yaml')
    await writeFile(
      this.kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ${this.url}\n    certificate-authority-data: ${ca}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: deployer\n    namespace: default\ncurrent-context: fake\nusers:\n- name: deployer\n  user:\n    token: ${this.token}\n`,
    )
    return this
  }

  stop(): Promise<void> {
    for (const w of this.watchers) w.res.end()
    return new Promise((r) => this.server.close(() => r()))
  }

  /** The next `times` requests matching method and path get `status`. */
  fail(method: string, path: RegExp, status: number, opts: { headers?: Record<string, string>; times?: number } = {}) {
    this.failures.push({ method, path, status, headers: opts.headers ?? {}, times: opts.times ?? 1 })
  }

  reset() {
    this.requests.length = 0
    this.violations.length = 0
  }

  get(kind: string, namespace: string | undefined, name: string) {
    return this.objects.get(`${kind}/${namespace ?? ''}/${name}`)?.obj
  }

  deploymentImage(namespace: string, name: string): string | undefined {
    return this.get('Deployment', namespace, name)?.spec?.template?.spec?.containers?.[0]?.image
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }

  private statusBody(code: number, message: string, reason = 'BadRequest') {
    return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code }
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const u = new URL(req.url ?? '/', this.url)
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const bytes = Buffer.concat(chunks)
    const raw = bytes.toString('utf8')
    const rec: Recorded = { method: req.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams), contentType: req.headers['content-type'], accept: req.headers.accept, userAgent: req.headers['user-agent'], auth: req.headers.authorization }
    if (rec.contentType === 'application/vnd.kubernetes.protobuf') {
      rec.body = decodeProtobufSecret(bytes)
      if (!rec.body) this.violations.push(`${rec.method} ${u.pathname}: a protobuf body the fake cannot read (it reads v1 Secrets)`)
    } else {
      try {
        rec.body = raw ? parse(raw) : undefined
      } catch {
        rec.body = raw
      }
    }
    this.requests.push(rec)
    this.onRequest?.(rec)

    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, 401, this.statusBody(401, 'Unauthorized', 'Unauthorized'))
    const f = this.failures.find((x) => x.times > 0 && x.method === rec.method && x.path.test(rec.path))
    if (f) {
      f.times--
      return this.send(res, f.status, this.statusBody(f.status, `injected ${f.status}`, 'TooManyRequests'), f.headers)
    }

    if (rec.method === 'GET' && u.pathname === '/version') return this.send(res, 200, { major: '1', minor: '34', gitVersion: 'v1.34.0', platform: 'linux/amd64' })
    // Legacy (unaggregated) discovery: a client asking for the aggregated kind gets plain JSON and
    // falls back, as it does against API servers older than 1.26.
    if (rec.method === 'GET' && u.pathname === '/api') return this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.url.replace('https://', '') }] })
    if (rec.method === 'GET' && u.pathname === '/apis') {
      const groups = Object.keys(RESOURCES)
        .filter((k) => k.startsWith('apis/'))
        .map((k) => {
          const [, name, version] = k.split('/')
          const gv = { groupVersion: `${name}/${version}`, version: version! }
          return { name: name!, versions: [gv], preferredVersion: gv }
        })
      return this.send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups })
    }
    // OpenAPI v3, which helm (client-go's builder) downloads to validate objects before sending
    // them: one document per group/version with a schema per kind, typed at the top level only.
    if (rec.method === 'GET' && u.pathname === '/openapi/v3') return this.send(res, 200, { paths: Object.fromEntries(Object.keys(RESOURCES).map((k) => [k, { serverRelativeURL: `/openapi/v3/${k}?hash=${k.length}` }])) })
    if (rec.method === 'GET' && u.pathname.startsWith('/openapi/v3/') && RESOURCES[u.pathname.slice('/openapi/v3/'.length)]) {
      const k = u.pathname.slice('/openapi/v3/'.length)
      const gv = k.replace(/^apis?\//, '')
      const [group, version] = gv.includes('/') ? gv.split('/') : ['', gv]
      const object = { type: 'object' }
      const schemas = Object.fromEntries(
        RESOURCES[k]!.map((r) => [
          `io.k8s.api.${group ? group.split('.')[0] : 'core'}.${version}.${r.kind}`,
          { type: 'object', properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { ...object, properties: { name: { type: 'string' }, namespace: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } } } }, spec: object, data: object, type: { type: 'string' } }, 'x-kubernetes-group-version-kind': [{ group, version, kind: r.kind }] },
        ]),
      )
      // The PATCH operations list fieldValidation, so clients leave validation to the server.
      const paths = Object.fromEntries(
        RESOURCES[k]!.map((r) => [
          `/${k}/${r.namespaced ? 'namespaces/{namespace}/' : ''}${r.name}/{name}`,
          { patch: { 'x-kubernetes-group-version-kind': { group, version, kind: r.kind }, parameters: ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map((p) => ({ name: p, in: 'query', schema: { type: p === 'force' ? 'boolean' : 'string' } })) } },
        ]),
      )
      return this.send(res, 200, { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.34.0' }, paths, components: { schemas } })
    }
    const disc = RESOURCES[u.pathname.slice(1)]
    if (rec.method === 'GET' && disc) {
      const groupVersion = u.pathname.slice(1).replace(/^apis?\//, '')
      return this.send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources: disc.map((r) => ({ name: r.name, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] })) })
    }

    // /api/v1/namespaces/NS/RES[/NAME[/SUB]] or /apis/G/V/namespaces/NS/RES[/NAME] or /api/v1/namespaces[/NAME]
    const m = /^\/(api\/v1|apis\/[^/]+\/[^/]+)\/(?:namespaces\/([^/]+)\/)?([a-z]+)(?:\/([^/]+))?(?:\/([a-z]+))?$/.exec(u.pathname)
    if (!m) return this.send(res, 404, this.statusBody(404, `no route ${u.pathname}`, 'NotFound'))
    const [, gv, ns, resource, name, sub] = m
    const kindInfo = RESOURCES[gv!]?.find((r) => r.name === resource)
    if (!kindInfo) return this.send(res, 404, this.statusBody(404, `unknown resource ${resource}`, 'NotFound'))
    const kind = kindInfo.kind
    const apiVersion = gv!.replace(/^apis?\//, '')
    const key = `${kind}/${kind === 'Namespace' ? '' : (ns ?? '')}/${name ?? ''}`
    const body = rec.body as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    const inNamespace = () => kind === 'Namespace' || !ns || ns === 'default' || this.objects.has(`Namespace//${ns}`)
    const nsMissing = () => this.send(res, 404, this.statusBody(404, `namespaces "${ns}" not found`, 'NotFound'))
    const checkBody = (what: string) => {
      if (!body || typeof body !== 'object' || body.kind !== kind || (name !== undefined && body.metadata?.name !== name)) this.violations.push(`${what} ${u.pathname}: body is ${body?.kind}/${body?.metadata?.name}`)
      if (kind !== 'Namespace' && body?.metadata?.namespace !== undefined && body.metadata.namespace !== ns) this.violations.push(`${what} ${u.pathname}: body namespace ${body.metadata.namespace}`)
    }
    const checkManager = (what: string) => {
      if (!this.fieldManagers.includes(rec.query.fieldManager ?? '')) this.violations.push(`${what} ${u.pathname}: fieldManager=${rec.query.fieldManager}, expected one of ${this.fieldManagers.join(', ')}`)
    }

    if (rec.method === 'PATCH') {
      if (rec.contentType !== 'application/apply-patch+yaml') {
        this.violations.push(`PATCH ${u.pathname}: content-type ${rec.contentType}, not application/apply-patch+yaml`)
        return this.send(res, 415, this.statusBody(415, `the fake serves server-side apply only, not ${rec.contentType}`, 'UnsupportedMediaType'))
      }
      checkManager('PATCH')
      if (this.requireForce && rec.query.force !== 'true') this.violations.push(`PATCH ${u.pathname}: force=${rec.query.force}`)
      checkBody('PATCH')
      if (!inNamespace()) return nsMissing()
      const prev = this.objects.get(key)
      const st = this.store(key, kind, ns, body, rec.query.fieldManager ?? '', 'Apply')
      return this.send(res, prev ? 200 : 201, this.view(st))
    }
    if (rec.method === 'POST' && !name) {
      if (rec.contentType !== 'application/json' && !(kind === 'Secret' && rec.contentType === 'application/vnd.kubernetes.protobuf')) this.violations.push(`POST ${u.pathname}: content-type ${rec.contentType}`)
      checkBody('POST')
      if (!inNamespace()) return nsMissing()
      const k = `${kind}/${kind === 'Namespace' ? '' : (ns ?? '')}/${body?.metadata?.name ?? ''}`
      if (this.objects.has(k)) return this.send(res, 409, this.statusBody(409, `${resource} "${body.metadata.name}" already exists`, 'AlreadyExists'))
      const st = this.store(k, kind, ns, body, rec.query.fieldManager ?? '', 'Update')
      return this.send(res, 201, this.view(st))
    }
    if (rec.method === 'PUT' && name) {
      if (rec.contentType !== 'application/json' && !(kind === 'Secret' && rec.contentType === 'application/vnd.kubernetes.protobuf')) this.violations.push(`PUT ${u.pathname}: content-type ${rec.contentType}`)
      checkBody('PUT')
      const prev = this.objects.get(key)
      if (!prev) return this.send(res, 404, this.statusBody(404, `${resource} "${name}" not found`, 'NotFound'))
      const rv = body?.metadata?.resourceVersion
      if (rv && rv !== prev.obj.metadata.resourceVersion) return this.send(res, 409, this.statusBody(409, `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified`, 'Conflict'))
      const st = this.store(key, kind, ns, body, rec.query.fieldManager ?? '', 'Update')
      return this.send(res, 200, this.view(st))
    }
    if (rec.method === 'DELETE' && name) {
      const st = this.objects.get(key)
      if (!st) return this.send(res, 404, this.statusBody(404, `${resource} "${name}" not found`, 'NotFound'))
      this.objects.delete(key)
      this.emit('DELETED', key, { ...this.view(st), metadata: { ...st.obj.metadata, resourceVersion: String(++this.rv) } })
      return this.send(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' })
    }
    if (rec.method === 'GET' && kind === 'Deployment' && name) {
      const st = this.objects.get(key)
      if (!st) return this.send(res, 404, this.statusBody(404, `deployments.apps "${name}" not found`, 'NotFound'))
      this.advance(key, st)
      return this.send(res, 200, this.view(st))
    }
    if (rec.method === 'GET' && kind === 'Pod' && sub === 'log') {
      const pod = this.pods(ns!, '').find((p) => p.metadata.name === name)
      if (!pod) return this.send(res, 404, this.statusBody(404, `pods "${name}" not found`, 'NotFound'))
      const b = this.behaviour(pod.spec.containers[0].image)
      const lines = b.kind === 'crashloop' ? b.logs : ['listening on :8080', 'loading models...']
      const tail = Number(rec.query.tailLines ?? lines.length)
      res.writeHead(200, { 'content-type': 'text/plain' })
      return res.end(lines.slice(-tail).join('\n') + '\n')
    }
    if (rec.method === 'GET' && !name) {
      const match = this.matcher(kind, ns, rec.query.labelSelector ?? '', rec.query.fieldSelector ?? '')
      if (rec.query.watch === 'true' || rec.query.watch === '1') return this.watch(res, kind, apiVersion, match, rec.query)
      const items = kind === 'Pod' ? this.pods(ns!, rec.query.labelSelector ?? '') : [...this.objects.entries()].filter(([k, st]) => k.startsWith(`${kind}/`) && match(st.obj)).map(([, st]) => this.view(st))
      return this.send(res, 200, { kind: `${kind}List`, apiVersion, metadata: { resourceVersion: String(this.rv) }, items })
    }
    if (rec.method === 'GET' && name) {
      const st = this.objects.get(key)
      return st ? this.send(res, 200, this.view(st)) : this.send(res, 404, this.statusBody(404, `${resource} "${name}" not found`, 'NotFound'))
    }
    return this.send(res, 405, this.statusBody(405, `${rec.method} ${u.pathname} is not served by the fake`, 'MethodNotAllowed'))
  }

  /** Stores an object as the API server would: uid, resourceVersion, generation (bumped when the spec changes), managedFields. */
  private store(key: string, kind: string, ns: string | undefined, body: Record<string, any>, manager: string, operation: string): Stored { // eslint-disable-line @typescript-eslint/no-explicit-any
    const prev = this.objects.get(key)
    const specChanged = !prev || JSON.stringify(prev.obj.spec) !== JSON.stringify(body.spec)
    const generation = (prev?.generation ?? 0) + (specChanged ? 1 : 0)
    const { status: _status, ...rest } = body
    const meta = { ...body.metadata }
    delete meta.resourceVersion
    const obj = {
      ...rest,
      metadata: { ...meta, namespace: kind === 'Namespace' ? undefined : ns, generation, uid: prev?.obj.metadata.uid ?? `uid-${key}-${this.rv}`, resourceVersion: String(++this.rv), creationTimestamp: prev?.obj.metadata.creationTimestamp ?? new Date().toISOString(), managedFields: [{ manager, operation, apiVersion: body.apiVersion, time: new Date().toISOString(), fieldsType: 'FieldsV1', fieldsV1: fieldSet(rest) }] },
    }
    const st: Stored = { obj, generation, polls: specChanged ? 0 : (prev?.polls ?? 0) }
    this.objects.set(key, st)
    this.emit(prev ? 'MODIFIED' : 'ADDED', key, this.view(st))
    return st
  }

  /** What a GET returns: Deployments carry the scripted rollout status. */
  private view(st: Stored) {
    return st.obj.kind === 'Deployment' ? this.withStatus(st) : st.obj
  }

  /** One step of a Deployment's scripted rollout (a poll, or a tick while someone watches). */
  private advance(key: string, st: Stored) {
    const before = JSON.stringify(this.withStatus(st).status)
    st.polls++
    if (JSON.stringify(this.withStatus(st).status) !== before) {
      st.obj.metadata.resourceVersion = String(++this.rv)
      this.emit('MODIFIED', key, this.view(st))
    }
  }

  private matcher(kind: string, ns: string | undefined, labelSelector: string, fieldSelector: string) {
    const labels = labelSelector.split(',').filter(Boolean).map((kv) => /^([^!=]+)(!=|==|=)(.*)$/.exec(kv.trim()))
    const fields = fieldSelector.split(',').filter(Boolean).map((kv) => /^([^!=]+)(!=|==|=)(.*)$/.exec(kv.trim()))
    for (const l of [...labels, ...fields]) if (!l) this.violations.push(`selector the fake cannot read: ${labelSelector} / ${fieldSelector}`)
    const ok = (op: string, have: string | undefined, want: string) => (op === '!=' ? have !== want : have === want)
    return (o: Record<string, any>) => // eslint-disable-line @typescript-eslint/no-explicit-any
      o.kind === kind &&
      (kind === 'Namespace' || !ns || o.metadata.namespace === ns) &&
      labels.every((l) => l && ok(l[2]!, o.metadata.labels?.[l[1]!], l[3]!)) &&
      fields.every((l) => l && ok(l[2]!, l[1] === 'metadata.name' ? o.metadata.name : l[1] === 'metadata.namespace' ? o.metadata.namespace : undefined, l[3]!))
  }

  private emit(type: string, key: string, obj: Record<string, any>) { // eslint-disable-line @typescript-eslint/no-explicit-any
    const ev = { type, key, rv: this.rv, obj: structuredClone(obj) }
    this.events.push(ev)
    for (const w of this.watchers) if (w.kind === key.split('/')[0] && w.match(ev.obj)) w.res.write(JSON.stringify({ type, object: ev.obj }) + '\n')
  }

  /** A watch stream: events after resourceVersion (or every object as ADDED for none / "0"), one JSON object per line. */
  private watch(res: ServerResponse, kind: string, apiVersion: string, match: (o: Record<string, any>) => boolean, q: Record<string, string>) { // eslint-disable-line @typescript-eslint/no-explicit-any
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    const w = { kind, match, res }
    const from = Number(q.resourceVersion || 0)
    if (q.sendInitialEvents === 'true' || !from) {
      for (const [k, st] of this.objects) if (k.startsWith(`${kind}/`) && match(st.obj)) res.write(JSON.stringify({ type: 'ADDED', object: this.view(st) }) + '\n')
      if (q.sendInitialEvents === 'true') res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind, apiVersion, metadata: { resourceVersion: String(this.rv), annotations: { 'k8s.io/initial-events-end': 'true' } } } }) + '\n')
    } else {
      for (const ev of this.events) if (ev.rv > from && ev.key.startsWith(`${kind}/`) && match(ev.obj)) res.write(JSON.stringify({ type: ev.type, object: ev.obj }) + '\n')
    }
    this.watchers.add(w)
    const timer = setTimeout(() => res.end(), Number(q.timeoutSeconds || 300) * 1000)
    const tick = kind === 'Deployment' ? setInterval(() => { for (const [k, st] of this.objects) if (k.startsWith('Deployment/') && match(st.obj)) this.advance(k, st) }, this.tickMs) : undefined
    res.on('close', () => {
      this.watchers.delete(w)
      clearTimeout(timer)
      clearInterval(tick)
    })
  }

  private withStatus(st: Stored) {
    const d = st.obj
    const image = d.spec.template.spec.containers[0].image as string
    const b = this.behaviour(image)
    const replicas = d.spec.replicas ?? 1
    const observedGeneration = st.polls > 0 ? st.generation : st.generation - 1
    const ready = b.kind === 'ready' && st.polls > b.afterPolls
    return {
      ...d,
      status: {
        observedGeneration,
        replicas,
        updatedReplicas: st.polls > 0 ? replicas : 0,
        readyReplicas: ready ? replicas : 0,
        availableReplicas: ready ? replicas : 0,
        conditions: [
          { type: 'Available', status: ready ? 'True' : 'False', reason: ready ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable' },
          { type: 'Progressing', status: 'True', reason: ready ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated' },
        ],
      },
    }
  }

  /** The pods of every stored Deployment whose selector the label selector matches. */
  private pods(namespace: string, selector: string) {
    const want = Object.fromEntries(selector.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]))
    const out = []
    for (const st of this.objects.values()) {
      const d = st.obj
      if (d.kind !== 'Deployment' || d.metadata.namespace !== namespace) continue
      const labels = d.spec.template.metadata.labels as Record<string, string>
      if (!Object.entries(want).every(([k, v]) => labels[k] === v)) continue
      const image = d.spec.template.spec.containers[0].image as string
      const b = this.behaviour(image)
      const name = `${d.metadata.name}-${st.generation}abc-x${st.polls % 1}`
      const container = d.spec.template.spec.containers[0].name as string
      const base = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: { containers: [{ name: container, image }] } }
      const cs = (state: unknown, extra: Record<string, unknown> = {}) => ({ name: container, image, imageID: '', ready: false, restartCount: 0, state, ...extra })
      if (b.kind === 'unschedulable') {
        out.push({ ...base, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }] } })
      } else if (b.kind === 'imagepull') {
        out.push({ ...base, status: { phase: 'Pending', containerStatuses: [cs({ waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` } })] } })
      } else if (b.kind === 'crashloop') {
        out.push({ ...base, status: { phase: 'Running', containerStatuses: [cs({ waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' } }, { restartCount: 3, lastState: { terminated: { exitCode: 1, reason: 'Error' } } })] } })
      } else {
        const ready = b.kind === 'ready' && st.polls > b.afterPolls
        out.push({ ...base, status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], containerStatuses: [cs({ running: { startedAt: new Date().toISOString() } }, { ready })] } })
      }
    }
    return out
  }
}
