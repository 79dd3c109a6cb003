import { describe, expect, it } from 'vitest'
import { retryAfterMs, sleep } from './wait.js'

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates, and ignores what it cannot read', () => {
    expect(retryAfterMs('3')).toBe(3000)
    expect(retryAfterMs('0.5')).toBe(500)
    expect(retryAfterMs(7)).toBe(7000)
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:07 GMT', { now })).toBe(7000)
    expect(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', { now })).toBe(0)
    expect(retryAfterMs(new Date(10_000).toUTCString(), { now: 4_000 })).toBe(6_000)
    expect(retryAfterMs('soon')).toBeUndefined()
    expect(retryAfterMs(null)).toBeUndefined()
    expect(retryAfterMs('')).toBeUndefined()
  })

  it('caps seconds and dates at capMs when given', () => {
    expect(retryAfterMs('100000', { capMs: 60_000 })).toBe(60_000)
    expect(retryAfterMs('100000')).toBe(100_000_000)
    expect(retryAfterMs(new Date(200_000).toUTCString(), { now: 0, capMs: 30_000 })).toBe(30_000)
  })
})

describe('sleep', () => {
  it('resolves after the wait, and rejects with the abort reason at once, also when already aborted', async () => {
    const c = new AbortController()
    await sleep(5, c.signal)
    const waiting = sleep(60_000, c.signal)
    c.abort(new Error('stopped'))
    await expect(waiting).rejects.toThrow('stopped')
    await expect(sleep(1, c.signal)).rejects.toThrow('stopped')
    await sleep(1)
  })
})
