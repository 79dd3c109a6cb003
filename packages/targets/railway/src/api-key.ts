import { requireKeyDelivery, requirePublicHealth, type Project } from '@mlx/core'
import type { Settings } from './config.js'

const HEALTH_ROUTES = ['/readyz', '/healthz']

/**
 * server.auth on Railway: the key is a Railway variable sent by reference (targets.railway.secrets),
 * and Railway's healthcheck, which sends no key, needs its path public.
 */
export function checkApiKey(project: Project, s: Settings): void {
  const auth = project.server.auth
  if (!auth) return
  requireKeyDelivery(
    project,
    'railway',
    Object.keys(s.secrets),
    `add \`targets.railway.secrets: [${auth.env}]\` to ${project.manifestFile} (mlx then sends the reference \${{ shared.${auth.env} }}, never a value), and create the shared variable ${auth.env} in the Railway project (Project Settings → Shared Variables) with a random value, e.g. from \`openssl rand -hex 32\`.`,
  )
  const path = s.cfg.healthcheckPath.replace(/\/+$/, '') || '/'
  if (HEALTH_ROUTES.includes(path)) requirePublicHealth(project, `Railway's healthcheck (targets.railway.healthcheckPath: ${s.cfg.healthcheckPath})`, 'the healthcheck would get 401s until its timeout and Railway would never switch traffic to the new deployment')
}
