import { defineTarget, MlxError, type Deployment, type TargetContext } from '@mlx/core'
import { clientFor } from './api.js'
import { configSchema, settings, type Settings, type UbiopsConfig } from './config.js'
import { deployZip, planDeploy } from './deploy.js'
import { packageZip } from './package.js'

/** What mlx recorded of a UbiOps version (records of another deployment name are not it). */
function recordOf(ctx: TargetContext<UbiopsConfig>, s: Settings, version: string): Deployment | undefined {
  const d = ctx.history.find(version)
  return d?.version === version && d.details?.deployment === s.deployment ? d : undefined
}

/**
 * UbiOps: a deployment zip (deployment.py + the bundle + input/output specs + ubiops.yaml that
 * installs Node), uploaded as a revision of a new version v{i} through the REST API v2.1, built,
 * tried on the endpoint's example, then made the default.
 */
export const ubiopsTarget = defineTarget({
  name: 'ubiops',
  description: 'UbiOps deployment zip (deployment.py running the bundle), uploaded and built through the UbiOps API v2.1.',
  configSchema,

  bundlePlatform: (ctx) => ctx.config.platform,

  package: packageZip,

  async plan(artifact, ctx) {
    return { target: 'ubiops', steps: await planDeploy(artifact, ctx) }
  },

  deploy: deployZip,

  async status(ctx) {
    const s = settings(ctx)
    const last = ctx.history.lastReady()
    if (!s.project || !ctx.credentials.get('UBIOPS_API_TOKEN')) return last
    const client = clientFor(ctx, s)
    const dep = await client.getDeployment(s.deployment)
    if (!dep) return last ? { ...last, status: 'stopped' } : undefined
    const name = dep.default_version ?? undefined
    if (!name) return last ? { ...last, status: 'unknown' } : undefined
    const v = await client.getVersion(s.deployment, name)
    const status: Deployment['status'] = v.status === 'available' ? 'ready' : v.status === 'unavailable' || v.status === 'failed' ? 'failed' : 'unknown'
    const recorded = recordOf(ctx, s, name)
    return {
      ...(recorded ?? ctx.record({ version: name })),
      revision: v.active_revision ?? recorded?.revision,
      status,
      details: { ...recorded?.details, project: s.project, deployment: s.deployment, default: true, versionStatus: v.status },
    }
  },

  /**
   * Points the deployment's default version back at an earlier one; nothing is rebuilt or deleted.
   * `--to` may name a version UbiOps has that mlx never recorded (deployed by hand or elsewhere).
   */
  async rollback(to, ctx) {
    const s = settings(ctx)
    const client = clientFor(ctx, s)
    const dep = await client.getDeployment(s.deployment)
    if (!dep) throw new MlxError('USAGE', `UbiOps deployment ${s.deployment} does not exist in project ${s.project}.`, { hint: 'deploy first: `mlx deploy --target ubiops`.' })
    const versions = await client.listVersions(s.deployment)
    const names = versions.map((v) => v.version).join(', ')
    const current = dep.default_version ?? undefined
    // A record of another deployment (targets.ubiops.deployment was changed since) says nothing about this one: --to is then a version name.
    const recorded = to.recorded?.details?.deployment === s.deployment ? to.recorded : undefined
    const target = recorded?.version ?? to.ref
    if (!target) throw new MlxError('USAGE', `no earlier version of ${s.deployment} to roll back to (the default is ${current ?? 'unset'}).`, { hint: `\`mlx rollback --target ubiops --to vN\` names one of: ${names || 'none'}.` })
    const version = versions.find((v) => v.version === target)
    if (!version) throw new MlxError('USAGE', `version ${target} of ${s.deployment} no longer exists on UbiOps (it has: ${names}).`, { hint: 'UbiOps keeps 5 versions; pick one that is still there.' })
    if (target !== current) await ctx.log.step(`Making ${target} the default version of ${s.deployment} (was ${current ?? 'unset'})`, () => client.updateDeployment(s.deployment, { default_version: target }))
    const known = recorded ?? recordOf(ctx, s, target)
    return ctx.record({
      version: target,
      revision: version.active_revision ?? known?.revision,
      digest: known?.digest,
      details: { project: s.project, deployment: s.deployment, default: true, previousDefault: current },
    })
  },
})
