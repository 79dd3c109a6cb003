import { spawn } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const MLX = path.join(ROOT, 'packages/cli/bin/run.js')

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs the real CLI in a child process, as a user would. */
export function mlx(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MLX, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env, NO_COLOR: '1' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout, stderr })
    })
  })
}

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

/** A copy of an example in a temp folder, so tests never write into the repo. */
export async function copyExample(name: string, edit?: (yaml: string) => string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `mlx-${name}-`))
  await cp(path.join(ROOT, 'examples', name), dir, { recursive: true, filter: (f) => !f.includes(`${path.sep}.mlx`) })
  if (edit) {
    const file = path.join(dir, 'mlx.yaml')
    await writeFile(file, edit(await readFile(file, 'utf8')))
  }
  return dir
}

/** The seed's curl payload, verbatim (000_edf19319007d9334.txt). */
export const SEED_PAYLOAD = {
  pclass: [0],
  sex: ['string'],
  age: [0],
  sibsp: [0],
  parch: [0],
  fare: [0],
  embarked: ['string'],
  class: ['string'],
  who: ['string'],
  adult_male: [true],
  deck: [0],
  embark_town: ['string'],
  alive: ['string'],
  alone: [true],
}

/** True once the process is gone (polls for up to `ms`). */
export async function exited(pid: number, ms = 10_000): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
  }
  return false
}

/**
 * `mlx deploy` of a copy of an example to the local target on a free port, with the real CLI.
 * The returned cleanup stops what was started and removes the copies.
 */
export function localDeploys() {
  const pids: number[] = []
  const dirs: string[] = []
  return {
    async deploy(example: string, manifestPort: number) {
      const port = await freePort()
      const dir = await copyExample(example, (y) => y.replace(new RegExp(`^( {4}port:) ${manifestPort}$`, 'm'), `$1 ${port}`))
      dirs.push(dir)
      const r = await mlx(['deploy', dir, '--json'])
      if (r.code !== 0) throw new Error(`mlx deploy ${example} failed:\n${r.stderr}`)
      const out = JSON.parse(r.stdout) as { target: string; version: string; url: string; deployment: { details: { pid: number } } }
      pids.push(out.deployment.details.pid)
      return { out, port, pid: out.deployment.details.pid, dir }
    },
    async cleanup() {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGTERM')
        } catch {
          // already gone
        }
      }
      for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {})
    },
  }
}
