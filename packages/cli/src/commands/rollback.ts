import { Args, Flags } from '@oclif/core'
import { rollbackTarget } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { openProject } from '../context.js'

export default class Rollback extends MlxCommand {
  static override summary = 'Move a target back to an earlier deployment (the previous ready one unless --to).'
  static override description =
    'Nothing is rebuilt: the target serves an earlier release it still has (local: a kept bundle; cloudrun: an earlier revision; railway: an earlier deployment; helm: an earlier release; fly: the earlier image). The result is recorded in .mlx/deployments.json like a deploy.'
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
    const d = await rollbackTarget(project, registry, { target: flags.target, env: flags.env, log: this.out, flags, ref: flags.to })
    this.say(`✔ ${project.name} on ${d.target} rolled back to ${d.revision ?? d.version}${d.url ? `: ${d.url}` : ''}`)
    return { target: d.target, version: d.version, revision: d.revision, url: d.url, deployment: d }
  }
}
