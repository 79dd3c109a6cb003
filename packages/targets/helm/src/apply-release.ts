import { DeployFailedError, MlxError, type Deployment } from '@mlx/core'
import { applyObjects, hintFor, pruneObjects, RolloutFailed, waitForRollout, type ApplyOptions } from './apply.js'
import type { Cluster } from './cluster.js'
import type { KubeObject } from './render.js'

/**
 * apply mode's deploy: server-side apply, wait for the rollout, then delete what only the
 * previous release had. A failure puts the previous release back (see restoreAfterFailure).
 */
export async function applyRelease(kube: Cluster, objects: KubeObject[], previous: { record?: Deployment; objects?: KubeObject[] }, opts: ApplyOptions): Promise<void> {
  const deployment = objects.find((o) => o.kind === 'Deployment')!
  try {
    await opts.ctx.log.step(`Applying ${objects.length} objects to ${kube.info.server} (namespace ${opts.namespace})`, () => applyObjects(kube, objects, opts))
    await opts.ctx.log.step(`Waiting for deployment/${deployment.metadata.name} to roll out (up to ${Math.round(opts.timeoutMs / 1000)}s)`, () => waitForRollout(kube, deployment, opts))
  } catch (err) {
    throw await restoreAfterFailure(err, kube, objects, previous.record, previous.objects, opts)
  }
  if (previous.objects) await pruneObjects(kube, previous.objects, objects, opts.ctx.log)
}

/**
 * A failed apply or rollout: put the previous ready release's manifests back (and remove what
 * only the failed one had), wait for it, and explain both. The first deploy has nothing to go
 * back to, so its objects stay for `kubectl describe`.
 */
async function restoreAfterFailure(err: unknown, kube: Cluster, objects: KubeObject[], previous: Deployment | undefined, prevObjects: KubeObject[] | undefined, opts: ApplyOptions): Promise<Error> {
  if (!(err instanceof RolloutFailed) && !(err instanceof MlxError)) return err as Error
  const message = err.message
  const hint = err instanceof RolloutFailed ? hintFor(err.problems) : (err.hint ?? '')
  if (!previous || !prevObjects) {
    return new MlxError('DEPLOY_FAILED', `${message}\nThere was no earlier ready release to restore; the new objects were left in place for inspection.`, { hint, cause: err })
  }
  try {
    await opts.ctx.log.step(`Restoring release ${previous.revision} (${previous.version})`, async () => {
      await applyObjects(kube, prevObjects, { ...opts, createNamespace: false })
      await pruneObjects(kube, objects, prevObjects, opts.ctx.log)
      await waitForRollout(kube, prevObjects.find((o) => o.kind === 'Deployment')!, opts)
    })
  } catch (restoreErr) {
    return new MlxError('DEPLOY_FAILED', `${message}\nRestoring release ${previous.revision} (${previous.version}) failed too: ${(restoreErr as Error).message.split('\n')[0]}`, {
      hint: `${hint} Then re-apply it by hand: kubectl apply --server-side -f ${String(previous.details?.manifests)}`,
      cause: err,
    })
  }
  // Recorded after the failed attempt, so the last ready record is what serves again.
  const { time: _was, ...same } = previous
  const restored = opts.ctx.record({ ...same, details: { ...previous.details, restoredAfterFailure: true } })
  return new DeployFailedError(`${message}\nRelease ${previous.revision} (${previous.version}) was applied again and is serving.`, { hint, cause: err, restored })
}
