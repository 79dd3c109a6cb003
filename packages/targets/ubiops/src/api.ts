import { openAsBlob } from 'node:fs'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import type { ApiError, HttpClient, TargetContext } from '@mlx/core'
import { requireProject, type Settings, type UbiopsConfig } from './config.js'
import type { Field } from './spec.js'

export interface UbiopsDeployment {
  name: string
  input_type: string
  output_type: string
  input_fields: Field[]
  output_fields: Field[]
  default_version?: string | null
  [k: string]: unknown
}
export interface UbiopsVersion {
  version: string
  status?: string
  creation_date?: string
  active_revision?: string | null
  environment?: string
  [k: string]: unknown
}
export interface UbiopsRevision {
  id: string
  status: string
  error_message?: string | null
  [k: string]: unknown
}
export interface UbiopsRequestResult {
  id?: string
  status: string
  result?: unknown
  error_message?: string | null
}

/** The slowest uplink a zip upload is given time for: a 2 GB package must not be cut off at the per-call timeout. */
const UPLOAD_BYTES_PER_MS = 1000

/**
 * The UbiOps REST API v2.1 (UbiOps publishes no npm client) on the context's HTTP client. GET,
 * DELETE and the PATCH of a deployment are retried on 5xx, timeouts and dropped connections;
 * POSTs only on 429, since a POST that failed otherwise may have created something.
 */
export class UbiopsClient {
  readonly projectPath: string

  constructor(
    private readonly api: HttpClient,
    /** For the signed storage URLs, which must never get the API token. */
    private readonly storage: HttpClient,
    project: string,
    private readonly callTimeoutMs: number,
  ) {
    this.projectPath = `/projects/${encodeURIComponent(project)}`
  }

  get retried(): number {
    return this.api.retried + this.storage.retried
  }

  deploymentPath(d: string) {
    return `${this.projectPath}/deployments/${encodeURIComponent(d)}`
  }

  private versionPath(d: string, v: string) {
    return `${this.deploymentPath(d)}/versions/${encodeURIComponent(v)}`
  }

  /** undefined on 404. */
  async getDeployment(d: string): Promise<UbiopsDeployment | undefined> {
    const res = await this.api.request({ path: this.deploymentPath(d), accept: [404] })
    return res.status === 404 ? undefined : res.json<UbiopsDeployment>()
  }
  createDeployment(body: Record<string, unknown>) {
    return this.api.json<UbiopsDeployment>({ method: 'POST', path: `${this.projectPath}/deployments`, json: body })
  }
  updateDeployment(d: string, body: Record<string, unknown>) {
    // It sets fields to values: sending it twice changes nothing, so it retries like a PUT.
    return this.api.json<UbiopsDeployment>({ method: 'PATCH', path: this.deploymentPath(d), json: body, retry: 'always' })
  }
  listVersions(d: string) {
    return this.api.json<UbiopsVersion[]>({ path: `${this.deploymentPath(d)}/versions` })
  }
  getVersion(d: string, v: string) {
    return this.api.json<UbiopsVersion>({ path: this.versionPath(d, v) })
  }
  createVersion(d: string, body: Record<string, unknown>) {
    return this.api.json<UbiopsVersion>({ method: 'POST', path: `${this.deploymentPath(d)}/versions`, json: body })
  }
  async deleteVersion(d: string, v: string): Promise<void> {
    await this.api.request({ method: 'DELETE', path: this.versionPath(d, v) })
  }
  async uploadRevision(d: string, v: string, zip: string) {
    const { size } = await stat(zip)
    return this.api.json<{ success: boolean; revision: string; build?: string }>({
      method: 'POST',
      path: `${this.versionPath(d, v)}/revisions`,
      body: async () => {
        const fd = new FormData()
        fd.set('file', await openAsBlob(zip, { type: 'application/zip' }), path.basename(zip))
        return fd
      },
      timeoutMs: Math.max(this.callTimeoutMs, Math.ceil(size / UPLOAD_BYTES_PER_MS)),
    })
  }
  getRevision(d: string, v: string, id: string) {
    return this.api.json<UbiopsRevision>({ path: `${this.versionPath(d, v)}/revisions/${encodeURIComponent(id)}` })
  }
  /**
   * A file for a request's file field: UbiOps answers with a signed URL the bytes are PUT to
   * (without the API token), and the field's value is then ubiops-file://<bucket>/<file>.
   */
  async uploadFile(bucket: string, file: string, bytes: Buffer): Promise<string> {
    const p = `${this.projectPath}/buckets/${encodeURIComponent(bucket)}/files/${file.split('/').map(encodeURIComponent).join('/')}`
    const { url, provider } = await this.api.json<{ url: string; provider?: string }>({ method: 'POST', path: p, json: {} })
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' }
    if (provider === 'azure') headers['x-ms-blob-type'] = 'BlockBlob'
    await this.storage.request({ method: 'PUT', path: url, headers, body: bytes, what: `PUT (signed upload URL for ${bucket}/${file})` })
    return `ubiops-file://${bucket}/${file}`
  }
  versionRequest(d: string, v: string, data: unknown, timeoutSeconds: number) {
    return this.api.json<UbiopsRequestResult>({
      method: 'POST',
      path: `${this.versionPath(d, v)}/requests`,
      json: data,
      query: { timeout: timeoutSeconds },
      // UbiOps answers after at most `timeout` seconds; the margin is for the way there and back.
      timeoutMs: (timeoutSeconds + 30) * 1000,
    })
  }
}

function hintFor(s: Settings) {
  const hints: Record<number, string> = {
    401: 'UBIOPS_API_TOKEN was refused: check that it is a current token (the value starts with "Token ").',
    403: `the token has no permission on project ${s.project}: give its service user the project-editor role.`,
    404: `check targets.ubiops.project (${s.project}) and the API URL (${s.apiUrl}).`,
    413: 'the zip is too large for UbiOps (2 GB at most): leave files out with .mlxignore.',
    429: 'UbiOps kept rate-limiting after the retries: wait a minute and deploy again (targets.ubiops.retries raises the retries).',
  }
  return (err: ApiError) => hints[err.status] ?? 'see the message above; earlier versions were not changed unless the log says so.'
}

/** Project and token first, so a deploy without them fails before any work. */
export function clientFor(ctx: TargetContext<UbiopsConfig>, s: Settings): UbiopsClient {
  const project = requireProject(s)
  const token = ctx.credentials.require('UBIOPS_API_TOKEN', 'create a service user token in UbiOps (Project Admin → Permissions → API tokens, role project-editor) and export UBIOPS_API_TOKEN="Token …".')
  const api = ctx.http({
    platform: 'UbiOps',
    baseUrl: s.apiUrl,
    // UbiOps shows the token with its "Token " prefix; users paste it either way.
    headers: { Authorization: token.startsWith('Token ') ? token : `Token ${token}` },
    hint: hintFor(s),
  })
  // A refused signed URL is not a problem of UBIOPS_API_TOKEN.
  const storage = ctx.http({ platform: 'UbiOps storage', credentialStatuses: [], hint: () => 'the signed URL UbiOps handed out for the test file was refused; deploy again for a fresh one.' })
  return new UbiopsClient(api, storage, project, ctx.config.requestTimeoutSeconds * 1000)
}
