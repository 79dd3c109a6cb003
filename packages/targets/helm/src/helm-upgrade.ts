import { isMlxError, MlxError, type TargetContext } from '@mlx/core'
import { applyOptions, hintFor, watchPods } from './apply.js'
import { clusterFor } from './cluster.js'
import type { HelmConfig } from './config.js'
import { parseRelease, runHelm, showCommand, type HelmRelease } from './helm-cli.js'
import type { KubeObject } from './render.js'

/**
 * How long a helm run that waits may take: its wait (--timeout), as long again for the rollback
 * --rollback-on-failure waits for, and two API calls' worth around them.
 */
export const helmLimit = (ctx: Pick<TargetContext<HelmConfig>, 'config'>) => ({ ms: (2 * ctx.config.timeoutSeconds + 2 * ctx.config.requestTimeoutSeconds) * 1000, setting: 'targets.helm.timeoutSeconds' })

/** `helm status` reads a Secret or two: a couple of API calls' worth. */
export const statusLimit = (ctx: Pick<TargetContext<HelmConfig>, 'config'>) => ({ ms: 2 * ctx.config.requestTimeoutSeconds * 1000, setting: 'targets.helm.requestTimeoutSeconds' })

/**
 * helm mode's deploy: `helm upgrade --install`, helm waiting and rolling back on failure. While
 * helm waits, mlx watches the new pods itself: when helm gives up it rolls back and their reasons
 * are gone, and helm only says "not ready".
 */
export async function helmUpgrade(ctx: TargetContext<HelmConfig>, helm: string, args: string[], deployment: KubeObject, release: { name: string; namespace: string }): Promise<HelmRelease | undefined> {
  ctx.log.info(`  ${showCommand(helm, args)}`)
  let pods: ReturnType<typeof watchPods> | undefined
  try {
    pods = watchPods(clusterFor(ctx), deployment, applyOptions(ctx, release.namespace))
  } catch {
    pods = undefined // no kubeconfig this client can read: helm will say so
  }
  let stdout: string
  try {
    ;({ stdout } = await ctx.log.step(`helm upgrade --install ${release.name} (namespace ${release.namespace}, waiting up to ${ctx.config.timeoutSeconds}s)`, () => runHelm(helm, args, ctx.signal, helmLimit(ctx))))
  } catch (err) {
    const report = await pods?.stop()
    if (report && isMlxError(err)) throw new MlxError('DEPLOY_FAILED', `${err.message}\n${report.text}`, { hint: `${hintFor(report.problems)} ${err.hint ?? ''}`.trim(), cause: err })
    throw err
  }
  await pods?.stop()
  return parseRelease(stdout)
}
