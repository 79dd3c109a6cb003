import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { MlxError, type Artifact, type Deployment, type Target } from '@mlx/core'
import { freePort, isAlive, startBundle, stopProcess, tail, waitReady } from './process.js'

interface LocalConfig {
  port: number
  host: string
  readyTimeoutSeconds: number
  keepReleases: number
}

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

/**
 * The embedded default: the bundle run as a background `node` process on this machine. Deploys
 * are blue/green in time: the new release is smoke-started on a spare port first, and only if it
 * becomes ready is the running one stopped and replaced; if the replacement fails to start, the
 * previous release is started again.
 */
export const localTarget: Target = {
  name: 'local',
  description: 'Runs the bundle as a background process on this machine (no account needed).',
  configSchema,

  async package(bundle, ctx): Promise<Artifact> {
    const releases = path.join(ctx.outDir, 'releases')
    const id = `${bundle.info.version}-${bundle.info.appDigest.slice('sha256:'.length, 'sha256:'.length + 12)}`
    const dir = path.join(releases, id)
    await mkdir(releases, { recursive: true })
    if (path.resolve(bundle.dir) !== dir) {
      await rm(dir, { recursive: true, force: true })
      await rename(bundle.dir, dir)
    }
    await pruneReleases(releases, (ctx.config as unknown as LocalConfig).keepReleases, ctx.history.list('local').map((d) => String(d.details?.bundle ?? '')), dir)
    return { target: 'local', version: bundle.info.version, digest: bundle.info.appDigest, paths: { bundle: dir, entry: path.join(dir, 'server.mjs') } }
  },

  async plan(artifact, ctx) {
    const cfg = ctx.config as unknown as LocalConfig
    const prev = lastReady(ctx)
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

  async deploy(artifact, ctx): Promise<Deployment> {
    const cfg = ctx.config as unknown as LocalConfig
    const bundleDir = artifact.paths.bundle!
    const logFile = path.join(ctx.outDir, 'server.log')
    const env = { ...ctx.project.env }
    const timeout = cfg.readyTimeoutSeconds * 1000

    // 1. Smoke run on a spare port: a broken release never replaces a working one.
    const smokePort = await freePort()
    const smokeLog = path.join(ctx.outDir, 'smoke.log')
    await rm(smokeLog, { force: true })
    const smokePid = startBundle(bundleDir, smokePort, '127.0.0.1', smokeLog, env)
    const smoke = await ctx.log.step(`Starting ${artifact.version} on a spare port`, () => waitReady(`http://127.0.0.1:${smokePort}`, smokePid, timeout, ctx.signal))
    await stopProcess(smokePid)
    if (smoke !== 'ready') {
      throw new MlxError('DEPLOY_FAILED', `the new release did not become ready (${smoke === 'exited' ? 'the process exited' : `no ready answer within ${cfg.readyTimeoutSeconds}s`}). Its output:\n${tail(smokeLog)}`, {
        hint: 'fix the error above and deploy again; the running release (if any) was not touched.',
      })
    }

    // 2. Swap: stop the previous release, start this one on the real port.
    const prev = lastReady(ctx)
    const prevPid = prev?.details?.pid as number | undefined
    if (prev && isAlive(prevPid)) await ctx.log.step(`Stopping ${prev.version} (pid ${prevPid})`, () => stopProcess(prevPid!))
    const url = `http://${displayHost(cfg.host)}:${cfg.port}`
    const pid = startBundle(bundleDir, cfg.port, cfg.host, logFile, env)
    const result = await ctx.log.step(`Starting ${artifact.version} on ${url}`, () => waitReady(url, pid, timeout, ctx.signal))
    if (result !== 'ready') {
      await stopProcess(pid)
      let restored = ''
      const prevBundle = prev?.details?.bundle as string | undefined
      if (prev && prevBundle && isAlive(prevPid) === false && (await stat(prevBundle).catch(() => undefined))) {
        // Back where it was: its own port and host, which this deploy's config may have changed.
        const prevPort = Number(prev.details?.port ?? cfg.port)
        const prevHost = String(prev.details?.host ?? cfg.host)
        const back = startBundle(prevBundle, prevPort, prevHost, logFile, env)
        const ok = await waitReady(`http://${displayHost(prevHost)}:${prevPort}`, back, timeout)
        if (ok === 'ready') {
          ctx.history.append({ ...prev, time: new Date().toISOString(), details: { ...prev.details, pid: back, restoredAfterFailure: artifact.version } })
          restored = ` The previous release ${prev.version} was started again.`
        }
      }
      const log = tail(logFile)
      const inUse = /PORT_IN_USE|EADDRINUSE/.test(log)
      throw new MlxError(inUse ? 'PORT_IN_USE' : 'DEPLOY_FAILED', `release ${artifact.version} did not start on ${url}.${restored} Its output:\n${log}`, {
        hint: inUse ? `port ${cfg.port} is held by another process: stop it, or set targets.local.port in mlx.yaml.` : 'see the output above; the release passed its smoke run, so check the port and host settings.',
      })
    }
    return {
      target: 'local',
      env: ctx.env,
      url,
      version: artifact.version,
      digest: artifact.digest,
      time: new Date().toISOString(),
      status: 'ready',
      details: { pid, bundle: bundleDir, log: logFile, port: cfg.port, host: cfg.host },
    }
  },

  async status(ctx) {
    const last = lastReady(ctx)
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
    const releases = ctx.history.list('local').filter((d) => d.status === 'ready')
    const current = releases.at(-1)
    if (!to && typeof ctx.flags.to === 'string') {
      throw new MlxError('USAGE', `no ready local release matches '${ctx.flags.to}'.`, { hint: '`mlx status --target local --history` lists the recorded versions and digests.' })
    }
    const target = to ?? [...releases].reverse().find((d) => d.digest !== current?.digest)
    if (!target?.details?.bundle) throw new MlxError('DEPLOY_FAILED', 'no earlier local release to roll back to.', { hint: '`mlx status --target local` lists what was deployed.' })
    return this.deploy({ target: 'local', version: target.version, digest: target.digest, paths: { bundle: String(target.details.bundle), entry: path.join(String(target.details.bundle), 'server.mjs') } }, ctx)
  },
}

/** The release that should be running now: the newest deploy that succeeded (failed ones are recorded too). */
function lastReady(ctx: { history: { list(target?: string): Deployment[] } }): Deployment | undefined {
  return ctx.history
    .list('local')
    .filter((d) => d.status === 'ready')
    .at(-1)
}

/** Keeps the newest `keep` releases, plus the one the running deployment uses and the new one. */
async function pruneReleases(dir: string, keep: number, inUse: string[], current: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true })
  const withTime = await Promise.all(entries.filter((e) => e.isDirectory()).map(async (e) => ({ p: path.join(dir, e.name), t: (await stat(path.join(dir, e.name))).mtimeMs })))
  withTime.sort((a, b) => b.t - a.t)
  const pinned = new Set([...inUse.slice(-1), current])
  for (const r of withTime.slice(keep)) if (!pinned.has(r.p)) await rm(r.p, { recursive: true, force: true })
}
