import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { defineTarget, done, MlxError, pending } from '@mlx/core'
import { checkApiKey, keyNote } from './api-key.js'
import { appOf, configSchema, recordedApp, TOKEN, tokenHint, type Ctx } from './config.js'
import { FlyMachines, flyToken, serving, webGroup, type Machine, type MachineConfig } from './machines.js'

/** The Machines API as the token reaches it; a refused token (401/403) says which token to make. */
function api(ctx: Ctx, app: string): FlyMachines {
  const token = flyToken(ctx.credentials.require(TOKEN, tokenHint(app)))
  const http = ctx.http({
    platform: 'Fly',
    baseUrl: ctx.config.apiUrl,
    headers: { authorization: token.header },
    hint: (err) => (err.status === 401 || err.status === 403 ? `Fly refused ${TOKEN} for app '${app}': it may be a deploy token of another app, or the name may belong to another organization (set targets.fly.app). To get one, ${tokenHint(app)}` : undefined),
  })
  return new FlyMachines(http, app)
}

/** The whole Machine config (Fly takes no partial updates): the image, one HTTP service on the container port, its /readyz check. */
const machineConfig = (ctx: Ctx, image: string): MachineConfig => ({
  image,
  guest: ctx.config.guest,
  env: ctx.config.env,
  // flyctl's process-group keys: `fly status` and `fly scale` see these Machines as the app's.
  metadata: { fly_platform_version: 'v2', fly_process_group: 'app', mlx_project: ctx.project.name },
  services: [
    {
      protocol: 'tcp',
      internal_port: ctx.config.port,
      ports: [
        { port: 443, handlers: ['tls', 'http'] },
        { port: 80, handlers: ['http'], force_https: true },
      ],
      checks: [{ type: 'http', port: ctx.config.port, method: 'GET', path: '/readyz', interval: '10s', timeout: '5s', grace_period: '10s' }],
    },
  ],
})

/** Until Fly says the Machine (this instance) started and its checks pass; Fly's wait long-polls, at most 60 s a call. */
function untilServing(ctx: Ctx, fly: FlyMachines, m: Machine, instanceId?: string): Promise<Machine> {
  let started = false
  return ctx.waitUntil(
    `Fly machine ${m.id}`,
    async () => {
      started ||= await fly.waitStarted(m.id, Math.min(60, ctx.config.deployTimeoutSeconds), instanceId)
      const now = await fly.get(m.id)
      if (started && serving(now)) return done(now)
      return pending(now.state === 'started' ? `started, checks: ${now.checks?.map((c) => `${c.name} ${c.status}`).join(', ') || 'not reported yet'}` : now.state)
    },
    {
      timeoutMs: ctx.config.deployTimeoutSeconds * 1000,
      intervalMs: 1000,
      hint: `\`fly logs -a ${fly.app} --machine ${m.id}\` shows why it did not start; the Machines after it were not touched and still serve the previous image (\`mlx rollback --target fly\` puts it back on this one). Raise targets.fly.deployTimeoutSeconds if it only needs longer.`,
    },
  )
}

/** One Machine at a time, so a bad image stops at the first; extras beyond `machines` go once the rest serve. */
async function rollout(ctx: Ctx, fly: FlyMachines, image: string) {
  const config = machineConfig(ctx, image)
  const existing = (await fly.list()).filter(webGroup)
  const ready: Machine[] = []
  for (let i = 0; i < ctx.config.machines; i++) {
    const old = existing[i]
    const m = old ? await fly.update(old, config) : await fly.create(ctx.config.region, config)
    ctx.log.info(`  machine ${m.id} ${old ? 'updated' : `created in ${m.region ?? ctx.config.region}`}, waiting for /readyz`)
    ready.push(await untilServing(ctx, fly, m, old ? m.instance_id : undefined))
  }
  for (const extra of existing.slice(ctx.config.machines)) await fly.destroy(extra.id)
  return ready.map((m) => ({ id: m.id, region: m.region, instance_id: m.instance_id }))
}

const digestOf = (image: string) => /@(sha256:[a-f0-9]{64})$/.exec(image)?.[1]

/** The image core pushed to registry.fly.io/<app>, run as Fly Machines through the Machines REST API. */
export const flyTarget = defineTarget({
  name: 'fly',
  description: 'Fly.io: the image pushed to registry.fly.io/<app> and run as Fly Machines (Machines API).',
  configSchema,
  flags: { app: { type: 'string', description: 'Fly app name (default: targets.fly.app, else the project name).' } },
  image: {
    port: (cfg) => cfg.port,
    destination: (ctx) => ({ registry: ctx.config.registry, repository: appOf(ctx), login: { username: 'x', password: flyToken(ctx.credentials.require(TOKEN, tokenHint(appOf(ctx)))).bare, source: TOKEN } }),
  },

  async package(_bundle, ctx) {
    checkApiKey(ctx.project)
    const app = appOf(ctx)
    const built = ctx.image!.built
    const image = built ? `${ctx.config.registry}/${app}@${built.digest}` : `${ctx.config.registry}/${app}:${ctx.project.version.replace(/[^A-Za-z0-9._-]/g, '-')}`
    await mkdir(ctx.outDir, { recursive: true })
    const machine = path.join(ctx.outDir, 'machine.json')
    await writeFile(machine, `${JSON.stringify({ region: ctx.config.region, config: machineConfig(ctx, image) }, null, 2)}\n`)
    return { target: 'fly', version: ctx.project.version, digest: built?.digest, paths: { machine, dockerfile: ctx.image!.files.dockerfile }, details: { app, image } }
  },

  async plan(artifact, ctx) {
    const { app, image } = artifact.details!
    const c = ctx.config
    return {
      target: 'fly',
      steps: [
        { action: 'app', detail: `GET /v1/apps/${app}; created in org ${c.org} if missing` },
        { action: 'push', detail: `${image} (login x / ${TOKEN})` },
        { action: 'ips', detail: 'an IPv6 and a shared IPv4, if the app has no address yet' },
        { action: 'machines', detail: `${c.machines} × ${c.guest.cpu_kind} ${c.guest.cpus} CPU ${c.guest.memory_mb} MB in ${c.region}, updated in place (missing ones created), one at a time, each started with GET /readyz passing on :${c.port} within ${c.deployTimeoutSeconds}s` },
        { action: 'serve', detail: `https://${app}.fly.dev` },
      ],
    }
  },

  // registry.fly.io/<app> exists only once the app does, and core pushes before deploy: so the app is made here.
  async preflight(_artifact, ctx) {
    const fly = api(ctx, appOf(ctx))
    if (await fly.getApp()) return
    ctx.log.info(`  Fly app ${fly.app} does not exist: creating it in org ${ctx.config.org}`)
    await fly.createApp(ctx.config.org)
  },

  async deploy(artifact, ctx) {
    const pushed = ctx.image!.pushed!
    const fly = api(ctx, appOf(ctx))
    const note = keyNote(ctx.project, fly.app)
    if (note) ctx.log.info(note)
    for (const ip of await fly.ensurePublicIps(ctx.config.org)) ctx.log.info(`  allocated ${ip}`)
    const machines = await rollout(ctx, fly, pushed.ref)
    return ctx.record({ url: `https://${fly.app}.fly.dev`, version: artifact.version, digest: pushed.digest, details: { app: fly.app, image: pushed.ref, tags: pushed.tags, region: ctx.config.region, machines } })
  },

  async status(ctx) {
    const last = ctx.history.lastReady()
    if (!last) return undefined
    if (!ctx.credentials.get(TOKEN)) return { ...last, status: 'unknown' }
    const ms = (await api(ctx, recordedApp(ctx, last)).list()).filter(webGroup)
    const status = ms.length > 0 && ms.every(serving) ? 'ready' : ms.every((m) => m.state === 'stopped' || m.state === 'suspended') ? 'stopped' : ms.some((m) => m.state === 'failed') ? 'failed' : 'unknown'
    return { ...last, status, details: { ...last.details, machines: ms.map((m) => ({ id: m.id, state: m.state, image: m.config?.image, checks: m.checks })) } }
  },

  async rollback(to, ctx) {
    const image = to.recorded ? String(to.recorded.details?.image ?? '') : /[:@]/.test(to.ref ?? '') ? to.ref! : ''
    if (!digestOf(image) && !/:[\w.-]+$/.test(image)) {
      throw new MlxError('USAGE', to.ref ? `no ready fly deployment matches '${to.ref}', and it is not an image reference.` : 'no earlier ready fly deployment to roll back to.', {
        hint: '`mlx status --target fly --history` lists the recorded versions and digests; --to also takes an image, e.g. registry.fly.io/APP@sha256:….',
      })
    }
    const fly = api(ctx, recordedApp(ctx, to.recorded))
    const machines = await rollout(ctx, fly, image)
    return ctx.record({ url: `https://${fly.app}.fly.dev`, version: to.recorded?.version ?? to.ref!, digest: digestOf(image), details: { app: fly.app, image, machines } })
  },
})
