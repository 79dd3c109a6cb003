import { Args, Flags } from '@oclif/core'
import { contextFor, DeploymentLog, loadProject, loadRegistry, type Deployment } from '@mlx/core'
import path from 'node:path'
import { MlxCommand } from '../base.js'
import { CLI_DIR } from '../context.js'

export default class Status extends MlxCommand {
  static override summary = 'Show what is deployed where (from .mlx/deployments.json, checked live when the target can).'
  static override examples = ['<%= config.bin %> status examples/titanic', '<%= config.bin %> status examples/titanic --target local --json']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    target: Flags.string({ char: 't', description: 'Only this target.' }),
    env: Flags.string({ description: 'Only deployments to this environment (from environments: in mlx.yaml).' }),
    history: Flags.boolean({ description: 'List every recorded deployment, not only the latest per target.', default: false }),
  }

  async run() {
    const { args, flags } = await this.parse(Status)
    const project = await loadProject(args.dir, { env: flags.env })
    const registry = await loadRegistry([project.root, CLI_DIR])
    const log = new DeploymentLog(project.root)
    const all = log.list(flags.target).filter((d) => flags.env === undefined || d.env === flags.env)
    const targets = [...new Set(all.map((d) => d.target))]
    const latest: Deployment[] = []
    for (const name of targets) {
      const t = registry.targets().find((x) => x.name === name)
      // What should be serving is the last ready deployment; a later failed attempt is shown beside it.
      const lastAttempt = log.latest(name, flags.env)!
      let d = log.lastReady(name, flags.env) ?? lastAttempt
      if (t?.status) {
        // The live check reads the target's settings as that deployment had them: with the
        // environment overlay it was deployed with (a helm namespace, a Cloud Run service name).
        const overlaid = d.env && d.env !== flags.env ? await loadProject(args.dir, { env: d.env }).catch(() => project) : project
        const live = await t.status(contextFor(overlaid, registry, { target: name, env: d.env, log: this.out, flags, signal: AbortSignal.timeout(30_000) }))
        if (live) d = live
      }
      latest.push(lastAttempt.status === 'failed' && lastAttempt !== d ? { ...d, details: { ...d.details, lastAttempt: { status: 'failed', version: lastAttempt.version, time: lastAttempt.time, error: lastAttempt.details?.error } } } : d)
    }
    if (latest.length === 0) this.say(`No deployments recorded for ${project.name}${flags.target ? ` on ${flags.target}` : ''}${flags.env ? ` in ${flags.env}` : ''} (${path.relative(process.cwd(), log.file)}).`)
    for (const d of latest) {
      this.say(`${d.target.padEnd(10)} ${d.status.padEnd(8)} ${d.version.padEnd(10)} ${d.url ?? '-'}  ${d.time}${d.env ? `  env=${d.env}` : ''}`)
      const failed = d.details?.lastAttempt as { version?: string; time?: string; error?: string } | undefined
      if (failed) this.say(`${''.padEnd(10)} last attempt failed: ${failed.version} at ${failed.time}${failed.error ? `: ${failed.error}` : ''}`)
    }
    return { name: project.name, deployments: latest, ...(flags.history ? { history: all } : {}) }
  }
}
