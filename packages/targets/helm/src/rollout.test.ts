import { describe, expect, it } from 'vitest'
import { podProblems, rolloutState } from './rollout.js'
import { mergeValues, valuesOverlay } from './values.js'

const dep = (meta: object, spec: object, status: object) => ({ metadata: { name: 'm', ...meta }, spec, status }) as never

describe('rolloutState (kubectl rollout status)', () => {
  it('waits for the new generation to be observed, then for updated, old and available replicas', () => {
    expect(rolloutState(dep({ generation: 2 }, { replicas: 2 }, { observedGeneration: 1 }))).toMatchObject({ done: false, message: expect.stringContaining('observed') })
    expect(rolloutState(dep({ generation: 2 }, { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 1, replicas: 2 }))).toMatchObject({ done: false, message: '1 of 2 new replicas have been updated' })
    expect(rolloutState(dep({ generation: 2 }, { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, replicas: 3 }))).toMatchObject({ done: false, message: '1 old replicas are pending termination' })
    expect(rolloutState(dep({ generation: 2 }, { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 }))).toMatchObject({ done: false, message: '1 of 2 updated replicas are available' })
    expect(rolloutState(dep({ generation: 2 }, { replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })).done).toBe(true)
  })
  it('fails on ProgressDeadlineExceeded', () => {
    const s = rolloutState(dep({ generation: 1 }, { replicas: 1 }, { observedGeneration: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }))
    expect(s).toMatchObject({ done: false, failed: true })
  })
})

describe('podProblems', () => {
  it('names waiting reasons, unschedulable pods and running-but-unready containers; skips terminating pods', () => {
    const pods = [
      { metadata: { name: 'a' }, status: { containerStatuses: [{ name: 'c', ready: false, restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }] } },
      { metadata: { name: 'b' }, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'no nodes' }] } },
      { metadata: { name: 'c' }, status: { containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { running: {} } }] } },
      { metadata: { name: 'd', deletionTimestamp: new Date() }, status: { containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull' } } }] } },
      { metadata: { name: 'e' }, status: { containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] } },
    ]
    expect(podProblems(pods as never)).toEqual([
      { pod: 'a', container: 'c', reason: 'CrashLoopBackOff', message: 'last exit code 137 (OOMKilled)', restarts: 4, crashed: true },
      { pod: 'b', reason: 'Unschedulable', message: 'no nodes' },
      { pod: 'c', container: 'c', reason: 'NotReady', message: expect.stringContaining('/readyz'), restarts: 0, crashed: false },
    ])
  })
})

describe('values overlays', () => {
  it('keep only what differs, and merge back like helm -f (lists replaced, null deletes)', () => {
    const base = { a: 1, m: { x: 1, y: 2 }, l: [1, 2], gone: { k: 1 } }
    const env = { a: 1, m: { x: 1, y: 3 }, l: [3], extra: true }
    const overlay = valuesOverlay(base, env)
    expect(overlay).toEqual({ m: { y: 3 }, l: [3], gone: null, extra: true })
    expect(mergeValues(base, overlay)).toEqual(env)
    expect(valuesOverlay(base, base)).toBeUndefined()
  })
})
