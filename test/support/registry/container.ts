// Runs a pushed image for real. podman first (with a CONTAINERS_CONF that selects runc and sets
// ulimits this sandbox accepts, and its own storage folders so nothing leaks into the machine's);
// if podman cannot start containers here, umoci unpack + runc with the host's network. Either way
// the caller gets a URL to talk to, or the reason nothing could run.
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../cli.js'
import { hasCommand } from './registry.js'
import { run, waitFor } from './run.js'

export interface Running {
  readonly engine: 'podman' | 'runc'
  readonly url: string
  /** SIGTERM, wait, and the exit code (0 = the server drained and exited cleanly). */
  stop(): Promise<{ exitCode: number | undefined; logs: string }>
  logs(): Promise<string>
  cleanup(): Promise<void>
}

export type RunResult = { ok: true; running: Running } | { ok: false; reasons: string[] }

const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
`

async function withPodman(image: string, tmp: string, readyTimeoutMs: number, build?: { dockerfile: string; context: string }): Promise<Running | string> {
  if (!hasCommand('podman')) return 'podman is not installed'
  const conf = path.join(tmp, 'containers.conf')
  await writeFile(conf, CONTAINERS_CONF)
  const env = { CONTAINERS_CONF: conf }
  const global = ['--root', path.join(tmp, 'root'), '--runroot', path.join(tmp, 'runroot')]
  const podman = (args: string[], timeoutMs = 120_000) => run('podman', [...global, ...args], { env, timeoutMs })
  if (build) {
    // The Dockerfile path: podman build pulls BASE itself (from the local registry).
    const built = await podman(['build', '--tls-verify=false', '-t', image, '-f', build.dockerfile, build.context], 300_000)
    if (built.code !== 0) return `podman build failed: ${(built.stdout + built.stderr).trim().split('\n').slice(-5).join(' | ')}`
  } else {
    const pull = await podman(['pull', '--tls-verify=false', `docker://${image}`])
    if (pull.code !== 0) return `podman pull failed: ${pull.stderr.trim().split('\n').at(-1)}`
  }
  const port = await freePort()
  const name = `mlx-test-${randomBytes(4).toString('hex')}`
  const started = await podman(['run', '-d', '--name', name, '-p', `127.0.0.1:${port}:8080`, image])
  const cleanup = async () => {
    await podman(['rm', '-f', '-t', '0', name]).catch(() => undefined)
    await podman(['rmi', '-a', '-f']).catch(() => undefined)
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
  }
  if (started.code !== 0) {
    await cleanup()
    return `podman run failed: ${started.stderr.trim().split('\n').slice(-3).join(' | ')}`
  }
  const url = `http://127.0.0.1:${port}`
  const logs = async () => {
    const r = await podman(['logs', name])
    return r.stdout + r.stderr
  }
  if (!(await waitFor(`${url}/readyz`, readyTimeoutMs))) {
    const l = await logs()
    await cleanup()
    return `the container started under podman but ${url}/readyz never answered; its output: ${l.slice(-2000)}`
  }
  return {
    engine: 'podman',
    url,
    logs,
    async stop() {
      await podman(['stop', '-t', '20', name])
      const code = await podman(['inspect', name, '--format', '{{.State.ExitCode}}'])
      return { exitCode: code.code === 0 ? Number(code.stdout.trim()) : undefined, logs: await logs() }
    },
    cleanup,
  }
}

/** umoci unpack + runc, sharing the host's network (no CNI needed): PORT picks a free port. */
async function withRunc(image: string, tmp: string, readyTimeoutMs: number): Promise<Running | string> {
  for (const c of ['skopeo', 'umoci', 'runc']) if (!hasCommand(c)) return `${c} is not installed`
  const layout = path.join(tmp, 'oci')
  const bundle = path.join(tmp, 'bundle')
  const copy = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${image}`, `oci:${layout}:run`])
  if (copy.code !== 0) return `skopeo copy failed: ${copy.stderr.trim()}`
  const unpack = await run('umoci', ['unpack', '--image', `${layout}:run`, bundle])
  if (unpack.code !== 0) return `umoci unpack failed: ${unpack.stderr.trim()}`
  const port = await freePort()
  const specFile = path.join(bundle, 'config.json')
  const spec = JSON.parse(await readFile(specFile, 'utf8')) as {
    process: { env: string[]; terminal: boolean; rlimits?: unknown[] }
    linux: { namespaces: { type: string }[] }
  }
  spec.process.terminal = false
  spec.process.env = [...spec.process.env.filter((e) => !e.startsWith('PORT=')), `PORT=${port}`, 'HOST=127.0.0.1']
  spec.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network')
  await writeFile(specFile, JSON.stringify(spec))
  const id = `mlx-test-${randomBytes(4).toString('hex')}`
  const logFile = path.join(tmp, 'container.log')
  const started = await run('sh', ['-c', `runc run -d --bundle '${bundle}' ${id} > '${logFile}' 2>&1`])
  const logs = () => readFile(logFile, 'utf8').catch(() => '')
  const cleanup = async () => {
    await run('runc', ['delete', '-f', id]).catch(() => undefined)
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
  }
  if (started.code !== 0) {
    const l = await logs()
    await cleanup()
    return `runc run failed: ${(started.stderr + l).trim().slice(-1000)}`
  }
  const url = `http://127.0.0.1:${port}`
  if (!(await waitFor(`${url}/readyz`, readyTimeoutMs))) {
    const l = await logs()
    await cleanup()
    return `runc started the container but ${url}/readyz never answered; its output: ${l.slice(-2000)}`
  }
  return {
    engine: 'runc',
    url,
    logs,
    async stop() {
      await run('runc', ['kill', id, 'TERM'])
      for (let i = 0; i < 80; i++) {
        const st = await run('runc', ['state', id])
        if (st.code !== 0 || (JSON.parse(st.stdout) as { status: string }).status === 'stopped') break
        await new Promise((r) => setTimeout(r, 250))
      }
      // runc does not keep exit codes; a clean drain prints its shutdown line.
      return { exitCode: undefined, logs: await logs() }
    },
    cleanup,
  }
}

/** `podman build` of a Dockerfile, then the same run as a pushed image (podman only). */
export async function buildAndRun(dockerfile: string, context: string, opts: { readyTimeoutMs?: number } = {}): Promise<RunResult> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'mlx-podman-'))
  const r = await withPodman(`localhost/mlx-dockerfile-test:${randomBytes(4).toString('hex')}`, tmp, opts.readyTimeoutMs ?? 90_000, { dockerfile, context })
  if (typeof r !== 'string') return { ok: true, running: r }
  await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
  return { ok: false, reasons: [`podman: ${r}`] }
}

export async function runImage(image: string, opts: { readyTimeoutMs?: number; engines?: ('podman' | 'runc')[] } = {}): Promise<RunResult> {
  const reasons: string[] = []
  for (const engine of opts.engines ?? ['podman', 'runc']) {
    const tmp = await mkdtemp(path.join(os.tmpdir(), `mlx-${engine}-`))
    const r = engine === 'podman' ? await withPodman(image, tmp, opts.readyTimeoutMs ?? 90_000) : await withRunc(image, tmp, opts.readyTimeoutMs ?? 90_000)
    if (typeof r !== 'string') return { ok: true, running: r }
    reasons.push(`${engine}: ${r}`)
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
  }
  return { ok: false, reasons }
}
