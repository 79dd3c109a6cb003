import type { LoadedModel } from '../contracts.js'
import type { Tensor, TensorData } from '../types.js'
import type { Logger } from '../types.js'

export interface BatchingOptions {
  /** Most rows one merged run() carries. */
  readonly maxBatchSize: number
  /** How long the first queued request waits for company when the model is idle. */
  readonly maxWaitMs: number
}

type Feeds = Readonly<Record<string, Tensor>>
type Outputs = Record<string, Tensor>

interface Waiting {
  readonly feeds: Feeds
  readonly rows: number
  resolve(out: Outputs): void
  reject(err: unknown): void
}

const dynamicFirstAxis = (shape: readonly (number | string)[]) => shape.length > 0 && (typeof shape[0] === 'string' || (shape[0] as number) < 0)

/**
 * Where every request's model call goes through. Without batching it calls run() once per
 * request. With batching, concurrent requests are merged along the batch axis into one run():
 * a request that finds the model idle waits at most maxWaitMs for others; requests that arrive
 * while a run is in flight are merged into the next one. Outputs are split back by row counts.
 * Throughput rises because one run() over N rows costs far less than N runs; a request never
 * waits for more than maxWaitMs plus the run in flight.
 */
export class ModelRunner {
  private queue: Waiting[] = []
  private queuedRows = 0
  private timer: NodeJS.Timeout | undefined
  private inFlight = 0
  private readonly batching: BatchingOptions | undefined

  constructor(
    readonly name: string,
    readonly model: LoadedModel,
    private readonly observe: (seconds: number) => void,
    batching?: BatchingOptions,
    private readonly log?: Logger,
  ) {
    // Only a model whose every input has a free batch axis can take merged rows.
    const fixed = model.inputs.filter((i) => !dynamicFirstAxis(i.shape))
    if (batching && fixed.length) {
      log?.warn(`model '${name}': batching is off because input${fixed.length > 1 ? 's' : ''} ${fixed.map((i) => `'${i.name}' ${JSON.stringify(i.shape)}`).join(', ')} ha${fixed.length > 1 ? 've' : 's'} a fixed first dimension; export the model with a dynamic batch axis to batch it.`)
    }
    this.batching = batching && !fixed.length && model.inputs.length > 0 ? batching : undefined
  }

  /** Whether concurrent requests are merged (batching asked for, and the model can take it). */
  get batched(): boolean {
    return this.batching !== undefined
  }

  run(feeds: Feeds): Promise<Outputs> {
    const rows = rowsOf(feeds)
    if (!this.batching || rows === undefined || rows >= this.batching.maxBatchSize) return this.runOnce(feeds)
    return new Promise<Outputs>((resolve, reject) => {
      if (this.queuedRows + rows > this.batching!.maxBatchSize) this.flush()
      this.queue.push({ feeds, rows, resolve, reject })
      this.queuedRows += rows
      if (this.queuedRows >= this.batching!.maxBatchSize) this.flush()
      else if (this.inFlight === 0 && !this.timer) this.timer = setTimeout(() => this.flush(), this.batching!.maxWaitMs)
    })
  }

  private async runOnce(feeds: Feeds): Promise<Outputs> {
    const t0 = performance.now()
    try {
      return await this.model.run(feeds)
    } finally {
      this.observe((performance.now() - t0) / 1000)
    }
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.queue
    if (!batch.length) return
    this.queue = []
    this.queuedRows = 0
    this.inFlight++
    void this.runBatch(batch).finally(() => {
      this.inFlight--
      // What queued up while the model was busy goes next, without waiting again.
      if (this.queue.length) this.flush()
    })
  }

  private async runBatch(batch: Waiting[]): Promise<void> {
    if (batch.length === 1) return this.settle(batch[0]!, this.runOnce(batch[0]!.feeds))
    const merged = mergeFeeds(batch.map((w) => w.feeds))
    if (!merged) return this.runAlone(batch)
    let out: Outputs
    try {
      out = await this.runOnce(merged)
    } catch {
      // One bad request must not fail its neighbours: run each alone so only it gets the error.
      return this.runAlone(batch)
    }
    const parts = splitOutputs(out, batch.map((w) => w.rows))
    if (!parts) {
      this.log?.warn(`model '${this.name}': an output's first dimension is not the batch axis; running requests one by one.`)
      return this.runAlone(batch)
    }
    batch.forEach((w, i) => w.resolve(parts[i]!))
  }

  private async runAlone(batch: Waiting[]): Promise<void> {
    for (const w of batch) await this.settle(w, this.runOnce(w.feeds))
  }

  private async settle(w: Waiting, work: Promise<Outputs>): Promise<void> {
    try {
      w.resolve(await work)
    } catch (err) {
      w.reject(err)
    }
  }
}

/** The common first dimension of every feed, or undefined when they disagree. */
function rowsOf(feeds: Feeds): number | undefined {
  let rows: number | undefined
  for (const t of Object.values(feeds)) {
    const n = t.shape[0]
    if (n === undefined || (rows !== undefined && n !== rows)) return undefined
    rows = n
  }
  return rows
}

/** Concatenates each input along axis 0; undefined when dtypes or trailing dimensions differ. */
export function mergeFeeds(all: readonly Feeds[]): Feeds | undefined {
  const names = Object.keys(all[0]!)
  const out: Record<string, Tensor> = {}
  for (const name of names) {
    const parts = all.map((f) => f[name])
    const first = parts[0]!
    const tail = first.shape.slice(1).join(',')
    if (parts.some((p) => !p || p.dtype !== first.dtype || p.shape.slice(1).join(',') !== tail)) return undefined
    const rows = parts.reduce((n, p) => n + p!.shape[0]!, 0)
    out[name] = { dtype: first.dtype, shape: [rows, ...first.shape.slice(1)], data: concat(parts.map((p) => p!.data)) }
  }
  return out
}

function concat(parts: TensorData[]): TensorData {
  const first = parts[0]!
  if (Array.isArray(first)) return (parts as unknown[][]).flat() as TensorData
  const total = parts.reduce((n, p) => n + p.length, 0)
  const Ctor = first.constructor as new (n: number) => Exclude<TensorData, unknown[]>
  const out = new Ctor(total)
  let at = 0
  for (const p of parts as Exclude<TensorData, unknown[]>[]) {
    ;(out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(p as ArrayLike<unknown>, at)
    at += p.length
  }
  return out
}

/** Splits every output by row counts; undefined when an output's first axis is not the batch. */
export function splitOutputs(out: Outputs, rows: readonly number[]): Outputs[] | undefined {
  const total = rows.reduce((a, b) => a + b, 0)
  const parts: Outputs[] = rows.map(() => ({}))
  for (const [name, t] of Object.entries(out)) {
    if (t.shape[0] !== total) return undefined
    const per = total === 0 ? 0 : t.data.length / total
    let at = 0
    rows.forEach((n, i) => {
      const data = (t.data as { slice(a: number, b: number): TensorData }).slice(at * per, (at + n) * per)
      parts[i]![name] = { dtype: t.dtype, shape: [n, ...t.shape.slice(1)], data }
      at += n
    })
  }
  return parts
}
