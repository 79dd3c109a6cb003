// A small Kubernetes API server (HTTPS) for the helm target's apply path: it speaks the REST paths mlx
// uses (discovery, server-side apply PATCH, GET Deployment, list pods, pod logs, DELETE), CHECKS
// what it receives (bearer token, apply-patch content type, fieldManager/force, object bodies
// that match their URL), stores what is applied, and plays a scripted rollout per image:
// ready after N polls, never ready, CrashLoopBackOff with logs, ImagePullBackOff, Unschedulable.
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
  'apis/apps/v1': [{ kind: 'Deployment', name: 'deployments', namespaced: true }],
  'apis/autoscaling/v2': [{ kind: 'HorizontalPodAutoscaler', name: 'horizontalpodautoscalers', namespaced: true }],
  'apis/networking.k8s.io/v1': [{ kind: 'Ingress', name: 'ingresses', namespaced: true }],
}

export class FakeKube {
  readonly requests: Recorded[] = []
  readonly objects = new Map<string, Stored>()
  /** Protocol mistakes mlx made (wrong content type, missing fieldManager, body/URL mismatch...). */
  readonly violations: string[] = []
  behaviour: (image: string) => Behaviour = () => ({ kind: 'ready', afterPolls: 1 })
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
    const raw = Buffer.concat(chunks).toString('utf8')
    const rec: Recorded = { method: req.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams), contentType: req.headers['content-type'], auth: req.headers.authorization }
    try {
      rec.body = raw ? parse(raw) : undefined
    } catch {
      rec.body = raw
    }
    this.requests.push(rec)

    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, 401, this.statusBody(401, 'Unauthorized', 'Unauthorized'))
    const f = this.failures.find((x) => x.times > 0 && x.method === rec.method && x.path.test(rec.path))
    if (f) {
      f.times--
      return this.send(res, f.status, this.statusBody(f.status, `injected ${f.status}`, 'TooManyRequests'), f.headers)
    }

    if (rec.method === 'GET' && u.pathname === '/version') return this.send(res, 200, { major: '1', minor: '34', gitVersion: 'v1.34.0', platform: 'linux/amd64' })
    const disc = RESOURCES[u.pathname.slice(1)]
    if (rec.method === 'GET' && disc) {
      const groupVersion = u.pathname.slice(1).replace(/^apis?\//, '')
      return this.send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources: disc.map((r) => ({ name: r.name, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update'] })) })
    }

    // /api/v1/namespaces/NS/RES[/NAME[/SUB]] or /apis/G/V/namespaces/NS/RES[/NAME] or /api/v1/namespaces/NAME
    const m = /^\/(api\/v1|apis\/[^/]+\/[^/]+)\/(?:namespaces\/([^/]+)\/)?([a-z]+)(?:\/([^/]+))?(?:\/([a-z]+))?$/.exec(u.pathname)
    if (!m) return this.send(res, 404, this.statusBody(404, `no route ${u.pathname}`, 'NotFound'))
    const [, gv, ns, resource, name, sub] = m
    const kindInfo = RESOURCES[gv!]?.find((r) => r.name === resource)
    // /api/v1/namespaces/NAME parses as resource=namespaces with the name in the namespace slot
    const isNamespaceObj = resource === 'namespaces' || (ns !== undefined && resource === undefined)
    if (!kindInfo && !isNamespaceObj) return this.send(res, 404, this.statusBody(404, `unknown resource ${resource}`, 'NotFound'))
    const kind = kindInfo?.kind ?? 'Namespace'
    const key = `${kind}/${kind === 'Namespace' ? '' : (ns ?? '')}/${name ?? ''}`

    if (rec.method === 'PATCH') {
      if (rec.contentType !== 'application/apply-patch+yaml') this.violations.push(`PATCH ${u.pathname}: content-type ${rec.contentType}, not application/apply-patch+yaml`)
      if (rec.query.fieldManager !== 'mlx') this.violations.push(`PATCH ${u.pathname}: fieldManager=${rec.query.fieldManager}`)
      if (rec.query.force !== 'true') this.violations.push(`PATCH ${u.pathname}: force=${rec.query.force}`)
      const body = rec.body as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
      if (!body || body.kind !== kind || body.metadata?.name !== name) this.violations.push(`PATCH ${u.pathname}: body is ${body?.kind}/${body?.metadata?.name}`)
      if (kind !== 'Namespace' && body?.metadata?.namespace !== undefined && body.metadata.namespace !== ns) this.violations.push(`PATCH ${u.pathname}: body namespace ${body.metadata.namespace}`)
      if (kind !== 'Namespace' && ns && !this.objects.has(`Namespace//${ns}`) && ns !== 'default') return this.send(res, 404, this.statusBody(404, `namespaces "${ns}" not found`, 'NotFound'))
      const prev = this.objects.get(key)
      const specChanged = !prev || JSON.stringify(prev.obj.spec) !== JSON.stringify(body.spec)
      const generation = (prev?.generation ?? 0) + (specChanged ? 1 : 0)
      const obj = { ...body, metadata: { ...body.metadata, namespace: kind === 'Namespace' ? undefined : ns, generation, uid: `uid-${key}`, managedFields: [{ manager: 'mlx', operation: 'Apply' }] } }
      this.objects.set(key, { obj, generation, polls: specChanged ? 0 : (prev?.polls ?? 0) })
      return this.send(res, prev ? 200 : 201, obj)
    }
    if (rec.method === 'DELETE') {
      if (!this.objects.delete(key)) return this.send(res, 404, this.statusBody(404, `${resource} "${name}" not found`, 'NotFound'))
      return this.send(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' })
    }
    if (rec.method === 'GET' && kind === 'Deployment' && name) {
      const st = this.objects.get(key)
      if (!st) return this.send(res, 404, this.statusBody(404, `deployments.apps "${name}" not found`, 'NotFound'))
      st.polls++
      return this.send(res, 200, this.withStatus(st))
    }
    if (rec.method === 'GET' && kind === 'Pod' && !name) return this.send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: this.pods(ns!, rec.query.labelSelector ?? '') })
    if (rec.method === 'GET' && kind === 'Pod' && sub === 'log') {
      const pod = this.pods(ns!, '').find((p) => p.metadata.name === name)
      if (!pod) return this.send(res, 404, this.statusBody(404, `pods "${name}" not found`, 'NotFound'))
      const b = this.behaviour(pod.spec.containers[0].image)
      const lines = b.kind === 'crashloop' ? b.logs : ['listening on :8080', 'loading models...']
      const tail = Number(rec.query.tailLines ?? lines.length)
      res.writeHead(200, { 'content-type': 'text/plain' })
      return res.end(lines.slice(-tail).join('\n') + '\n')
    }
    if (rec.method === 'GET' && kind === 'Secret' && !name) return this.send(res, 200, { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [] })
    if (rec.method === 'GET' && name) {
      const st = this.objects.get(key)
      return st ? this.send(res, 200, st.obj) : this.send(res, 404, this.statusBody(404, `${resource} "${name}" not found`, 'NotFound'))
    }
    return this.send(res, 405, this.statusBody(405, `${rec.method} ${u.pathname} is not served by the fake`, 'MethodNotAllowed'))
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
        conditions: [{ type: 'Progressing', status: 'True', reason: ready ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated' }],
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
