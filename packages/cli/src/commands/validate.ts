import { Args, Flags } from '@oclif/core'
import { loadServing, MlxError, RequestInvalid, stepNames, targetConfig, type Project, type Serving } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { loadHandlers, openProject } from '../context.js'

export default class Validate extends MlxCommand {
  static override summary = 'Check mlx.yaml: schema, paths, models, endpoints and target settings.'
  static override description = 'Loads every model and compiles every endpoint the way `mlx serve` would, without opening a port.'
  static override examples = ['<%= config.bin %> validate examples/titanic', '<%= config.bin %> validate --env prod --json']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    env: Flags.string({ description: 'Environment overlay to check (from environments: in mlx.yaml).' }),
    'skip-models': Flags.boolean({ description: 'Do not load the models (schema and paths only).', default: false }),
  }

  async run() {
    const { args, flags } = await this.parse(Validate)
    const { project, registry } = await openProject(args.dir, flags.env)
    const targets: string[] = []
    for (const name of Object.keys(project.targets)) {
      const t = registry.targets().find((x) => x.name === name)
      if (!t) {
        this.out.warn(`targets.${name}: no installed target plugin named '${name}'; its settings were not checked (\`mlx targets\` lists the installed ones).`)
        continue
      }
      targetConfig(t, project)
      targets.push(name)
    }
    for (const m of Object.values(project.models)) registry.runtime(m.runtime)
    if (!flags['skip-models']) {
      const serving = await this.out.step('Loading models and compiling endpoints', async () =>
        loadServing(project, { runtime: (n) => registry.runtime(n), handlers: await loadHandlers(project), log: this.out }),
      )
      try {
        await this.out.step('Running each endpoint on its docs example', () => tryExamples(project, serving))
      } finally {
        await serving.dispose()
      }
    }
    this.say(`✔ ${project.manifestFile} is valid: ${Object.keys(project.models).length} model(s), ${project.endpoints.length} endpoint(s)${targets.length ? `, targets: ${targets.join(', ')}` : ''}.`)
    return {
      valid: true,
      name: project.name,
      version: project.version,
      models: Object.values(project.models).map((m) => ({ name: m.name, runtime: m.runtime, path: m.relPath })),
      endpoints: project.endpoints.map((e) => ({ name: e.name, method: e.method, path: e.path, features: e.input.features?.map((f) => f.name) })),
      targets,
      steps: stepNames(),
    }
  }
}

/**
 * A model whose inputs do not match the features, or a post step naming a missing output, only
 * shows at the first request; running the docs example here catches it before anyone deploys.
 */
async function tryExamples(project: Project, serving: Serving): Promise<void> {
  for (const ep of project.endpoints) {
    const ex = ep.input.example
    const noInput = !ep.input.features && !ep.input.schema
    if (!ex && !noInput) continue
    const body = ex?.body ?? (ep.input.style === 'rows' ? ex?.rows : ex?.columns ?? ex?.rows)
    const query = ep.input.style === 'query' ? (ex?.rows?.[0] ?? (ex?.body as Record<string, unknown> | undefined) ?? {}) : {}
    try {
      await serving.endpoints.get(ep.name)!({ body: ep.method === 'GET' ? undefined : body, query: query as Record<string, unknown> })
    } catch (err) {
      const why = err instanceof RequestInvalid ? err.detail.map((d) => `${d.loc.join('.')}: ${d.msg}`).join('; ') : (err as Error).message.split('\n')[0]
      throw new MlxError('MANIFEST_INVALID', `${project.manifestFile}: endpoint '${ep.name}' fails on its own docs example: ${why}`, {
        hint: 'the features, pre-processing or post-processing do not fit the model (compare `mlx validate --json` features with the model inputs and outputs).',
        cause: err,
      })
    }
  }
}
