import { cpSync, mkdtempSync } from 'node:fs'
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
