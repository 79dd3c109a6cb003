// Small helpers for the docker target's tests: run a tool, hash a registry blob, poll a URL.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'

export interface ToolRun {
  code: number
  stdout: string
  stderr: string
}

export function run(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
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

/** GETs a blob straight from the registry and returns the sha256 of what came back. */
export async function blobDigest(registry: string, repo: string, digest: string): Promise<string> {
  const res = await fetch(`http://${registry}/v2/${repo}/blobs/${digest}`)
  if (res.status !== 200) return `HTTP ${res.status}`
  return `sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`
}

export async function manifestStatus(registry: string, repo: string, ref: string): Promise<number> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${ref}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  })
  return res.status
}

export async function waitFor(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false)
    if (ok) return true
    await new Promise((r) => setTimeout(r, 250))
  }
  return false
}
