import { CloudRunApi } from './api.js'
import { applicationDefault, type Adc } from './auth.js'
import { resolveSettings, type CloudRunContext, type Resolved } from './config.js'

/** The settings, the credentials and the API client one command talks to Cloud Run with. */
export interface Session {
  adc: Adc
  api: CloudRunApi
  r: Resolved
  project: string
  parent: string
  name: string
}

export const names = (project: string, r: Resolved) => {
  const parent = `projects/${project}/locations/${r.region}`
  return { parent, name: `${parent}/services/${r.service}` }
}

// preflight, the push destination and deploy of one `mlx deploy` share its abort signal: keyed on
// it, they load Application Default Credentials (a metadata-server round trip) once between them.
const loaded = new WeakMap<AbortSignal, Promise<Adc>>()

/** Application Default Credentials and the project, once per command. */
export function credentialsFor(ctx: CloudRunContext, r: Resolved = resolveSettings(ctx)): Promise<Adc> {
  let adc = loaded.get(ctx.signal)
  if (!adc) {
    adc = applicationDefault(r.project, { retry: ctx.retry, secret: ctx.secret })
    loaded.set(ctx.signal, adc)
  }
  return adc
}

/** A session whose client retries through the context; close its `api` when done. */
export async function session(ctx: CloudRunContext): Promise<Session> {
  const r = resolveSettings(ctx)
  const adc = await credentialsFor(ctx, r)
  return { adc, api: new CloudRunApi(ctx, adc.auth), r, project: adc.project, ...names(adc.project, r) }
}
