// The load generator, run as its own process so it does not share an event loop with a server.
// Usage: node bench/load.mjs '<json config>'
//   config: { url, body, connections, warmup, duration }  (seconds)
// Prints one JSON line: { rps, p50, p90, p99, max, ok, warmupOk, non2xx, errors, timeouts, seconds }.
//
// autocannon drives the connections (keep-alive, no pipelining, as many in flight as connections).
// Latencies are recorded here from its per-response event, in milliseconds as floats: autocannon's
// own histogram rounds to whole milliseconds, too coarse for sub-millisecond requests.
import autocannon from 'autocannon'

const cfg = JSON.parse(process.argv[2] ?? '{}')
const { url, body, connections = 10, warmup = 2, duration = 8, timeout = 10 } = cfg

function run(seconds, record) {
  return new Promise((resolve, reject) => {
    let lat = new Float64Array(1 << 16)
    let n = 0
    const instance = autocannon(
      {
        url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections,
        pipelining: 1,
        duration: seconds,
        timeout,
      },
      (err, result) => (err ? reject(err) : resolve({ result, lat: lat.subarray(0, n) })),
    )
    if (record) {
      instance.on('response', (_client, status, _bytes, ms) => {
        if (status < 200 || status >= 300) return
        if (n === lat.length) {
          const bigger = new Float64Array(lat.length * 2)
          bigger.set(lat)
          lat = bigger
        }
        lat[n++] = ms
      })
    }
  })
}

function pct(sorted, q) {
  if (!sorted.length) return NaN
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

let warmupOk = 0
if (warmup > 0) warmupOk = (await run(warmup, false)).result['2xx']
const { result, lat } = await run(duration, true)
const sorted = Float64Array.from(lat).sort()
const seconds = (new Date(result.finish) - new Date(result.start)) / 1000
const round = (v, d = 3) => Math.round(v * 10 ** d) / 10 ** d
process.stdout.write(
  JSON.stringify({
    rps: round(sorted.length / seconds, 1),
    p50: round(pct(sorted, 0.5)),
    p90: round(pct(sorted, 0.9)),
    p99: round(pct(sorted, 0.99)),
    max: round(sorted.length ? sorted[sorted.length - 1] : NaN),
    ok: sorted.length,
    warmupOk,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: round(seconds),
  }) + '\n',
)
