/**
 * Waiting, shared by every target that polls or backs off: one abortable sleep, and one reading of
 * an HTTP Retry-After value, so that Ctrl-C and a server's "come back later" behave the same way
 * against every platform.
 */

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts; the listener is removed either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error)
    const onAbort = () => {
      clearTimeout(t)
      reject(signal!.reason as Error)
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Retry-After in milliseconds: delay-seconds (a fraction tolerated) or an HTTP date, never
 * negative, at most `capMs` when given (a hostile value must not stall a deploy); undefined when
 * absent or unreadable.
 */
export function retryAfterMs(value: string | number | null | undefined, opts: { capMs?: number; now?: number } = {}): number | undefined {
  if (value === null || value === undefined) return undefined
  const s = String(value).trim()
  if (!s) return undefined
  let ms: number
  if (/^\d+(\.\d+)?$/.test(s)) ms = Math.round(Number(s) * 1000)
  else {
    const at = Date.parse(s)
    if (Number.isNaN(at)) return undefined
    ms = Math.max(0, at - (opts.now ?? Date.now()))
  }
  return opts.capMs === undefined ? ms : Math.min(ms, opts.capMs)
}
