import { Args, Flags } from '@oclif/core'
import { MlxError, type Deployment } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { openProject } from '../context.js'
import { targetContext } from '../flow.js'

export default class Rollback extends MlxCommand {
  static override summary = 'Move a target back to an earlier deployment (the previous ready one unless --to).'
  static override description =
    'Nothing is rebuilt: the target serves an earlier release it still has (local: a kept bundle; cloudrun: an earlier revision; railway: an earlier deployment; helm: an earlier release). The result is recorded in .mlx/deployments.json like a deploy.'
  static override examples = [
    '<%= config.bin %> rollback examples/titanic',
    '<%= config.bin %> rollback examples/taxifare --target cloudrun --to taxifare-00003-abc',
  ]
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    target: Flags.string({ char: 't', description: 'Target plugin (`mlx targets` lists them).', default: 'local' }),
    env: Flags.string({ description: 'Environment overlay (from environments: in mlx.yaml).' }),
    to: Flags.string({ description: 'What to go back to: a version, revision or digest from `mlx status --history`, or a name the platform knows (e.g. a Cloud Run revision).' }),
  }

  async run() {
    const { args, flags } = await this.parse(Rollback)
    const { project, registry } = await openProject(args.dir, flags.env)
    const target = registry.target(flags.target)
    if (!target.rollback) {
      throw new MlxError('USAGE', `the ${target.name} target cannot roll back.`, { hint: `redeploy an earlier version with \`mlx deploy --target ${target.name}\` from that commit.` })
    }
    const ctx = targetContext(project, target, { env: flags.env, log: this.out, flags })
    const to = flags.to ? findRecorded(ctx.history.list(target.name), flags.to, flags.env) : undefined
    let d: Deployment
    try {
      d = await target.rollback(to, ctx)
    } catch (err) {
      // A rollback that was refused before it touched anything is not an attempt worth recording.
      if (err instanceof MlxError && err.code === 'USAGE') throw err
      ctx.history.append({ target: target.name, env: flags.env, version: to?.version ?? flags.to ?? 'previous', time: new Date().toISOString(), status: 'failed', details: { rollback: true, error: (err as Error).message.split('\n')[0] } })
      throw err
    }
    const recorded: Deployment = { ...d, details: { ...d.details, rollback: true } }
    ctx.history.append(recorded)
    this.say(`✔ ${project.name} on ${target.name} rolled back to ${d.revision ?? d.version}${d.url ? `: ${d.url}` : ''}`)
    return { target: target.name, version: d.version, revision: d.revision, url: d.url, deployment: recorded }
  }
}

/** A recorded ready deployment whose revision, version or digest (or its prefix) is `ref`; newest first. */
export function findRecorded(history: Deployment[], ref: string, env?: string): Deployment | undefined {
  const ready = history.filter((d) => d.status === 'ready' && (env === undefined || d.env === env)).reverse()
  return (
    ready.find((d) => d.revision === ref) ??
    ready.find((d) => d.version === ref) ??
    ready.find((d) => d.digest !== undefined && (d.digest === ref || (ref.length >= 7 && d.digest.replace(/^sha256:/, '').startsWith(ref.replace(/^sha256:/, '')))))
  )
}
