import path from 'node:path'
import { Args, Flags } from '@oclif/core'
import { MlxCommand } from '../base.js'
import { openProject } from '../context.js'
import { packageProject } from '../flow.js'
import { checkTargetFlags, targetFlags } from '../target-flags.js'

export default class Package extends MlxCommand {
  static override summary = "Write a target's artifact under .mlx/<target>/ (no network)."
  static override description = 'Targets add their own flags (e.g. docker\'s --base, --tag); `mlx targets` lists them.'
  static override examples = ['<%= config.bin %> package examples/titanic', '<%= config.bin %> package examples/titanic --target local --out /tmp/titanic']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    target: Flags.string({ char: 't', description: 'Target plugin (`mlx targets` lists them).', default: 'local' }),
    out: Flags.string({ char: 'o', description: 'Output folder (default: <project>/.mlx/<target>).' }),
    env: Flags.string({ description: 'Environment overlay (from environments: in mlx.yaml).' }),
    platform: Flags.string({ description: 'OS/ARCH the artifact runs on (default: this machine; images default to linux/amd64).' }),
  }

  async run() {
    const tf = await targetFlags(this.argv)
    // A spread copies only the class's own statics: --json and --verbose come from MlxCommand.
    const { args, flags } = await this.parse({ ...Package, enableJsonFlag: Package.enableJsonFlag, baseFlags: Package.baseFlags, flags: { ...Package.flags, ...tf.flags } } as typeof Package)
    checkTargetFlags(flags, this.argv, tf, flags.target)
    const { project, registry } = await openProject(args.dir, flags.env)
    const { artifact } = await packageProject(project, registry, { target: flags.target, out: flags.out, env: flags.env, log: this.out, flags })
    const rel = (p: string) => path.relative(process.cwd(), p) || '.'
    this.say(`✔ ${artifact.target} artifact for ${project.name} ${artifact.version}${artifact.digest ? ` (${artifact.digest.slice(0, 19)})` : ''}`)
    for (const [k, p] of Object.entries(artifact.paths)) this.say(`  ${k.padEnd(8)} ${rel(p)}`)
    return { target: artifact.target, name: project.name, version: artifact.version, digest: artifact.digest, paths: artifact.paths, ...(artifact.details ? { details: artifact.details } : {}) }
  }
}
