/**
 * The Fly Machines REST API calls the target makes (https://fly.io/docs/machines/api/), over the
 * context's HTTP client: retries, timeouts, redaction and error messages come from core.
 */
import type { HttpClient } from '@mlx/core'

export interface Machine {
  readonly id: string
  readonly state: string
  readonly region?: string
  /** Changes with every update: what `wait` is asked about. */
  readonly instance_id?: string
  readonly config?: { readonly image?: string; readonly metadata?: Readonly<Record<string, string>> }
  readonly checks?: readonly { readonly name: string; readonly status: string; readonly output?: string }[]
}

/** Machine config as POSTed: Fly takes the whole config on every update (no partial updates). */
export type MachineConfig = Readonly<Record<string, unknown>> & { readonly image: string }

/**
 * `fly tokens create deploy` prints a macaroon (`FlyV1 fm2_…`), which Fly's APIs take with the
 * FlyV1 scheme and its registry as the bare password; other tokens go as Bearer.
 */
export function flyToken(raw: string): { readonly bare: string; readonly header: string } {
  const bare = raw.trim().replace(/^(FlyV1|Bearer)\s+/i, '')
  return { bare, header: bare.split(',').some((t) => /^(fm1r|fm2)_/.test(t)) ? `FlyV1 ${bare}` : `Bearer ${bare}` }
}

/** Started, and every check Fly reports for it passing (at least one is configured: /readyz). */
export const serving = (m: Machine) => m.state === 'started' && !!m.checks?.length && m.checks.every((c) => c.status === 'passing')

/** The Machines of the app's web process group: flyctl's name for it, so `fly status` and `fly deploy` see the same set. */
export const webGroup = (m: Machine) => m.config?.metadata?.fly_process_group === 'app'

export class FlyMachines {
  constructor(
    private readonly http: HttpClient,
    readonly app: string,
  ) {}

  private get base() {
    return `/v1/apps/${encodeURIComponent(this.app)}`
  }

  /** The app, or undefined when Fly has none of that name (404). */
  async getApp(): Promise<{ name: string; organization?: { slug: string } } | undefined> {
    const res = await this.http.request({ path: this.base, accept: [404] })
    return res.status === 404 ? undefined : res.json()
  }

  async createApp(org: string): Promise<void> {
    await this.http.request({ method: 'POST', path: '/v1/apps', json: { app_name: this.app, org_slug: org } })
  }

  /** What `fly deploy` allocates on a first deploy (an IPv6 and a shared IPv4), unless the app has addresses already. */
  async ensurePublicIps(org: string): Promise<string[]> {
    const { ips = [] } = await this.http.json<{ ips?: { ip: string }[] }>({ path: `${this.base}/ip_assignments` })
    if (ips.length) return []
    const made: string[] = []
    for (const type of ['v6', 'shared_v4']) {
      const r = await this.http.json<{ ip?: string }>({ method: 'POST', path: `${this.base}/ip_assignments`, json: { type, org_slug: org } })
      made.push(`${type} ${r?.ip ?? ''}`.trim())
    }
    return made
  }

  list(): Promise<Machine[]> {
    return this.http.json<Machine[]>({ path: `${this.base}/machines` })
  }

  get(id: string): Promise<Machine> {
    return this.http.json<Machine>({ path: `${this.base}/machines/${id}` })
  }

  create(region: string, config: MachineConfig): Promise<Machine> {
    return this.http.json<Machine>({ method: 'POST', path: `${this.base}/machines`, json: { region, config } })
  }

  /** The new config replaces the old one; the Machine restarts on it with a new instance_id. */
  update(m: Machine, config: MachineConfig): Promise<Machine> {
    return this.http.json<Machine>({ method: 'POST', path: `${this.base}/machines/${m.id}`, json: { config, current_version: m.instance_id } })
  }

  async destroy(id: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: `${this.base}/machines/${id}`, query: { force: true } })
  }

  /**
   * Fly holds the call until the Machine (that instance, after an update) is started, or answers
   * 408 after `seconds` (at most 60, as its proxy allows).
   */
  async waitStarted(id: string, seconds: number, instanceId?: string): Promise<boolean> {
    const res = await this.http.request({
      path: `${this.base}/machines/${id}/wait`,
      query: { state: 'started', timeout: seconds, instance_id: instanceId },
      accept: [408],
      timeoutMs: (seconds + 15) * 1000,
    })
    return res.status !== 408
  }
}
