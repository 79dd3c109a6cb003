import { createServer, type Server } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock, withRetries, type RetryDecision } from '@mlx/core'
import { Cluster } from './cluster.js'

// An API server that takes the connection and never answers: a hung apiserver or a dead proxy.
describe('Cluster: each API call has a deadline and follows the deploy abort signal', () => {
  let server: Server
  let dir: string
  let seen = 0
  const saved = process.env.KUBECONFIG

  beforeAll(async () => {
    server = createServer(() => void seen++)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-kube-'))
    const kubeconfig = path.join(dir, 'config')
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
    )
    process.env.KUBECONFIG = kubeconfig
  })

  afterAll(async () => {
    process.env.KUBECONFIG = saved
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await rm(dir, { recursive: true, force: true })
  })

  const cluster = (signal: AbortSignal, timeoutMs: number) =>
    Cluster.fromDefault({
      retry: <T,>(what: string, fn: (attempt: number) => Promise<T>, classify: (err: unknown) => RetryDecision) => withRetries(what, fn, { retries: 1, baseMs: 1, classify, clock: systemClock, signal }),
      signal,
      timeoutMs,
    })

  it('a call with no answer is retried once, then fails naming the timeout and the setting to raise', async () => {
    seen = 0
    const t0 = Date.now()
    const err = await cluster(new AbortController().signal, 200).deployment('m', 'ns').then(() => undefined, (e: unknown) => e as { code: string; message: string; hint: string })
    expect(err?.code).toBe('DEPLOY_FAILED')
    expect(err?.message).toMatch(/reading deployment\/m: the cluster at http:\/\/127\.0\.0\.1:\d+ \(context x\) gave no answer within 0\.2s/)
    expect(err?.hint).toMatch(/targets\.helm\.requestTimeoutSeconds/)
    expect(seen).toBe(2)
    expect(Date.now() - t0).toBeLessThan(5000)
  })

  it('aborting the deploy ends a call in flight at once', async () => {
    const abort = new AbortController()
    const call = cluster(abort.signal, 60_000).deployment('m', 'ns').then(() => undefined, (e: unknown) => e as Error)
    await new Promise((r) => setTimeout(r, 100))
    const t0 = Date.now()
    abort.abort(new Error('stopped by the user'))
    const err = await call
    expect(err?.message).toMatch(/stopped by the user|interrupted/)
    expect(Date.now() - t0).toBeLessThan(1000)
  })
})
