import { cpSync, mkdtempSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { envCredentials } from '../credentials.js'
import { DeploymentLog } from '../deployments.js'
import { CLOCK, CREDENTIALS, FETCH, PluginRegistry } from '../plugins/registry.js'
import { loadProject } from '../project.js'
import type { Logger } from '../types.js'
import { done, pending } from './poll.js'
import { defineTarget } from './define.js'
import { contextFor, rollbackTarget } from './flow.js'
import { createTargetContext } from './context.js'
import type { MlxError } from '../errors.js'
import { retrySettings } from './settings.js'

const TITANIC = fileURLToPath(new URL('../../../../examples/titanic', import.meta.url))

function lines(): Logger & { out: string[] } {
  const out: string[] = []
  return { out, info: (m) => out.push(m), warn: (m) => out.push(`warning: ${m}`), debug: (m) => out.push(m), step: async (t, w) => (out.push(t), w()) }
}

/** A target written as a plugin author would: only the context's actions, no plumbing of its own. */
const acme = defineTarget({
  name: 'acme',
  configSchema: { type: 'object', additionalProperties: false, properties: { apiUrl: { type: 'string', default: 'https://api.acme.test' }, ...retrySettings } } as const,
  async package(bundle) {
    return { target: 'acme', version: bundle.info.version, paths: {} }
  },
  async plan() {
    return { target: 'acme', steps: [] }
  },
  async deploy(artifact, ctx) {
    const token = ctx.credentials.require('ACME_TOKEN', 'set ACME_TOKEN')
    const api = ctx.http({ platform: 'Acme', baseUrl: ctx.config.apiUrl, headers: { authorization: `Bearer ${token}` } })
    const { id } = await api.json<{ id: string }>({ method: 'POST', path: '/deploys' })
    const url = await ctx.waitUntil(`deploy ${id}`, async () => {
      const s = await api.json<{ state: string; url?: string }>({ path: `/deploys/${id}` })
      return s.url ? done(s.url) : pending(s.state)
    }, { timeoutMs: 600_000, intervalMs: 5000 })
    ctx.log.info(`deployed with ${token}`)
    return ctx.record({ url, revision: id, version: artifact.version, details: { note: `token was ${token}` } })
  },
  async rollback(to, ctx) {
    return ctx.record({ url: to.recorded?.url, revision: to.recorded?.revision, version: to.recorded?.version ?? 'none' })
  },
})

describe('the target context', () => {
  it('is made of container bindings: a test substitutes time, the network and the environment without patching globals', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mlx-ctx-'))
    cpSync(TITANIC, dir, { recursive: true, filter: (p) => !p.includes(`${path.sep}.mlx`) })
    const project = await loadProject(dir)
    const registry = new PluginRegistry()
    await registry.register({ name: 'acme-plugin', targets: [acme] })

    let now = Date.parse('2026-05-01T12:00:00Z')
    const sleeps: number[] = []
    registry.override(CLOCK, { now: () => now, sleep: async (ms: number) => void (sleeps.push(ms), (now += ms)) })
    const calls: string[] = []
    let polls = 0
    registry.override(FETCH, (async (url: string | URL, init?: RequestInit) => {
      calls.push(`${init?.method ?? 'GET'} ${String(url)} ${(init?.headers as Record<string, string>).authorization}`)
      if (init?.method === 'POST') return Response.json({ id: 'd-1' })
      polls++
      if (polls === 1) return new Response('busy', { status: 503 })
      return Response.json(polls < 4 ? { state: 'building' } : { state: 'live', url: 'https://titanic.acme.test' })
    }) as typeof fetch)
    registry.override(CREDENTIALS, envCredentials({ ACME_TOKEN: 'canary-token-123' }))

    const log = lines()
    const ctx = contextFor(project, registry, { target: 'acme', log })
    const d = await acme.deploy({ target: 'acme', version: project.version, paths: {} }, ctx as never)

    expect(d).toMatchObject({ target: 'acme', url: 'https://titanic.acme.test', revision: 'd-1', status: 'ready', time: '2026-05-01T12:00:11.000Z' })
    expect(calls[0]).toBe('POST https://api.acme.test/deploys Bearer canary-token-123')
    expect(sleeps).toEqual([1000, 5000, 5000]) // one retry of the 503, then two waits between polls
    expect(log.out).toContain('  deploy d-1: building')
    // The token reached the API and nothing else: not the log, not the record.
    expect(log.out.join('\n')).not.toContain('canary-token-123')
    expect(JSON.stringify(d)).not.toContain('canary-token-123')

    // Rollback selection is core's: with no --to, the previous ready record.
    const history = new DeploymentLog(dir)
    history.append({ target: 'acme', version: '0.9.0', revision: 'd-0', url: 'https://old', time: 't0', status: 'ready' })
    history.append(d)
    const back = await rollbackTarget(project, registry, { target: 'acme', log })
    expect(back).toMatchObject({ revision: 'd-0', version: '0.9.0', details: { rollback: true } })
    expect(history.forTarget('acme').lastReady()?.revision).toBe('d-0')
  })
})

describe('the deadlines of the context', () => {
  // Answers the first request of each path, then accepts and never answers.
  const seen = new Map<string, number>()
  const server = createServer((req, res) => {
    const n = (seen.get(req.url!) ?? 0) + 1
    seen.set(req.url!, n)
    if (n === 1) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"state":"building"}')
  })
  let base = ''
  const context = async (signal?: AbortSignal) => {
    if (!base) {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      server.unref()
    }
    const project = await loadProject(TITANIC)
    // A minute per call and four retries: were the looks not bound by the wait, these tests would take minutes.
    return createTargetContext({ project, target: acme, log: lines(), outDir: mkdtempSync(path.join(tmpdir(), 'mlx-ctx-')), signal, config: { apiUrl: base, retries: 4, retryBaseMs: 1, requestTimeoutSeconds: 60 } })
  }

  it('a look that the platform accepts and never answers ends the wait at its deadline (and a second), naming the wait, its last state, the call and the setting', async () => {
    const ctx = await context()
    const api = ctx.http({ platform: 'Acme', baseUrl: base })
    const started = Date.now()
    const err = (await ctx
      .waitUntil('deploy d-1', async () => pending((await api.json<{ state: string }>({ path: '/deploys/d-1' })).state), { timeoutMs: 1000, intervalMs: 50, setting: 'targets.acme.deployTimeoutSeconds' })
      .catch((e: unknown) => e)) as MlxError
    expect(Date.now() - started).toBeLessThan(5000)
    expect(err.message).toBe('deploy d-1: not done within 1s (last state: building); Acme GET /deploys/d-1 was still unanswered.')
    expect(err.hint).toContain('raise targets.acme.deployTimeoutSeconds')
  })

  it('a platform client without a signal (ctx.retry) is cut by the wait it runs in, and by the deploy being aborted', async () => {
    const ctx = await context()
    const never = () => new Promise<never>(() => {})
    const started = Date.now()
    const err = (await ctx.waitUntil('revision r-1', () => ctx.retry('GET services/x', never, () => ({ retry: true, reason: 'again' })), { timeoutMs: 1000, intervalMs: 50 }).catch((e: unknown) => e)) as MlxError
    expect(Date.now() - started).toBeLessThan(5000)
    expect(err.message).toBe('revision r-1: not done within 1s; GET services/x was still unanswered.')

    const abort = new AbortController()
    const aborted = await context(abort.signal)
    setTimeout(() => abort.abort(), 100)
    const t = Date.now()
    const stopped = (await aborted.retry('GET services/x', never, () => ({ retry: true, reason: 'again' })).catch((e: unknown) => e)) as MlxError
    expect(Date.now() - t).toBeLessThan(5000)
    expect(stopped.message).toMatch(/^GET services\/x: interrupted/)
  })
})
