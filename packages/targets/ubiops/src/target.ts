import { MlxError, type Deployment, type Target } from '@mlx/core'
import { UbiopsApiError } from './api.js'
import { configSchema, settings } from './config.js'
import { apiFailure, clientFor, deployZip, planDeploy } from './deploy.js'
import { packageZip } from './package.js'

/**
 * UbiOps: a deployment zip (deployment.py + the bundle + input/output specs + ubiops.yaml that
 * installs Node), uploaded as a revision of a new version v{i} through the REST API v2.1, built,
 * tried on the endpoint's example, then made the default.
 */
export const ubiopsTarget: Target = {
  name: 'ubiops',
  description: 'UbiOps deployment zip (deployment.py running the bundle), uploaded and built through the UbiOps API v2.1.',
  configSchema,

  bundlePlatform(config, flags) {
    return (typeof flags.platform === 'string' && flags.platform) || (config.platform as string | undefined) || 'linux/amd64'
  },

  package: packageZip,

  async plan(artifact, ctx) {
    return { target: 'ubiops', steps: await planDeploy(artifact, ctx) }
  },

  deploy: deployZip,

  async status(ctx) {
    const s = settings(ctx)
    const last = ctx.history.list('ubiops').filter((d) => d.status === 'ready').at(-1)
    if (!s.project || !ctx.credentials.get('UBIOPS_API_TOKEN')) return last
    const client = clientFor(ctx, s)
    try {
      const dep = await client.getDeployment(s.deployment)
      if (!dep) return last ? { ...last, status: 'stopped' } : undefined
      const name = dep.default_version ?? undefined
      if (!name) return last ? { ...last, status: 'unknown' } : undefined
      const v = await client.getVersion(s.deployment, name)
      const status: Deployment['status'] = v.status === 'available' ? 'ready' : v.status === 'unavailable' || v.status === 'failed' ? 'failed' : 'unknown'
      const recorded = ctx.history.list('ubiops').filter((d) => d.version === name && d.details?.deployment === s.deployment).at(-1)
      return {
        ...(recorded ?? { target: 'ubiops', time: new Date().toISOString() }),
        target: 'ubiops',
        version: name,
        revision: v.active_revision ?? recorded?.revision,
        status,
        details: { ...recorded?.details, project: s.project, deployment: s.deployment, default: true, versionStatus: v.status },
      }
    } catch (err) {
      if (err instanceof UbiopsApiError) throw apiFailure(err, s)
      throw err
    }
  },

  /** Points the deployment's default version back at an earlier one; nothing is rebuilt or deleted. */
  async rollback(to, ctx) {
    const s = settings(ctx)
    const client = clientFor(ctx, s)
    try {
      const dep = await client.getDeployment(s.deployment)
      if (!dep) throw new MlxError('USAGE', `UbiOps deployment ${s.deployment} does not exist in project ${s.project}.`, { hint: 'deploy first: `mlx deploy --target ubiops`.' })
      const versions = await client.listVersions(s.deployment)
      const exists = (v: string) => versions.some((x) => x.version === v)
      const current = dep.default_version ?? undefined
      let target: string | undefined
      if (to) target = to.version
      else if (typeof ctx.flags.to === 'string') target = ctx.flags.to // a version name UbiOps knows, deployed by hand or elsewhere
      else {
        const ready = ctx.history.list('ubiops').filter((d) => d.status === 'ready' && d.details?.deployment === s.deployment)
        target = [...ready].reverse().find((d) => d.version !== current && exists(d.version))?.version
      }
      if (!target) throw new MlxError('USAGE', `no earlier version of ${s.deployment} to roll back to (the default is ${current ?? 'unset'}).`, { hint: `\`mlx rollback --target ubiops --to vN\` names one of: ${versions.map((v) => v.version).join(', ') || 'none'}.` })
      if (!exists(target)) throw new MlxError('USAGE', `version ${target} of ${s.deployment} no longer exists on UbiOps (it has: ${versions.map((v) => v.version).join(', ')}).`, { hint: 'UbiOps keeps 5 versions; pick one that is still there.' })
      if (target !== current) await ctx.log.step(`Making ${target} the default version of ${s.deployment} (was ${current ?? 'unset'})`, () => client.updateDeployment(s.deployment, { default_version: target }))
      const recorded = ctx.history.list('ubiops').filter((d) => d.version === target && d.details?.deployment === s.deployment).at(-1)
      return {
        target: 'ubiops',
        env: ctx.env,
        version: target,
        revision: versions.find((v) => v.version === target)?.active_revision ?? recorded?.revision,
        digest: recorded?.digest,
        time: new Date().toISOString(),
        status: 'ready',
        details: { project: s.project, deployment: s.deployment, default: true, previousDefault: current },
      }
    } catch (err) {
      if (err instanceof UbiopsApiError) throw apiFailure(err, s)
      throw err
    }
  },
}
