import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Args, Flags } from '@oclif/core'
import { MlxError, loadProject } from '@mlx/core'
import { MlxCommand } from '../../base.js'
import { KNOWN_TARGETS, workflowFiles } from '../../ci-workflows.js'

/** The folder holding .git above `from` (the repository root), or undefined outside a repository. */
function gitRoot(from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.git'))) return dir
    if (path.dirname(dir) === dir) return undefined
  }
}

export default class CiGithub extends MlxCommand {
  static override summary = 'Write GitHub Actions workflows: test and deploy on push, build and push the image on a version tag.'
  static override description =
    'Writes .github/workflows/mlx-<name>.yml (every push: install, `mlx validate`, the tests; the default branch then deploys to --target) and mlx-<name>-release.yml (a v* tag: build and push the image to GHCR) at the repository root. Actions are pinned by commit SHA; credentials come from repository secrets only.'
  static override examples = ['<%= config.bin %> ci github examples/classifier --target railway', '<%= config.bin %> ci github --target cloudrun --branch release']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    target: Flags.string({ char: 't', description: `Target the default branch deploys to (${KNOWN_TARGETS.join(', ')}; default: the first non-local target in mlx.yaml, else docker).` }),
    branch: Flags.string({ description: 'Branch that deploys (default: the repository default branch).' }),
    node: Flags.string({ description: 'Node.js version for the jobs.', default: '20' }),
    force: Flags.boolean({ description: 'Overwrite existing workflow files.', default: false }),
  }

  async run() {
    const { args, flags } = await this.parse(CiGithub)
    const project = await loadProject(args.dir)
    const target = flags.target ?? Object.keys(project.targets).find((t) => t !== 'local') ?? 'docker'
    if (!(KNOWN_TARGETS as readonly string[]).includes(target)) {
      this.out.warn(`--target ${target}: not a built-in target; the deploy step gets no credentials, add them from repository secrets.`)
    }
    const root = gitRoot(project.root)
    if (!root) this.out.warn(`${project.root} is not inside a git repository; writing .github/ next to mlx.yaml.`)
    const repo = root ?? project.root
    const dir = path.relative(repo, project.root).split(path.sep).join('/') || '.'
    const files = workflowFiles({ name: project.name, dir, target, branch: flags.branch, nodeVersion: flags.node, lockfile: existsSync(path.join(repo, 'package-lock.json')) })
    const existing = Object.keys(files).filter((f) => existsSync(path.join(repo, f)))
    if (existing.length && !flags.force) {
      throw new MlxError('USAGE', `${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''} in ${repo}.`, { hint: 'use --force to overwrite (your edits to them would be lost), or remove them first.' })
    }
    const written: string[] = []
    for (const [rel, text] of Object.entries(files)) {
      const file = path.join(repo, rel)
      await mkdir(path.dirname(file), { recursive: true })
      await writeFile(file, text)
      written.push(file)
    }
    const rel = (p: string) => path.relative(process.cwd(), p) || '.'
    this.say(`✔ wrote ${written.map(rel).join(', ')}`)
    this.say(`  push: validate + tests, then \`mlx deploy ${dir} --target ${target}\` on ${flags.branch ?? 'the default branch'}; tag v*: image to GHCR.`)
    return { target, root: repo, project: dir, files: written }
  }
}
