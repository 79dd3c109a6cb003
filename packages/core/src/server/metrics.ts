/**
 * Prometheus text exposition for the few series a model server needs. Hand-rolled because the
 * hot path only increments numbers in preallocated arrays: no label maps, no allocation per request.
 */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

class Series {
  readonly counts = new Float64Array(BUCKETS.length)
  sum = 0
  count = 0
  errors4xx = 0
  errors5xx = 0
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

export class Metrics {
  private readonly series = new Map<string, Series>()
  private readonly modelRuns = new Map<string, Series>()
  private readonly started = Date.now()

  /** Preallocate per endpoint so observe() never creates objects. */
  endpoint(name: string): (seconds: number, status: number) => void {
    const s = new Series()
    this.series.set(name, s)
    return (seconds, status) => {
      s.count++
      s.sum += seconds
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) s.counts[i]!++
      if (status >= 500) s.errors5xx++
      else if (status >= 400) s.errors4xx++
    }
  }

  model(name: string): (seconds: number) => void {
    const s = new Series()
    this.modelRuns.set(name, s)
    return (seconds) => {
      s.count++
      s.sum += seconds
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) s.counts[i]!++
    }
  }

  render(): string {
    const out: string[] = []
    const hist = (metric: string, help: string, label: string, map: Map<string, Series>) => {
      out.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} histogram`)
      for (const [name, s] of map) {
        const l = `${label}="${esc(name)}"`
        BUCKETS.forEach((b, i) => out.push(`${metric}_bucket{${l},le="${b}"} ${s.counts[i]}`))
        out.push(`${metric}_bucket{${l},le="+Inf"} ${s.count}`, `${metric}_sum{${l}} ${s.sum}`, `${metric}_count{${l}} ${s.count}`)
      }
    }
    hist('mlx_request_duration_seconds', 'Time to answer a request, per endpoint.', 'endpoint', this.series)
    out.push('# HELP mlx_request_errors_total Requests answered with an error status, per endpoint and class.', '# TYPE mlx_request_errors_total counter')
    for (const [name, s] of this.series) {
      out.push(`mlx_request_errors_total{endpoint="${esc(name)}",class="4xx"} ${s.errors4xx}`)
      out.push(`mlx_request_errors_total{endpoint="${esc(name)}",class="5xx"} ${s.errors5xx}`)
    }
    hist('mlx_model_run_duration_seconds', 'Time spent in the runtime per run() call, per model.', 'model', this.modelRuns)
    out.push('# HELP mlx_uptime_seconds Seconds since the server started.', '# TYPE mlx_uptime_seconds gauge', `mlx_uptime_seconds ${(Date.now() - this.started) / 1000}`)
    return out.join('\n') + '\n'
  }
}
