import { requireKeyDelivery, requirePublicHealth, type Project } from '@mlx/core'
import type { CloudRunConfig } from './config.js'

/**
 * server.auth on Cloud Run: the key comes from Secret Manager (targets.cloudrun.secrets), and the
 * revision's startup and liveness probes, which send no key, need the health routes public.
 */
export function checkApiKey(project: Project, cfg: CloudRunConfig): void {
  const auth = project.server.auth
  if (!auth) return
  const secret = auth.env.toLowerCase().replace(/_/g, '-')
  requireKeyDelivery(
    project,
    'cloudrun',
    Object.keys(cfg.secrets ?? {}),
    `add \`targets.cloudrun.secrets: { ${auth.env}: { secret: ${secret} } }\` to ${project.manifestFile}; create the secret without the key passing through a file or a shell history (openssl rand -hex 32 | gcloud secrets create ${secret} --data-file -) and let the runtime service account read it (roles/secretmanager.secretAccessor).`,
  )
  requirePublicHealth(project, "the revision's startup probe (/readyz) and liveness probe (/healthz) are Cloud Run httpGet probes", 'no new revision would ever start, and the deploy would end at its ready deadline')
}
