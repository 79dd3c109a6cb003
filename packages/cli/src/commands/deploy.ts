import { Args, Flags } from '@oclif/core'
import { curlExamples } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { openProject } from '../context.js'
import { packageProject } from '../flow.js'

export default class Deploy extends MlxCommand {
  static override summary = 'Package, ship and wait until the deployment answers.'
  static override description = 'The default target is `local`: the bundle runs as a background process on this machine. Every deploy is recorded in .mlx/deployments.json.'
  static override examples = ['<%= config.bin %> deploy examples/titanic', '<%= config.bin %> deploy examples/titanic --target local --dry-run']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    target: Flags.string({ char: 't', description: 'Target plugin (`mlx targets` lists them).', default: 'local' }),
    env: Flags.string({ description: 'Environment overlay (from environments: in mlx.yaml).' }),
    out: Flags.string({ char: 'o', description: 'Artifact folder (default: <project>/.mlx/<target>).' }),
    'dry-run': Flags.boolean({ description: 'Package and print what deploy would do, without doing it.', default: false }),
    platform: Flags.string({ description: 'OS/ARCH the artifact runs on.' }),
    base: Flags.string({ description: 'docker: base image, a registry reference or oci:PATH[:TAG] of a local OCI layout (default: targets.docker.base, else docker.io/library/node:20-bookworm-slim).' }),
    registry: Flags.string({ description: 'docker: where to push, HOST[:PORT]/NAMESPACE; the image is NAMESPACE/<project name>.' }),
    tag: Flags.string({ description: 'docker: extra image tag (repeatable); the version and model-<digest> tags are always set.', multiple: true }),
    'insecure-registry': Flags.boolean({ description: 'docker: allow plain HTTP to a registry that is not on localhost.', default: false }),
  }

  async run() {
    const { args, flags } = await this.parse(Deploy)
    const { project, registry } = await openProject(args.dir, flags.env)
    const abort = new AbortController()
    const onSignal = () => abort.abort()
    process.once('SIGINT', onSignal)
    try {
      const { target, ctx, artifact } = await packageProject(project, registry, { target: flags.target, out: flags.out, env: flags.env, log: this.out, flags, signal: abort.signal })
      if (flags['dry-run']) {
        // Only a dry run asks for the plan: a target's plan may read the platform's live state.
        const plan = await target.plan(artifact, ctx)
        this.say(`Dry run: deploying ${project.name} ${artifact.version} to ${target.name} would:`)
        plan.steps.forEach((s, i) => this.say(`  ${i + 1}. ${s.action}: ${s.detail}`))
        return { dryRun: true, target: target.name, version: artifact.version, paths: artifact.paths, plan: plan.steps }
      }
      let deployment
      try {
        deployment = await target.deploy(artifact, ctx)
      } catch (err) {
        // Every attempt is recorded, so status and a re-run know a deploy failed, and which.
        ctx.history.append({ target: target.name, env: flags.env, version: artifact.version, digest: artifact.digest, time: new Date().toISOString(), status: 'failed', details: { error: (err as Error).message.split('\n')[0] } })
        throw err
      }
      ctx.history.append(deployment)
      if (deployment.url && /^https?:\/\//.test(deployment.url)) {
        this.say(`✔ ${project.name} ${deployment.version} is live on ${target.name}: ${deployment.url}`)
        this.say(`  docs:    ${deployment.url}/docs`)
        this.say(`  try:\n    ${curlExamples(project, deployment.url).join('\n    ')}`)
      } else {
        this.say(`✔ ${project.name} ${deployment.version} deployed to ${target.name}`)
        if (deployment.url) this.say(`  image:   ${deployment.url}`)
        const tags = deployment.details?.tags
        if (Array.isArray(tags) && tags.length) this.say(`  tags:    ${tags.join(', ')}`)
      }
      const web = deployment.url && /^https?:\/\//.test(deployment.url)
      return { target: target.name, version: deployment.version, url: deployment.url, docs: web ? `${deployment.url}/docs` : undefined, digest: deployment.digest, revision: deployment.revision, paths: artifact.paths, deployment }
    } finally {
      process.removeListener('SIGINT', onSignal)
    }
  }
}
