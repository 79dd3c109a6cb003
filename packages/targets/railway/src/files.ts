/**
 * What a user of Railway's own CLI keeps next to the app so `railway up` deploys it: a
 * railway.json (config as code: Dockerfile builder, start command, healthcheck, restart policy) and
 * a Procfile with the same start command. Railway marks config-as-code files deprecated (existing
 * services keep reading them until 2026-12-01); `mlx deploy` itself deploys by image and does not
 * need them.
 */
import type { RailwayConfig } from './config.js'

/** The bundle's entry: the mlx server listens on $PORT, which Railway injects. */
export const START_COMMAND = 'node server.mjs'

export function renderRailwayJson(cfg: Pick<RailwayConfig, 'healthcheckPath' | 'healthcheckTimeout' | 'restartPolicy' | 'restartPolicyMaxRetries' | 'region' | 'replicas'>): string {
  const deploy: Record<string, unknown> = {
    startCommand: START_COMMAND,
    healthcheckPath: cfg.healthcheckPath,
    healthcheckTimeout: cfg.healthcheckTimeout,
    restartPolicyType: cfg.restartPolicy,
    ...(cfg.restartPolicy === 'ON_FAILURE' ? { restartPolicyMaxRetries: cfg.restartPolicyMaxRetries } : {}),
    ...(cfg.region ? { multiRegionConfig: { [cfg.region]: { numReplicas: cfg.replicas ?? 1 } } } : cfg.replicas ? { numReplicas: cfg.replicas } : {}),
  }
  const doc = {
    $schema: 'https://railway.com/railway.schema.json',
    // The @mlx packages are not on npm, so Railpack's `npm ci` could not install the bundle; the
    // Dockerfile copies the bundle's own node_modules (already pruned for linux/amd64).
    build: { builder: 'DOCKERFILE', dockerfilePath: 'Dockerfile' },
    deploy,
  }
  return JSON.stringify(doc, null, 2) + '\n'
}

export function renderProcfile(): string {
  return `web: ${START_COMMAND}\n`
}
