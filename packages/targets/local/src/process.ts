import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { done, pending, sleep, type TargetContext } from '@mlx/core'

/** A free TCP port on loopback, for the smoke run before the real one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Starts `node server.mjs` in the bundle, detached, its output appended to `logFile`. */
export function startBundle(bundleDir: string, port: number, host: string, logFile: string, env: Record<string, string>): number {
  const fd = openSync(logFile, 'a')
  try {
    const child = spawn(process.execPath, ['server.mjs'], {
      cwd: bundleDir,
      env: { ...process.env, ...env, PORT: String(port), HOST: host },
      detached: true,
      stdio: ['ignore', fd, fd],
    })
    child.unref()
    return child.pid!
  } finally {
    closeSync(fd)
  }
}

/** Polls /readyz until 200 or the process dies; 'timeout' when the deadline passes (or the deploy is interrupted). */
export async function waitReady(ctx: Pick<TargetContext<unknown>, 'waitUntil'>, url: string, pid: number, timeoutMs: number, headers: Record<string, string> = {}): Promise<'ready' | 'exited' | 'timeout'> {
  return ctx
    .waitUntil(
      `${url}/readyz`,
      async () => {
        if (!isAlive(pid)) return done('exited' as const)
        const res = await fetch(`${url}/readyz`, { headers, signal: AbortSignal.timeout(2000) }).catch(() => undefined)
        return res?.status === 200 ? done('ready' as const) : pending()
      },
      { timeoutMs, intervalMs: 150 },
    )
    .catch(() => 'timeout' as const)
}

/** SIGTERM, then SIGKILL if it has not gone after `graceMs`; not abortable, so a Ctrl-C never leaves two servers. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  const until = Date.now() + graceMs
  while (Date.now() < until && isAlive(pid)) await sleep(100)
  if (isAlive(pid)) process.kill(pid, 'SIGKILL')
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}
