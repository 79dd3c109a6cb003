import { v2 } from '@google-cloud/run'
import type { GoogleAuth } from 'google-auth-library'
import { MlxError, networkReason, retryAfterMs as parseRetryAfter, type RetryDecision } from '@mlx/core'
import { endpointOptions, type CloudRunContext } from './config.js'
import type { ServiceSpec } from './spec.js'

/** A Service or Revision as the client returns it (enums as their names, durations as objects). */
export type RunService = Record<string, unknown> & {
  name?: string
  uri?: string
  etag?: string
  generation?: string | number
  observedGeneration?: string | number
  reconciling?: boolean
  latestReadyRevision?: string
  latestCreatedRevision?: string
  terminalCondition?: Condition | null
  conditions?: Condition[]
  traffic?: { type?: string | number; revision?: string; percent?: number; tag?: string }[]
  trafficStatuses?: { type?: string | number; revision?: string; percent?: number }[]
  template?: Record<string, unknown>
}
export interface Condition {
  type?: string
  state?: string | number
  message?: string
  reason?: string | number
  revisionReason?: string | number
}
export type RunRevision = Record<string, unknown> & {
  name?: string
  createTime?: { seconds?: string | number } | null
  conditions?: Condition[]
  labels?: Record<string, string>
  containers?: { image?: string }[]
}
export interface IamPolicy {
  version?: number
  bindings?: { role?: string; members?: string[]; condition?: unknown }[]
  etag?: unknown
  auditConfigs?: unknown[]
}

/** A failure on the wire (no HTTP answer), as node's errors name it. */
const NETWORK_CODE = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/

// gRPC status codes the REST transport maps HTTP statuses to.
const NOT_FOUND = 5
const RESOURCE_EXHAUSTED = 8
const UNAVAILABLE = 14

const CONDITION_STATES = ['STATE_UNSPECIFIED', 'CONDITION_PENDING', 'CONDITION_RECONCILING', 'CONDITION_FAILED', 'CONDITION_SUCCEEDED']
/** Enum values come back as names from the client, as numbers inside LRO results: compare names. */
export const conditionState = (s: string | number | undefined) => (typeof s === 'number' ? CONDITION_STATES[s] : s)
const TRAFFIC_TYPES = ['TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED', 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION']
export const trafficType = (t: string | number | undefined) => (typeof t === 'number' ? TRAFFIC_TYPES[t] : t)

interface GaxLikeError {
  code?: number | string
  status?: number
  message?: string
  details?: string
  response?: { status?: number; headers?: Headers | Record<string, string> }
  statusDetails?: unknown[]
}

/** The HTTP status behind a gax error: the REST transport sometimes reports it as `code`. */
function httpStatus(err: GaxLikeError): number | undefined {
  if (typeof err.response?.status === 'number') return err.response.status
  if (typeof err.status === 'number') return err.status
  if (typeof err.code === 'number' && err.code >= 100) return err.code
  return undefined
}

export function isNotFound(err: unknown): boolean {
  const e = err as GaxLikeError
  return e?.code === NOT_FOUND || httpStatus(e) === 404
}

function retryAfterMs(err: GaxLikeError): number | undefined {
  const h = err.response?.headers
  return parseRetryAfter(h instanceof Headers ? h.get('retry-after') : h?.['retry-after'])
}

/** Only throttling and unavailability are worth another attempt: anything else the API says is final. */
export function classifyGax(err: unknown): RetryDecision {
  const e = err as GaxLikeError
  const st = httpStatus(e)
  const throttled = e?.code === RESOURCE_EXHAUSTED || st === 429
  const unavailable = e?.code === UNAVAILABLE || st === 503
  if (!throttled && !unavailable) return { retry: false, reason: apiMessage(err) }
  return { retry: true, afterMs: retryAfterMs(e), reason: `throttled or unavailable (${throttled ? 'RESOURCE_EXHAUSTED' : 'UNAVAILABLE'})` }
}

/** The API's own message, whether the error carries it parsed or as the raw JSON body. */
export function apiMessage(err: unknown): string {
  const e = err as GaxLikeError
  const raw = e?.details || e?.message || String(err)
  try {
    const body = JSON.parse(raw) as { error?: { message?: string; status?: string } }
    if (body.error?.message) return `${body.error.status ? `${body.error.status}: ` : ''}${body.error.message}`
  } catch {
    // not JSON: already a message
  }
  return raw.split('\n')[0]!
}

/**
 * The Cloud Run Admin API v2 through @google-cloud/run over REST (`fallback: true`): the same
 * client as gcloud's libraries, pointed at targets.cloudrun.apiEndpoint. 429/503 go through the
 * context's retry loop (targets.cloudrun.retries, retryBaseMs); NOT_FOUND on a get is `undefined`.
 */
export class CloudRunApi {
  readonly services: InstanceType<typeof v2.ServicesClient>
  readonly revisions: InstanceType<typeof v2.RevisionsClient>

  constructor(
    private readonly ctx: Pick<CloudRunContext, 'config' | 'retry'>,
    auth: GoogleAuth,
  ) {
    const ep = endpointOptions(ctx.config.apiEndpoint)
    // google-gax bundles its own copy of google-auth-library; the GoogleAuth we pass is the same
    // class from another copy (structurally identical), hence the cast.
    const common = { fallback: true as const, auth: auth as never, apiEndpoint: ep.apiEndpoint, port: ep.port, protocol: ep.protocol }
    this.services = new v2.ServicesClient(common)
    this.revisions = new v2.RevisionsClient(common)
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.ctx.retry(what, fn, classifyGax)
  }

  async getService(name: string): Promise<RunService | undefined> {
    try {
      const [svc] = await this.call(`GET ${name}`, () => this.services.getService({ name }))
      return svc as unknown as RunService
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /** Starts the create; the returned promise resolves when the LRO is done (or rejects with its error). */
  async createService(parent: string, serviceId: string, service: ServiceSpec): Promise<() => Promise<unknown>> {
    const [op] = await this.call(`create ${serviceId}`, () => this.services.createService({ parent, serviceId, service: toClient(service) as never }))
    return () => op.promise()
  }

  /** `service` is a spec mlx built, or the live service read back with its traffic changed. */
  async updateService(service: (ServiceSpec | RunService) & { name: string; etag?: string }): Promise<() => Promise<unknown>> {
    const [op] = await this.call(`update ${service.name}`, () => this.services.updateService({ service: toClient(service) as never }))
    return () => op.promise()
  }

  async getIamPolicy(resource: string): Promise<IamPolicy> {
    const [policy] = await this.call(`getIamPolicy ${resource}`, () => this.services.getIamPolicy({ resource }))
    return policy as IamPolicy
  }

  async setIamPolicy(resource: string, policy: IamPolicy): Promise<IamPolicy> {
    const [p] = await this.call(`setIamPolicy ${resource}`, () => this.services.setIamPolicy({ resource, policy: policy as never }))
    return p as IamPolicy
  }

  async getRevision(name: string): Promise<RunRevision | undefined> {
    try {
      const [rev] = await this.call(`GET ${name}`, () => this.revisions.getRevision({ name }))
      return rev as unknown as RunRevision
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  async listRevisions(parent: string): Promise<RunRevision[]> {
    const [revs] = await this.call(`list revisions of ${parent}`, () => this.revisions.listRevisions({ parent }, { autoPaginate: true }))
    return revs as unknown as RunRevision[]
  }

  async close(): Promise<void> {
    await Promise.all([this.services.close(), this.revisions.close()]).catch(() => {})
  }
}

/**
 * The client takes protobuf.js objects, not proto3 JSON: a Duration is {seconds}, not "300s".
 * Specs mlx builds use the JSON form (as service.json shows them); objects read back pass as is.
 */
function toClient<T extends { template?: unknown }>(service: T): T {
  const t = service.template as { timeout?: unknown } | undefined
  if (typeof t?.timeout !== 'string') return service
  return { ...service, template: { ...t, timeout: { seconds: Number(t.timeout.replace(/s$/, '')) } } }
}

/** Wraps an API failure as the user's problem to fix, with the API's message and a hint. */
export function apiError(what: string, err: unknown, hint: string): MlxError {
  if (err instanceof MlxError) return err
  const e = err as GaxLikeError
  const st = httpStatus(e)
  const denied = e?.code === 7 || st === 403
  const unauth = e?.code === 16 || st === 401
  const wire = st === undefined && typeof e?.code === 'string' && NETWORK_CODE.test(e.code)
  if (wire) {
    return new MlxError('DEPLOY_FAILED', `${what}: the Cloud Run Admin API could not be reached: ${networkReason(err)}.`, {
      hint: 'check the network and targets.cloudrun.apiEndpoint, then run the same command again.',
      cause: err,
    })
  }
  return new MlxError(unauth ? 'CREDENTIALS_MISSING' : 'DEPLOY_FAILED', `${what}: ${apiMessage(err)}`, {
    hint: denied
      ? 'the credentials lack a permission: the deployer needs roles/run.admin and roles/iam.serviceAccountUser on the runtime service account (and roles/artifactregistry.writer to push).'
      : unauth
        ? 'the Application Default Credentials were refused: run `gcloud auth application-default login` again, or check GOOGLE_APPLICATION_CREDENTIALS.'
        : hint,
    cause: err,
  })
}
