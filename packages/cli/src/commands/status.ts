import { Args, Flags } from '@oclif/core'
import { DeploymentLog, envCredentials, loadProject, loadRegistry, targetConfig, type Deployment } from '@mlx/core'
import path from 'node:path'
import { MlxCommand } from '../base.js'
import { CLI_DIR } from '../context.js'

export default class Status extends MlxCommand {
  static override summary = 'Show what is deployed where (from .mlx/deployments.json, checked live when the target can).'
  static override examples = ['<%= config.bin %> status examples/titanic', '<%= config.bin %> status examples/titanic --target local --json']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    target: Flags.string({ char: 't', description: 'Only this target.' }),
    history: Flags.boolean({ description: 'List every recorded deployment, not only the latest per target.', default: false }),
  }

  async run() {
    const { args, flags } = await this.parse(Status)
    const project = await loadProject(args.dir)
    const registry = await loadRegistry([project.root, CLI_DIR])
    const history = new DeploymentLog(project.root)
    const all = history.list(flags.target)
    const targets = [...new Set(all.map((d) => d.target))]
    const latest: Deployment[] = []
    for (const name of targets) {
      const t = registry.targets().find((x) => x.name === name)
      let d = history.latest(name)!
      if (t?.status) {
        const live = await t.status({
          project,
          config: targetConfig(t, project),
          outDir: path.join(project.root, '.mlx', name),
          log: this.out,
          signal: AbortSignal.timeout(30_000),
          credentials: envCredentials(),
          flags,
          history,
        })
        if (live) d = live
      }
      latest.push(d)
    }
    if (latest.length === 0) this.say(`No deployments recorded for ${project.name}${flags.target ? ` on ${flags.target}` : ''} (${path.relative(process.cwd(), history.file)}).`)
    for (const d of latest) this.say(`${d.target.padEnd(10)} ${d.status.padEnd(8)} ${d.version.padEnd(10)} ${d.url ?? '-'}  ${d.time}${d.env ? `  env=${d.env}` : ''}`)
    return { name: project.name, deployments: latest, ...(flags.history ? { history: all } : {}) }
  }
}
