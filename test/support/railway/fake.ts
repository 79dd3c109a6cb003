// A stand-in for Railway's public GraphQL API (POST /graphql/v2), for the railway target's tests.
// It does not parse GraphQL; it checks what a real server would reject: the operation name in the
// body matches the one declared in the query and the schema's root field, the variables have the
// names and types Railway's schema gives them (unknown input fields are refused, as GraphQL does),
// and the token is sent the way its kind requires (Project-Access-Token vs Authorization: Bearer).
// State is kept like Railway's: projects, environments, services, deployments with statuses that
// move on each poll, domains, variables. Failures (HTTP 429 with Retry-After, GraphQL errors, a
// deployment that crashes) are injected on purpose.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

type Ty = 'String' | 'String!' | 'Int' | 'Int!' | 'Boolean' | 'Boolean!' | 'Vars' | 'Vars!' | { input: string; required: boolean }

/** Input object types: field → type (from the Railway schema, see targets.md §3). */
const INPUTS: Record<string, Record<string, Ty>> = {
  ProjectCreateInput: { name: 'String', description: 'String', workspaceId: 'String', defaultEnvironmentName: 'String' },
  ServiceCreateInput: { projectId: 'String!', environmentId: 'String', name: 'String', source: { input: 'ServiceSourceInput', required: false }, variables: 'Vars', registryCredentials: { input: 'RegistryCredentialsInput', required: false } },
  ServiceSourceInput: { image: 'String', repo: 'String' },
  RegistryCredentialsInput: { username: 'String!', password: 'String!' },
  ServiceInstanceUpdateInput: {
    source: { input: 'ServiceSourceInput', required: false },
    startCommand: 'String',
    healthcheckPath: 'String',
    healthcheckTimeout: 'Int',
    restartPolicyType: 'String',
    restartPolicyMaxRetries: 'Int',
    numReplicas: 'Int',
    region: 'String',
    registryCredentials: { input: 'RegistryCredentialsInput', required: false },
    sleepApplication: 'Boolean',
  },
  VariableCollectionUpsertInput: { projectId: 'String!', environmentId: 'String!', serviceId: 'String', variables: 'Vars!', replace: 'Boolean', skipDeploys: 'Boolean' },
  DeploymentListInput: { projectId: 'String', environmentId: 'String', serviceId: 'String' },
  ServiceDomainCreateInput: { environmentId: 'String!', serviceId: 'String!', targetPort: 'Int' },
}

interface OpSpec {
  kind: 'query' | 'mutation'
  field: string
  vars: Record<string, Ty>
  /** Project tokens cannot list or create projects. */
  accountOnly?: boolean
}

const OPS: Record<string, OpSpec> = {
  ProjectToken: { kind: 'query', field: 'projectToken', vars: {} },
  Project: { kind: 'query', field: 'project', vars: { id: 'String!' } },
  Projects: { kind: 'query', field: 'projects', vars: { workspaceId: 'String', first: 'Int' }, accountOnly: true },
  ProjectCreate: { kind: 'mutation', field: 'projectCreate', vars: { input: { input: 'ProjectCreateInput', required: true } }, accountOnly: true },
  ServiceCreate: { kind: 'mutation', field: 'serviceCreate', vars: { input: { input: 'ServiceCreateInput', required: true } } },
  ServiceInstanceUpdate: { kind: 'mutation', field: 'serviceInstanceUpdate', vars: { serviceId: 'String!', environmentId: 'String!', input: { input: 'ServiceInstanceUpdateInput', required: true } } },
  VariableCollectionUpsert: { kind: 'mutation', field: 'variableCollectionUpsert', vars: { input: { input: 'VariableCollectionUpsertInput', required: true } } },
  ServiceInstanceDeployV2: { kind: 'mutation', field: 'serviceInstanceDeployV2', vars: { serviceId: 'String!', environmentId: 'String!', commitSha: 'String' } },
  Deployment: { kind: 'query', field: 'deployment', vars: { id: 'String!' } },
  Deployments: { kind: 'query', field: 'deployments', vars: { input: { input: 'DeploymentListInput', required: true }, first: 'Int' } },
  DeploymentLogs: { kind: 'query', field: 'deploymentLogs', vars: { deploymentId: 'String!', limit: 'Int' } },
  Domains: { kind: 'query', field: 'domains', vars: { projectId: 'String!', environmentId: 'String!', serviceId: 'String!' } },
  ServiceDomainCreate: { kind: 'mutation', field: 'serviceDomainCreate', vars: { input: { input: 'ServiceDomainCreateInput', required: true } } },
  DeploymentRollback: { kind: 'mutation', field: 'deploymentRollback', vars: { id: 'String!' } },
}

function checkValue(ty: Ty, v: unknown, at: string): string | undefined {
  if (typeof ty === 'object') {
    if (v === undefined || v === null) return ty.required ? `${at}: ${ty.input}! is required` : undefined
    if (typeof v !== 'object' || Array.isArray(v)) return `${at}: expected ${ty.input}`
    const fields = INPUTS[ty.input]!
    for (const k of Object.keys(v)) if (!(k in fields)) return `Field "${k}" is not defined by type "${ty.input}".`
    for (const [k, t] of Object.entries(fields)) {
      const e = checkValue(t, (v as Record<string, unknown>)[k], `${at}.${k}`)
      if (e) return e
    }
    return undefined
  }
  const required = ty.endsWith('!')
  const base = ty.replace('!', '')
  if (v === undefined || v === null) return required ? `${at}: ${ty} is required` : undefined
  if (base === 'String' && typeof v !== 'string') return `${at}: String expected`
  if (base === 'Int' && !Number.isInteger(v)) return `${at}: Int expected`
  if (base === 'Boolean' && typeof v !== 'boolean') return `${at}: Boolean expected`
  if (base === 'Vars' && (typeof v !== 'object' || Array.isArray(v) || Object.values(v as object).some((x) => typeof x !== 'string'))) return `${at}: EnvironmentVariables must map names to strings`
  return undefined
}

export interface Call {
  op: string
  variables: Record<string, any>
  auth: 'project' | 'account' | 'none'
  /** The raw auth header values, so tests can check nothing else carried the token. */
  headers: Record<string, string | undefined>
}

type Status = 'INITIALIZING' | 'DEPLOYING' | 'SUCCESS' | 'FAILED' | 'CRASHED' | 'REMOVED'
interface Dep {
  id: string
  serviceId: string
  environmentId: string
  image: string
  variables: Record<string, string>
  healthcheckPath?: string
  outcome: Status
  steps: Status[]
  status: Status
  createdAt: string
  canRollback: boolean
  logs: { message: string; severity: string }[]
}
interface Svc {
  id: string
  name: string
  projectId: string
  /** Per environment: the instance settings and variables. */
  instances: Record<string, { source?: { image?: string }; settings: Record<string, unknown>; variables: Record<string, string>; domains: { id: string; domain: string; targetPort?: number }[] }>
}
interface Proj {
  id: string
  name: string
  workspaceId?: string
  environments: { id: string; name: string }[]
}

export interface FakeRailwayOptions {
  accountToken: string
  projectToken?: { token: string; projectName: string; environmentName: string }
  /** What serviceDomainCreate hands out (a host:port the test serves). */
  domain: string
  /** When set, a deploy whose image manifest is not in this registry FAILS, as on Railway. */
  registry?: string
}

export interface Injected {
  status?: number
  retryAfter?: string
  graphqlError?: string
}

export class FakeRailway {
  readonly calls: Call[] = []
  readonly projects: Proj[] = []
  readonly services: Svc[] = []
  readonly deployments: Dep[] = []
  /** Outcomes of the next deploys, in order (default SUCCESS). */
  readonly outcomes: Status[] = []
  private readonly inject = new Map<string, Injected[]>()
  private server?: Server
  private seq = 0
  url = ''
  /** Requests the server refused for a schema reason (a test fails if any appear unexpectedly). */
  readonly rejected: string[] = []

  constructor(readonly opts: FakeRailwayOptions) {
    if (opts.projectToken) {
      const p = this.addProject(opts.projectToken.projectName, [opts.projectToken.environmentName])
      this.projectTokenScope = { projectId: p.id, environmentId: p.environments[0]!.id }
    }
  }
  private projectTokenScope?: { projectId: string; environmentId: string }

  /** The next `count` requests for `op` fail this way (then it works again). */
  failNext(op: string, how: Injected, count = 1) {
    const list = this.inject.get(op) ?? []
    for (let i = 0; i < count; i++) list.push(how)
    this.inject.set(op, list)
  }

  addProject(name: string, envs = ['production']): Proj {
    const p: Proj = { id: this.id('prj'), name, environments: envs.map((n) => ({ id: this.id('env'), name: n })) }
    this.projects.push(p)
    return p
  }

  ops(): string[] {
    return this.calls.map((c) => c.op)
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req)
        .then(({ status, headers, body }) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers })
          res.end(JSON.stringify(body))
        })
        .catch((err: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ errors: [{ message: `fake railway bug: ${err.stack}` }] }))
        })
    })
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/graphql/v2`
    return this.url
  }

  async stop() {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()))
  }

  private id(kind: string) {
    return `${kind}-${(++this.seq).toString().padStart(4, '0')}`
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; headers?: Record<string, string>; body: unknown }> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const fail = (message: string, status = 200) => {
      this.rejected.push(message)
      return { status, body: { errors: [{ message }] } }
    }
    if (req.method !== 'POST' || req.url !== '/graphql/v2') return fail(`${req.method} ${req.url}: only POST /graphql/v2`, 404)
    if (!String(req.headers['content-type']).startsWith('application/json')) return fail('Content-Type must be application/json', 415)
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query?: string; variables?: Record<string, unknown>; operationName?: string }
    const name = body.operationName ?? ''
    const spec = OPS[name]
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1]
    const pat = req.headers['project-access-token'] as string | undefined
    const auth: Call['auth'] = pat ? 'project' : bearer ? 'account' : 'none'
    this.calls.push({ op: name, variables: structuredClone(body.variables ?? {}), auth, headers: { authorization: req.headers.authorization, 'project-access-token': pat } })
    if (!spec) return fail(`unknown operation '${name}' (operationName is required)`)
    const declared = new RegExp(`^\\s*${spec.kind}\\s+${name}\\b`).test(body.query ?? '')
    if (!declared) return fail(`query does not declare ${spec.kind} ${name}`)
    if (!new RegExp(`\\b${spec.field}\\s*[({]|\\b${spec.field}\\s*$|\\b${spec.field}\\s*\\}`).test(body.query ?? '')) return fail(`${name} does not select ${spec.field}`)
    const vars = body.variables ?? {}
    for (const k of Object.keys(vars)) if (!(k in spec.vars)) return fail(`Variable "$${k}" is not defined by operation "${name}".`)
    for (const [k, t] of Object.entries(spec.vars)) {
      const e = checkValue(t, vars[k], `$${k}`)
      if (e) return fail(e)
    }
    const injected = this.inject.get(name)?.shift()
    if (injected?.status) return { status: injected.status, headers: injected.retryAfter !== undefined ? { 'retry-after': injected.retryAfter, 'x-ratelimit-remaining': '0' } : {}, body: { errors: [{ message: 'Too many requests' }] } }
    if (injected?.graphqlError) return { status: 200, body: { data: null, errors: [{ message: injected.graphqlError, path: [spec.field] }] } }

    // Auth: a project token for its own scope only; an account token for everything.
    if (auth === 'none' || (auth === 'account' && bearer !== this.opts.accountToken) || (auth === 'project' && pat !== this.opts.projectToken?.token)) {
      return { status: 200, body: { data: null, errors: [{ message: 'Not Authorized', extensions: { code: 'UNAUTHENTICATED' } }] } }
    }
    if (auth === 'project' && spec.accountOnly) return { status: 200, body: { data: null, errors: [{ message: 'Not Authorized' }] } }
    if (name === 'Deployment' || name === 'Deployments') await this.checkImages()
    try {
      const data = this.resolve(name, vars as Record<string, any>, auth)
      return { status: 200, body: { data: { [spec.field]: data } } }
    } catch (err) {
      return { status: 200, body: { data: null, errors: [{ message: (err as Error).message, path: [spec.field] }] } }
    }
  }

  private project(id: string, auth: Call['auth']): Proj {
    const p = this.projects.find((x) => x.id === id)
    if (!p || (auth === 'project' && id !== this.projectTokenScope?.projectId)) throw new Error('Project not found')
    return p
  }
  private service(id: string): Svc {
    const s = this.services.find((x) => x.id === id)
    if (!s) throw new Error('Service not found')
    return s
  }
  private instance(serviceId: string, environmentId: string, auth: Call['auth']) {
    const s = this.service(serviceId)
    if (auth === 'project' && environmentId !== this.projectTokenScope?.environmentId) throw new Error('Not Authorized')
    const p = this.projects.find((x) => x.id === s.projectId)!
    if (!p.environments.some((e) => e.id === environmentId)) throw new Error('Environment not found')
    return (s.instances[environmentId] ??= { settings: {}, variables: {}, domains: [] })
  }
  private shape(p: Proj) {
    const edges = <T>(xs: T[]) => ({ edges: xs.map((node) => ({ node })) })
    return { id: p.id, name: p.name, environments: edges(p.environments), services: edges(this.services.filter((s) => s.projectId === p.id).map((s) => ({ id: s.id, name: s.name }))) }
  }

  private resolve(name: string, v: Record<string, any>, auth: Call['auth']): unknown {
    switch (name) {
      case 'ProjectToken': {
        const p = this.project(this.projectTokenScope!.projectId, auth)
        return { project: { id: p.id, name: p.name }, environment: p.environments.find((e) => e.id === this.projectTokenScope!.environmentId) }
      }
      case 'Project':
        return this.shape(this.project(v.id, auth))
      case 'Projects':
        return { edges: this.projects.filter((p) => !v.workspaceId || p.workspaceId === v.workspaceId).map((p) => ({ node: this.shape(p) })) }
      case 'ProjectCreate': {
        const p = this.addProject(v.input.name, [v.input.defaultEnvironmentName ?? 'production'])
        p.workspaceId = v.input.workspaceId
        return this.shape(p)
      }
      case 'ServiceCreate': {
        const p = this.project(v.input.projectId, auth)
        if (this.services.some((s) => s.projectId === p.id && s.name === v.input.name)) throw new Error(`Service ${v.input.name} already exists`)
        const s: Svc = { id: this.id('svc'), name: v.input.name, projectId: p.id, instances: {} }
        this.services.push(s)
        return { id: s.id, name: s.name }
      }
      case 'ServiceInstanceUpdate': {
        const inst = this.instance(v.serviceId, v.environmentId, auth)
        const { source, ...settings } = v.input
        if (source) inst.source = source
        inst.settings = { ...inst.settings, ...settings }
        return true
      }
      case 'VariableCollectionUpsert': {
        const inst = this.instance(v.input.serviceId, v.input.environmentId, auth)
        inst.variables = v.input.replace ? { ...v.input.variables } : { ...inst.variables, ...v.input.variables }
        return true
      }
      case 'ServiceInstanceDeployV2': {
        const inst = this.instance(v.serviceId, v.environmentId, auth)
        if (!inst.source?.image) throw new Error('Service has no source to deploy')
        const outcome = this.outcomes.shift() ?? 'SUCCESS'
        return this.startDeployment(v.serviceId, v.environmentId, inst.source.image, { ...inst.variables }, outcome, inst.settings.healthcheckPath as string | undefined).id
      }
      case 'Deployment': {
        const d = this.deployments.find((x) => x.id === v.id)
        if (!d) throw new Error('Deployment not found')
        return this.view(this.advance(d))
      }
      case 'Deployments': {
        const list = this.deployments.filter((d) => (!v.input.serviceId || d.serviceId === v.input.serviceId) && (!v.input.environmentId || d.environmentId === v.input.environmentId))
        return { edges: [...list].reverse().slice(0, v.first ?? 100).map((d) => ({ node: this.view(this.advance(d)) })) }
      }
      case 'DeploymentLogs': {
        const d = this.deployments.find((x) => x.id === v.deploymentId)
        if (!d) throw new Error('Deployment not found')
        return d.logs.slice(-(v.limit ?? 100)).map((l, i) => ({ ...l, timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }))
      }
      case 'Domains': {
        const inst = this.instance(v.serviceId, v.environmentId, auth)
        return { serviceDomains: inst.domains, customDomains: [] }
      }
      case 'ServiceDomainCreate': {
        const inst = this.instance(v.input.serviceId, v.input.environmentId, auth)
        const d = { id: this.id('dom'), domain: this.opts.domain, targetPort: v.input.targetPort }
        inst.domains.push(d)
        return { ...d, suffix: 'up.railway.app', syncStatus: 'ACTIVE' }
      }
      case 'DeploymentRollback': {
        const d = this.deployments.find((x) => x.id === v.id)
        if (!d) throw new Error('Deployment not found')
        if (!d.canRollback) throw new Error('Deployment cannot be rolled back')
        this.startDeployment(d.serviceId, d.environmentId, d.image, d.variables, 'SUCCESS', d.healthcheckPath)
        return true
      }
    }
    throw new Error(`unhandled ${name}`)
  }

  private startDeployment(serviceId: string, environmentId: string, image: string, variables: Record<string, string>, outcome: Status, healthcheckPath?: string): Dep {
    const d: Dep = {
      id: this.id('dep'),
      serviceId,
      environmentId,
      image,
      variables,
      healthcheckPath,
      outcome,
      steps: ['DEPLOYING', outcome],
      status: 'INITIALIZING',
      createdAt: new Date(Date.now() + this.seq).toISOString(),
      canRollback: false,
      logs: [{ message: `Starting Container (${image})`, severity: 'info' }],
    }
    this.deployments.push(d)
    return d
  }

  /** One poll moves a deployment one step; the image is checked when it starts deploying. */
  private advance(d: Dep): Dep {
    const next = d.steps.shift()
    if (!next) return d
    if (next === 'DEPLOYING') {
      d.status = 'DEPLOYING'
      return d
    }
    let outcome = next
    if (outcome === 'SUCCESS' && this.opts.registry && !this.imageThere(d.image)) outcome = 'FAILED'
    if (outcome === 'CRASHED') {
      d.logs.push({ message: 'listening on 0.0.0.0:8080', severity: 'info' }, { message: 'Error: model/classifier.onnx: protobuf parsing failed', severity: 'error' }, { message: 'process exited with code 1', severity: 'error' })
    }
    if (outcome === 'SUCCESS') {
      // The new deployment takes traffic; the one it replaces can be rolled back to.
      for (const o of this.deployments) if (o !== d && o.serviceId === d.serviceId && o.environmentId === d.environmentId && o.status === 'SUCCESS') o.status = 'REMOVED'
      d.canRollback = true
    }
    d.status = outcome
    return d
  }

  /** From the cache checkImages() fills before every status query. */
  private imageThere(image: string): boolean {
    return this.pulled.get(image) === true
  }
  private readonly pulled = new Map<string, boolean>()

  /** Looks every deployed image up in the registry by digest, as Railway pulls it. */
  private async checkImages(): Promise<void> {
    if (!this.opts.registry) return
    for (const d of this.deployments) {
      if (this.pulled.has(d.image)) continue
      const at = d.image.indexOf('/')
      const [repo, digest] = d.image.slice(at + 1).split('@')
      const res = await fetch(`http://${this.opts.registry}/v2/${repo}/manifests/${digest}`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json' },
      }).catch(() => undefined)
      this.pulled.set(d.image, res?.status === 200)
    }
  }

  private view(d: Dep) {
    return { id: d.id, status: d.status, createdAt: d.createdAt, canRollback: d.canRollback, staticUrl: null, url: null, meta: { image: d.image } }
  }
}
