/** targets.fly: the settings, and which app and token a command uses. */
import { MlxError, retrySettings, type ConfigOf, type Deployment, type TargetContext } from '@mlx/core'

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    app: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$', description: 'Fly app name, global on Fly (default: the project name). Flag: --app.' },
    org: { type: 'string', default: 'personal', description: 'Organization slug the app is created in when it does not exist.' },
    region: { type: 'string', default: 'ams', description: 'Region new Machines are created in (`fly platform regions`).' },
    machines: { type: 'integer', minimum: 1, maximum: 20, default: 1, description: 'How many Machines serve the app.' },
    guest: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Machine size, in Fly\'s terms: cpu_kind (shared or performance; default shared), cpus (default 1), memory_mb (a multiple of 256; default 512).',
      properties: {
        cpu_kind: { type: 'string', enum: ['shared', 'performance'], default: 'shared' },
        cpus: { type: 'integer', minimum: 1, default: 1 },
        memory_mb: { type: 'integer', minimum: 256, multipleOf: 256, default: 512 },
      },
    },
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 8080, description: 'Port the server listens on in the container; Fly routes 443 (TLS) and 80 (redirected to https) to it.' },
    env: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Extra environment variables of the Machines (not secrets: use `fly secrets set`).' },
    deployTimeoutSeconds: { type: 'integer', minimum: 1, default: 300, description: 'How long each Machine may take to start and pass GET /readyz.' },
    apiUrl: { type: 'string', default: 'https://api.machines.dev', description: 'Machines API base URL (http://_api.internal:4280 inside Fly\'s WireGuard network).' },
    registry: { type: 'string', default: 'registry.fly.io', description: 'Registry host the image is pushed to, as <registry>/<app>.' },
    ...retrySettings,
  },
} as const

export type Ctx = TargetContext<ConfigOf<typeof configSchema>>

export const TOKEN = 'FLY_API_TOKEN'
export const tokenHint = (app: string) =>
  `create one with \`fly tokens create deploy -a ${app}\` (the app must exist: \`fly apps create ${app}\`), or \`fly tokens create org\` to let mlx create the app, and export it as ${TOKEN}.`

/** The app this deploy goes to: --app, targets.fly.app, else the project name (mlx.yaml already restricts it to what Fly accepts). */
export function appOf(ctx: Ctx): string {
  const app = typeof ctx.flags.app === 'string' && ctx.flags.app ? ctx.flags.app : (ctx.config.app ?? ctx.project.name)
  if (!/^[a-z0-9][a-z0-9-]*$/.test(app)) throw new MlxError('USAGE', `--app '${app}' is not a Fly app name.`, { hint: 'use lowercase letters, digits and dashes.' })
  return app
}

/** What status and rollback act on: the app the last ready deploy went to (the flag is not theirs). */
export const recordedApp = (ctx: Ctx, d?: Deployment) => String(d?.details?.app ?? ctx.history.lastReady()?.details?.app ?? appOf(ctx))
