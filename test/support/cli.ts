import { spawn } from 'node:child_process'
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises'
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
