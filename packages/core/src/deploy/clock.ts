import { sleep } from '../wait.js'

/**
 * Time as targets see it: a binding in the container, so a test can substitute a clock whose
 * sleep returns at once instead of waiting out real backoffs and polls.
 */
export interface Clock {
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = { now: () => Date.now(), sleep }
