import { describe, expect, it } from 'vitest'
import type { Logger } from '../types.js'
import { done, pending, waitUntil } from './poll.js'

function lines(): Logger & { out: string[] } {
  const out: string[] = []
  return { out, info: (m) => out.push(m), warn: (m) => out.push(m), debug: () => {}, step: (_t, w) => w() }
}

describe('waitUntil', () => {
  const clock = () => {
    let t = 0
    return { now: () => t, sleep: async (ms: number) => void (t += ms) }
  }

  it('returns the value once done, logging each new status once', async () => {
    const log = lines()
    const states = ['BUILDING', 'BUILDING', 'DEPLOYING']
    const v = await waitUntil('build 7', async (look) => (look < states.length ? pending(states[look]) : done(42)), { timeoutMs: 60_000, intervalMs: 1000 }, { clock: clock(), signal: new AbortController().signal, log })
    expect(v).toBe(42)
    expect(log.out).toEqual(['  build 7: BUILDING', '  build 7: DEPLOYING'])
  })

  it('fails at the deadline with the last state and the setting to raise', async () => {
    const err = (await waitUntil('rollout', async () => pending('Progressing'), { timeoutMs: 5000, intervalMs: 1000, setting: 'targets.x.timeoutSeconds' }, { clock: clock(), signal: new AbortController().signal, log: lines() }).catch((e: unknown) => e)) as Error & { hint?: string }
    expect(err.message).toBe('rollout: not done within 5s (last state: Progressing).')
    expect(err.hint).toContain('targets.x.timeoutSeconds')
  })

  it('stops when aborted', async () => {
    const abort = new AbortController()
    abort.abort()
    const err = (await waitUntil('x', async () => pending(), { timeoutMs: 5000 }, { clock: clock(), signal: abort.signal, log: lines() }).catch((e: unknown) => e)) as Error
    expect(err.message).toContain('interrupted')
  })
})
