import { requirePublicHealth, type Project } from '@mlx/core'

/**
 * server.auth on Fly: a Machine sees the app's secrets as environment variables, and the Machines
 * API has no call mlx could use to check one is set, so the key is the user's one `fly secrets`
 * step; what mlx can check is that the /readyz check Fly runs (no key) stays public.
 */
export function checkApiKey(project: Project): void {
  requirePublicHealth(project, "each Machine's Fly check (GET /readyz)", 'no Machine would pass its check and the rollout would stop at the first one')
}

/** The line deploy prints when server.auth is on; without the secret the Machines do not start. */
export function keyNote(project: Project, app: string): string | undefined {
  const auth = project.server.auth
  if (!auth) return undefined
  return `  server.auth: the Machines read ${auth.env} from the app's secrets, which mlx does not set; once per app: openssl rand -hex 32 | sed 's/^/${auth.env}=/' | fly secrets import -a ${app} (a Machine without it does not start)`
}
