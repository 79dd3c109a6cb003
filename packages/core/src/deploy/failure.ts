import type { Deployment } from '../contracts.js'
import { MlxError, type ErrorCode } from '../errors.js'

/**
 * A deploy that failed after putting the previous release back (local restarts it, helm
 * re-applies its manifests): core records the failed attempt, then `restored`, so status knows
 * what serves now.
 */
export class DeployFailedError extends MlxError {
  readonly restored?: Deployment
  constructor(message: string, opts: { hint?: string; cause?: unknown; restored?: Deployment; code?: ErrorCode } = {}) {
    super(opts.code ?? 'DEPLOY_FAILED', message, opts)
    this.restored = opts.restored
  }
}
