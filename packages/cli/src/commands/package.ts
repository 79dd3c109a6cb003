import path from 'node:path'
import { Args, Flags } from '@oclif/core'
import { MlxCommand } from '../base.js'
import { openProject } from '../context.js'
import { packageProject } from '../flow.js'

export default class Package extends MlxCommand {
  static override summary = "Write a target's artifact under .mlx/<target>/ (no network)."
  static override examples = ['<%= config.bin %> package examples/titanic', '<%= config.bin %> package examples/titanic --target local --out /tmp/titanic']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    target: Flags.string({ char: 't', description: 'Target plugin (`mlx targets` lists them).', default: 'local' }),
    out: Flags.string({ char: 'o', description: 'Output folder (default: <project>/.mlx/<target>).' }),
    env: Flags.string({ description: 'Environment overlay (from environments: in mlx.yaml).' }),
    platform: Flags.string({ description: 'OS/ARCH the artifact runs on (default: this machine; images default to linux/amd64).' }),
    base: Flags.string({ description: 'docker: base image, a registry reference or oci:PATH[:TAG] of a local OCI layout (default: targets.docker.base, else docker.io/library/node:20-bookworm-slim).' }),
    registry: Flags.string({ description: 'docker: where to push, HOST[:PORT]/NAMESPACE; the image is NAMESPACE/<project name>.' }),
    tag: Flags.string({ description: 'docker: extra image tag (repeatable); the version and model-<digest> tags are always set.', multiple: true }),
    'insecure-registry': Flags.boolean({ description: 'docker: allow plain HTTP to a registry that is not on localhost.', default: false }),
  }

  async run() {
    const { args, flags } = await this.parse(Package)
    const { project, registry } = await openProject(args.dir, flags.env)
    const { artifact } = await packageProject(project, registry, { target: flags.target, out: flags.out, env: flags.env, log: this.out, flags })
    const rel = (p: string) => path.relative(process.cwd(), p) || '.'
    this.say(`✔ ${artifact.target} artifact for ${project.name} ${artifact.version}${artifact.digest ? ` (${artifact.digest.slice(0, 19)})` : ''}`)
    for (const [k, p] of Object.entries(artifact.paths)) this.say(`  ${k.padEnd(8)} ${rel(p)}`)
    return { target: artifact.target, name: project.name, version: artifact.version, digest: artifact.digest, paths: artifact.paths, ...(artifact.details ? { details: artifact.details } : {}) }
  }
}
