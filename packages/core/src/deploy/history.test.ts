import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Deployment } from '../contracts.js'
import { DeploymentLog } from '../deployments.js'
import { ReleaseFolders } from './releases.js'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'

const d = (over: Partial<Deployment>): Deployment => ({ target: 'x', version: '1.0.0', time: '2026-01-01T00:00:00Z', status: 'ready', ...over })

describe('deployment history', () => {
  it('answers lastReady, find and previousReady per target and environment', () => {
    const log = new DeploymentLog(mkdtempSync(path.join(tmpdir(), 'mlx-hist-')))
    log.append(d({ version: '1.0.0', digest: 'sha256:aaaaaaaa11', revision: 'r1' }))
    log.append(d({ version: '1.1.0', digest: 'sha256:bbbbbbbb22', revision: 'r2' }))
    log.append(d({ version: '1.2.0', status: 'failed' }))
    log.append(d({ version: '9.9.9', env: 'prod', revision: 'p1' }))
    log.append(d({ target: 'y', version: '5.0.0' }))
    const all = log.forTarget('x')
    expect(all.all()).toHaveLength(4)
    expect(all.latest()?.version).toBe('9.9.9')
    expect(all.lastReady()?.revision).toBe('p1')
    expect(all.previousReady()?.revision).toBe('r2')
    const prod = log.forTarget('x', 'prod')
    expect(prod.latest()?.version).toBe('9.9.9')
    expect(prod.previousReady()).toBeUndefined()
    expect(prod.find('r1')).toBeUndefined() // another environment's release
    expect(all.find('r1')?.version).toBe('1.0.0')
    expect(all.find('bbbbbbb')?.version).toBe('1.1.0') // a digest prefix
    expect(all.find('1.2.0')).toBeUndefined() // failed attempts are never a rollback target
    expect(log.forTarget('y').lastReady()?.version).toBe('5.0.0')
    // The same image deployed twice is not a rollback target for itself.
    log.append(d({ version: '9.9.9', env: 'prod', revision: 'p1' }))
    expect(log.forTarget('x', 'prod').previousReady()).toBeUndefined()
  })
})

describe('release folders', () => {
  it('creates numbered folders and prunes all but the newest, sparing pinned ones', async () => {
    const root = path.join(mkdtempSync(path.join(tmpdir(), 'mlx-rel-')), 'releases')
    const r = new ReleaseFolders(root)
    const made = []
    for (let i = 0; i < 5; i++) {
      const { dir, id } = await r.create()
      await writeFile(path.join(dir, 'manifests.yaml'), String(i))
      made.push(id)
    }
    expect(made).toEqual(['1', '2', '3', '4', '5'])
    const removed = await r.prune(2, [path.join(root, '1', 'manifests.yaml')])
    expect(removed.sort()).toEqual(['2', '3'])
    expect(existsSync(r.path('1'))).toBe(true)
    expect(existsSync(r.path('5'))).toBe(true)
    expect((await r.create('v1-abc')).dir).toBe(path.join(root, 'v1-abc'))
  })
})
