// A real OCI registry for tests: Debian's docker-registry (distribution v2), on 127.0.0.1 with a
// throw-away storage folder. scripts/setup-test-env.sh installs it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../cli.js'

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  readonly host: string
  readonly port: number
  readonly storage: string
  /** What the registry printed (for failure messages). */
  output(): string
  stop(): Promise<void>
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

export async function startRegistry(): Promise<TestRegistry> {
  if (!hasCommand('docker-registry')) throw new Error('docker-registry is not installed: run `bash scripts/setup-test-env.sh` (Debian package docker-registry)')
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-registry-'))
  const storage = path.join(dir, 'storage')
  const port = await freePort()
  const config = path.join(dir, 'config.yml')
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  )
  let out = ''
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${out}`)
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200, () => false)
    if (ok) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`docker-registry did not answer on 127.0.0.1:${port} within 20s:\n${out}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    storage,
    output: () => out,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(t)
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}
