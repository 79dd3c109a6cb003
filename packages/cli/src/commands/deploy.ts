import { Args, Flags } from '@oclif/core'
import { curlExamples, deployArtifact, secrets } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { openProject } from '../context.js'
import { packageProject } from '../flow.js'
import { checkTargetFlags, targetFlags } from '../target-flags.js'

export default class Deploy extends MlxCommand {
  static override summary = 'Package, ship and wait until the deployment answers.'
  static override description =
    'The default target is `local`: the bundle runs as a background process on this machine. Every deploy is recorded in .mlx/deployments.json. Targets add their own flags (e.g. docker\'s --registry, --base, --tag); `mlx targets` lists them.'
  static override examples = ['<%= config.bin %> deploy examples/titanic', '<%= config.bin %> deploy examples/titanic --target local --dry-run', '<%= config.bin %> deploy examples/titanic --target docker --registry ghcr.io/acme']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    target: Flags.string({ char: 't', description: 'Target plugin (`mlx targets` lists them).', default: 'local' }),
    env: Flags.string({ description: 'Environment overlay (from environments: in mlx.yaml).' }),
    out: Flags.string({ char: 'o', description: 'Artifact folder (default: <project>/.mlx/<target>).' }),
    'dry-run': Flags.boolean({ description: 'Package and print what deploy would do, without doing it.', default: false }),
    platform: Flags.string({ description: 'OS/ARCH the artifact runs on (default: this machine; images default to linux/amd64).' }),
  }

  async run() {
    const tf = await targetFlags(this.argv)
    // A spread copies only the class's own statics: --json and --verbose come from MlxCommand.
    const { args, flags } = await this.parse({ ...Deploy, enableJsonFlag: Deploy.enableJsonFlag, baseFlags: Deploy.baseFlags, flags: { ...Deploy.flags, ...tf.flags } } as typeof Deploy)
    checkTargetFlags(flags, this.argv, tf, flags.target)
    const { project, registry } = await openProject(args.dir, flags.env)
    const abort = new AbortController()
    const onSignal = () => abort.abort()
    process.once('SIGINT', onSignal)
    try {
      const run = await packageProject(project, registry, { target: flags.target, out: flags.out, env: flags.env, log: this.out, flags, signal: abort.signal })
      const { target, ctx, artifact } = run
      if (flags['dry-run']) {
        // Only a dry run asks for the plan: a target's plan may read the platform's live state.
        const plan = await target.plan(artifact, ctx)
        const steps = plan.steps.map((s) => ({ action: s.action, detail: secrets.redact(s.detail) }))
        this.say(`Dry run: deploying ${project.name} ${artifact.version} to ${target.name} would:`)
        steps.forEach((s, i) => this.say(`  ${i + 1}. ${s.action}: ${s.detail}`))
        return { dryRun: true, target: target.name, version: artifact.version, paths: artifact.paths, plan: steps }
      }
      const deployment = await deployArtifact(run, registry)
      const web = deployment.url !== undefined && /^https?:\/\//.test(deployment.url)
      if (web) {
        this.say(`✔ ${project.name} ${deployment.version} is live on ${target.name}: ${deployment.url}`)
        this.say(`  docs:    ${deployment.url}/docs`)
        this.say(`  try:\n    ${curlExamples(project, deployment.url!).join('\n    ')}`)
      } else {
        this.say(`✔ ${project.name} ${deployment.version} deployed to ${target.name}`)
        if (deployment.url) this.say(`  image:   ${deployment.url}`)
        const tags = deployment.details?.tags
        if (Array.isArray(tags) && tags.length) this.say(`  tags:    ${tags.join(', ')}`)
      }
      return { target: target.name, version: deployment.version, url: deployment.url, docs: web ? `${deployment.url}/docs` : undefined, digest: deployment.digest, revision: deployment.revision, paths: artifact.paths, deployment }
    } finally {
      process.removeListener('SIGINT', onSignal)
    }
  }
}
