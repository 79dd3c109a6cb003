import type { LoadedModel, Tensor } from '../contracts.js'

/**
 * Where every request's model call goes through. Today it calls run() once per request; this is
 * the seam where adaptive batching (max batch size, max wait) will merge concurrent requests.
 */
export class ModelRunner {
  constructor(
    readonly name: string,
    readonly model: LoadedModel,
    private readonly observe: (seconds: number) => void,
  ) {}

  async run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    const t0 = performance.now()
    try {
      return await this.model.run(feeds)
    } finally {
      this.observe((performance.now() - t0) / 1000)
    }
  }
}
