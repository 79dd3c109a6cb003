import { rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { defineTarget, DeployFailedError, MlxError, type Artifact, type ConfigOf, type Deployment, type TargetContext } from '@mlx/core'
import { localApiKey } from './api-key.js'
import { freePort, isAlive, startBundle, stopProcess, tail, waitReady } from './process.js'

const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 8080, description: 'Port the deployed server listens on.' },
    host: { type: 'string', default: '127.0.0.1', description: 'Interface to bind (0.0.0.0 to reach it from other machines).' },
    readyTimeoutSeconds: { type: 'integer', minimum: 1, default: 120, description: 'How long to wait for /readyz.' },
    keepReleases: { type: 'integer', minimum: 1, default: 3, description: 'Bundles kept under .mlx/local/releases for rollback.' },
  },
} as const

const displayHost = (h: string) => (h === '0.0.0.0' ? '127.0.0.1' : h)
const bundleOf = (d: Deployment | undefined) => d?.details?.bundle as string | undefined

/**
 * The embedded default: the bundle run as a background `node` process on this machine. Deploys
 * are blue/green in time: the new release is smoke-started on a spare port first, and only if it
 * becomes ready is the running one stopped and replaced; if the replacement fails to start, the
 * previous release is started again.
 */
export const localTarget = defineTarget({
  name: 'local',
  description: 'Runs the bundle as a background process on this machine (no account needed).',
  configSchema,

  async package(bundle, ctx): Promise<Artifact> {
    const releases = ctx.releases()
    const id = `${bundle.info.version}-${bundle.info.appDigest.slice('sha256:'.length, 'sha256:'.length + 12)}`
    const dir = releases.path(id)
    if (path.resolve(bundle.dir) !== dir) {
      await releases.create(id) // an empty folder: rename() puts the bundle in its place
      await rename(bundle.dir, dir)
    }
    // The newest few, plus the one the running deployment uses and this one.
    await releases.prune(ctx.config.keepReleases, [bundleOf(ctx.history.lastReady()), dir])
    return { target: 'local', version: bundle.info.version, digest: bundle.info.appDigest, paths: { bundle: dir, entry: path.join(dir, 'server.mjs') } }
  },

  async plan(artifact, ctx) {
    const cfg = ctx.config
    const prev = ctx.history.lastReady()
    const running = prev && isAlive(prev.details?.pid as number | undefined)
    return {
      target: 'local',
      steps: [
        { action: 'smoke-start', detail: `node ${artifact.paths.entry} on a spare port, wait for /readyz` },
        ...(running ? [{ action: 'stop', detail: `release ${prev.version} (pid ${String(prev.details?.pid)})` }] : []),
        { action: 'start', detail: `serve ${artifact.version} on http://${displayHost(cfg.host)}:${cfg.port}` },
      ],
    }
  },

  deploy: (artifact, ctx) => release(artifact, ctx),

  async status(ctx) {
    const last = ctx.history.lastReady()
    if (!last) return undefined
    const pid = last.details?.pid as number | undefined
    let status: Deployment['status'] = isAlive(pid) ? 'unknown' : 'stopped'
    if (status === 'unknown' && last.url) {
      const res = await fetch(`${last.url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)
      status = res?.status === 200 ? 'ready' : 'failed'
    }
    return { ...last, status }
  },

  async rollback(to, ctx) {
    if (to.ref && !to.recorded) {
      throw new MlxError('USAGE', `no ready local release matches '${to.ref}'.`, { hint: '`mlx status --target local --history` lists the recorded versions and digests.' })
    }
    const bundle = bundleOf(to.recorded)
    if (!to.recorded || !bundle) throw new MlxError('DEPLOY_FAILED', 'no earlier local release to roll back to.', { hint: '`mlx status --target local` lists what was deployed.' })
    return release({ target: 'local', version: to.recorded.version, digest: to.recorded.digest, paths: { bundle, entry: path.join(bundle, 'server.mjs') } }, ctx)
  },
})

type LocalContext = TargetContext<ConfigOf<typeof configSchema>>

/** Smoke run on a spare port, then the swap; on a failed swap the previous release is started again. */
async function release(artifact: Artifact, ctx: LocalContext): Promise<Deployment> {
  const cfg = ctx.config
  const bundleDir = artifact.paths.bundle!
  const logFile = path.join(ctx.outDir, 'server.log')
  const env: Record<string, string> = { ...ctx.project.env }
  const apiKey = await localApiKey(ctx)
  if (apiKey) {
    env[apiKey.env] = apiKey.key
    ctx.log.info(apiKey.file ? `  server.auth: callers send the key in ${path.relative(process.cwd(), apiKey.file) || apiKey.file} (Authorization: Bearer <key>); set ${apiKey.env} when deploying to use your own.` : `  server.auth: the key is ${apiKey.env} from this shell.`)
  }
  // The probe sends the key only when the manifest locks the health routes too.
  const probeHeaders: Record<string, string> = apiKey && !ctx.project.server.auth!.public.includes('health') ? { authorization: `Bearer ${apiKey.key}` } : {}
  const timeout = cfg.readyTimeoutSeconds * 1000

  // 1. Smoke run on a spare port: a broken release never replaces a working one.
  const smokePort = await freePort()
  const smokeLog = path.join(ctx.outDir, 'smoke.log')
  await rm(smokeLog, { force: true })
  const smokePid = startBundle(bundleDir, smokePort, '127.0.0.1', smokeLog, env)
  const smoke = await ctx.log.step(`Starting ${artifact.version} on a spare port`, () => waitReady(ctx, `http://127.0.0.1:${smokePort}`, smokePid, timeout, probeHeaders))
  await stopProcess(smokePid)
  if (smoke !== 'ready') {
    throw new MlxError('DEPLOY_FAILED', `the new release did not become ready (${smoke === 'exited' ? 'the process exited' : `no ready answer within ${cfg.readyTimeoutSeconds}s`}). Its output:\n${tail(smokeLog)}`, {
      hint: 'fix the error above and deploy again; the running release (if any) was not touched.',
    })
  }

  // 2. Swap: stop the previous release, start this one on the real port.
  const prev = ctx.history.lastReady()
  const prevPid = prev?.details?.pid as number | undefined
  if (prev && isAlive(prevPid)) await ctx.log.step(`Stopping ${prev.version} (pid ${prevPid})`, () => stopProcess(prevPid!))
  const url = `http://${displayHost(cfg.host)}:${cfg.port}`
  const pid = startBundle(bundleDir, cfg.port, cfg.host, logFile, env)
  const result = await ctx.log.step(`Starting ${artifact.version} on ${url}`, () => waitReady(ctx, url, pid, timeout, probeHeaders))
  if (result !== 'ready') {
    await stopProcess(pid)
    let restored: Deployment | undefined
    const prevBundle = bundleOf(prev)
    if (prev && prevBundle && isAlive(prevPid) === false && (await stat(prevBundle).catch(() => undefined))) {
      // Back where it was: its own port and host, which this deploy's config may have changed.
      const prevPort = Number(prev.details?.port ?? cfg.port)
      const prevHost = String(prev.details?.host ?? cfg.host)
      const back = startBundle(prevBundle, prevPort, prevHost, logFile, env)
      const ok = await waitReady(ctx, `http://${displayHost(prevHost)}:${prevPort}`, back, timeout, probeHeaders)
      const { time: _was, ...same } = prev // stamped now: the restart is a new fact
      if (ok === 'ready') restored = ctx.record({ ...same, details: { ...prev.details, pid: back, restoredAfterFailure: artifact.version } })
    }
    const log = tail(logFile)
    const inUse = /PORT_IN_USE|EADDRINUSE/.test(log)
    throw new DeployFailedError(`release ${artifact.version} did not start on ${url}.${restored ? ` The previous release ${prev!.version} was started again.` : ''} Its output:\n${log}`, {
      code: inUse ? 'PORT_IN_USE' : 'DEPLOY_FAILED',
      hint: inUse ? `port ${cfg.port} is held by another process: stop it, or set targets.local.port in mlx.yaml.` : 'see the output above; the release passed its smoke run, so check the port and host settings.',
      restored,
    })
  }
  return ctx.record({ url, version: artifact.version, digest: artifact.digest, details: { pid, bundle: bundleDir, log: logFile, port: cfg.port, host: cfg.host, ...(apiKey?.file ? { apiKeyFile: apiKey.file } : {}) } })
}
