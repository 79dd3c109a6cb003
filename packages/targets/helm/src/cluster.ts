import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type RequestContext,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node'
import { AsyncLocalStorage } from 'node:async_hooks'
import { MlxError, networkReason, retryAfterMs, type RetryDecision, type TargetContext } from '@mlx/core'
import type { HelmConfig } from './config.js'

export const FIELD_MANAGER = 'mlx'

export interface ClusterOptions {
  context?: string
  /** The context's retry loop: retries and backoff from targets.helm (retrySettings). */
  retry: TargetContext['retry']
  signal: AbortSignal
  /** One attempt's limit (targets.helm.requestTimeoutSeconds). */
  timeoutMs: number
  /** Fewer retries than the settings allow, for a quick answer (status). */
  maxRetries?: number
}

/** Where the kubeconfig points, for messages: never the credentials. */
export interface ClusterInfo {
  context: string
  server: string
}

function bodyMessage(body: unknown): string | undefined {
  let b = body
  if (typeof body === 'string') {
    try {
      b = JSON.parse(body)
    } catch {
      return body.slice(0, 300) || undefined
    }
  }
  return typeof b === 'object' && b !== null && typeof (b as { message?: unknown }).message === 'string' ? (b as { message: string }).message : undefined
}

class RequestTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms / 1000}s`)
  }
}

const DROPPED = /ECONNRESET|ECONNREFUSED|socket hang up|fetch failed|other side closed/i

/** Every call mlx makes is idempotent (server-side apply, delete, get, list), so any transient failure is worth another attempt. */
function classify(err: unknown): RetryDecision {
  if (err instanceof RequestTimeout) return { retry: true, reason: err.message }
  if (err instanceof ApiException) {
    const code = err.code
    const header = Object.entries(err.headers ?? {}).find(([k]) => k.toLowerCase() === 'retry-after')?.[1]
    return { retry: code === 429 || code >= 500, afterMs: retryAfterMs(header, { capMs: 30_000 }), reason: code === 429 ? 'rate limited (429)' : `HTTP ${code}` }
  }
  const text = String((err as Error)?.message) + String((err as { cause?: Error })?.cause?.message)
  return { retry: DROPPED.test(text), reason: networkReason(err) }
}

/**
 * The signal of the attempt running in this async context. The generated clients take no
 * signal, but every request they make passes through the kubeconfig's authentication, which
 * can set one: so an attempt is abortable and has a deadline whatever client method it calls.
 */
const attemptSignal = new AsyncLocalStorage<AbortSignal>()

class AbortableKubeConfig extends KubeConfig {
  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context)
    const signal = attemptSignal.getStore()
    if (signal) context.setSignal(signal)
  }
}

/**
 * The few Kubernetes API calls deploy needs, through @kubernetes/client-node with the user's
 * kubeconfig (KUBECONFIG, ~/.kube/config or in-cluster). Requests go through the context's retry
 * loop: 429 (honouring Retry-After), 5xx, timeouts and dropped connections are retried.
 */
export class Cluster {
  readonly info: ClusterInfo
  private readonly objects: KubernetesObjectApi
  private readonly apps: AppsV1Api
  private readonly core: CoreV1Api

  constructor(
    readonly kc: KubeConfig,
    private readonly opts: ClusterOptions,
  ) {
    const cluster = kc.getCurrentCluster()
    this.info = { context: kc.getCurrentContext(), server: cluster?.server ?? '' }
    this.objects = KubernetesObjectApi.makeApiClient(kc)
    this.apps = kc.makeApiClient(AppsV1Api)
    this.core = kc.makeApiClient(CoreV1Api)
  }

  static fromDefault(opts: ClusterOptions): Cluster {
    const kc = new AbortableKubeConfig()
    try {
      kc.loadFromDefault()
    } catch (err) {
      throw new MlxError('CREDENTIALS_MISSING', `could not read the kubeconfig: ${(err as Error).message}`, { hint: 'set KUBECONFIG to a valid kubeconfig file, or fix ~/.kube/config.' })
    }
    if (opts.context) {
      if (!kc.getContextObject(opts.context)) {
        throw new MlxError('TARGET_CONFIG_INVALID', `targets.helm.context: the kubeconfig has no context '${opts.context}' (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}).`, {
          hint: '`kubectl config get-contexts` lists them.',
        })
      }
      kc.setCurrentContext(opts.context)
    }
    // With no kubeconfig at all, the client falls back to http://localhost:8080 with no user: say so instead.
    const fallback = kc.getCurrentContext() === 'loaded-context' && kc.getCurrentCluster()?.server === 'http://localhost:8080'
    if (!kc.getCurrentCluster()?.server || fallback) {
      throw new MlxError('CREDENTIALS_MISSING', 'no Kubernetes cluster is configured: the kubeconfig has no current context with a server.', {
        hint: 'point KUBECONFIG at your cluster\'s kubeconfig (or run e.g. `kind create cluster`, `minikube start`, `gcloud container clusters get-credentials`).',
      })
    }
    return new Cluster(kc, opts)
  }

  /** Runs one API call, retrying what is worth retrying, and turns failures into MlxErrors. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const max = this.opts.maxRetries ?? Infinity
    let attempt = 0
    try {
      return await this.opts.retry(
        what,
        (n) => {
          attempt = n
          return this.attempt(fn)
        },
        (err) => (attempt < max ? classify(err) : { retry: false, reason: '' }),
      )
    } catch (err) {
      throw this.explain(what, err)
    }
  }

  private async attempt<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = AbortSignal.timeout(this.opts.timeoutMs)
    try {
      return await attemptSignal.run(AbortSignal.any([this.opts.signal, deadline]), fn)
    } catch (err) {
      if (deadline.aborted && !this.opts.signal.aborted) throw new RequestTimeout(this.opts.timeoutMs)
      throw err
    }
  }

  explain(what: string, err: unknown): Error {
    if (err instanceof MlxError) return err
    const where = `the cluster at ${this.info.server} (context ${this.info.context})`
    if (err instanceof ApiException) {
      const msg = bodyMessage(err.body)
      if (err.code === 401) return new MlxError('CREDENTIALS_MISSING', `${what}: ${where} refused the credentials (HTTP 401).`, { hint: 'refresh them (e.g. `gcloud container clusters get-credentials`, `aws eks update-kubeconfig`) or check the user in the kubeconfig.', cause: err })
      if (err.code === 403) return new MlxError('DEPLOY_FAILED', `${what}: forbidden (HTTP 403)${msg ? `: ${msg}` : ''}.`, { hint: 'the kubeconfig user needs rights to apply Deployments, Services, ServiceAccounts (and HPA/Ingress) in the namespace, and to list pods and read their logs.', cause: err })
      return new MlxError('DEPLOY_FAILED', `${what}: HTTP ${err.code}${msg ? `: ${msg}` : ''}.`, { hint: err.code === 422 ? 'the API server rejected the object; see the message above.' : `check ${where}.`, cause: err })
    }
    if (err instanceof RequestTimeout) {
      return new MlxError('DEPLOY_FAILED', `${what}: ${where} gave ${err.message}.`, { hint: 'check that the cluster is running, or raise targets.helm.requestTimeoutSeconds for a slow API server.', cause: err })
    }
    return new MlxError('DEPLOY_FAILED', `${what}: cannot reach ${where}: ${networkReason(err)}`, { hint: 'check that the cluster is running and that KUBECONFIG points at it.', cause: err })
  }

  /** Server-side apply: creates or updates, owned by field manager `mlx` (force takes fields back from kubectl edits). */
  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.call(`applying ${obj.kind}/${obj.metadata?.name}`, () => this.objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply))
  }

  async delete(obj: KubernetesObject): Promise<void> {
    await this.call(`deleting ${obj.kind}/${obj.metadata?.name}`, () => this.objects.delete(obj)).catch((err: unknown) => {
      if ((err as { cause?: unknown }).cause instanceof ApiException && ((err as { cause: ApiException<unknown> }).cause.code === 404)) return
      throw err
    })
  }

  deployment(name: string, namespace: string): Promise<V1Deployment> {
    return this.call(`reading deployment/${name}`, () => this.apps.readNamespacedDeployment({ name, namespace }))
  }

  async pods(namespace: string, selector: Record<string, string>): Promise<V1Pod[]> {
    const labelSelector = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',')
    return (await this.call('listing pods', () => this.core.listNamespacedPod({ namespace, labelSelector }))).items
  }

  /** The last lines a container printed (its previous run's, after a crash); '' when there are none. */
  async podLog(name: string, namespace: string, container: string, tailLines: number, previous: boolean): Promise<string> {
    try {
      return await this.call(`reading the log of pod/${name}`, () => this.core.readNamespacedPodLog({ name, namespace, container, tailLines, previous }))
    } catch {
      return ''
    }
  }
}

/**
 * What the kubeconfig's user authenticates with, as secrets: a bearer token, a password, a client
 * key, an auth provider's tokens. A cluster (or a proxy) that echoes a request back cannot show them.
 */
function userSecrets(kc: KubeConfig): (string | undefined)[] {
  const u = kc.getCurrentUser()
  if (!u) return []
  const provider = (u.authProvider as { config?: Record<string, string> } | undefined)?.config ?? {}
  return [u.token, u.password, u.keyData, provider['access-token'], provider['id-token'], provider['refresh-token'], provider['client-secret']]
}

/** The kubeconfig's cluster (targets.helm.context), called through the context's retry loop. */
export function clusterFor(ctx: TargetContext<HelmConfig>, maxRetries?: number): Cluster {
  const cfg = ctx.config
  const cluster = Cluster.fromDefault({ context: cfg.context, retry: ctx.retry, signal: ctx.signal, timeoutMs: cfg.requestTimeoutSeconds * 1000, maxRetries })
  for (const s of userSecrets(cluster.kc)) ctx.secret(s)
  return cluster
}
