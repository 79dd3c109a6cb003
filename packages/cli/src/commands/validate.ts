import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Args, Flags } from '@oclif/core'
import { createServer, isMlxError, linkShippedFiles, MlxError, RequestInvalid, secretLiterals, stepNames, targetConfig, type MlxServer, type Project, type Runtime, type Serving } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { loadHandlers, openProject } from '../context.js'

export default class Validate extends MlxCommand {
  static override summary = 'Check mlx.yaml: schema, paths, models, endpoints and target settings.'
  static override description = 'Builds the server `mlx serve` and every bundle run, without opening a port: its routes, every model and endpoint (reading only the files a bundle would carry), then runs each endpoint on its docs example.'
  static override examples = ['<%= config.bin %> validate examples/titanic', '<%= config.bin %> validate --env prod --json']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    env: Flags.string({ description: 'Environment overlay to check (from environments: in mlx.yaml).' }),
    'skip-models': Flags.boolean({ description: 'Do not load the models or handlers (schema, paths, routes and target settings only).', default: false }),
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
    for (const s of secretLiterals(project.decl)) {
      this.out.warn(`${project.manifestFile}: ${s.at} looks like a secret written into the manifest: it is baked into every bundle and image, and into git. Give it to the app from a secret instead: a shell variable for mlx serve, the target's secret store for a deployment (targets.cloudrun.secrets, targets.railway.secrets, targets.helm.secrets, \`fly secrets set\`; docs/security.md).`)
    }
    for (const m of Object.values(project.models)) registry.runtime(m.runtime)
    const skip = flags['skip-models']
    const handlers = skip ? undefined : await loadHandlers(project)
    // The server `mlx serve` and every bundle run, built here without a port: what it refuses at
    // start (its routes, its plugins, the OpenAPI document, then the models and endpoints) is
    // refused now. It serves from a stand-in for the bundle's files, so a file the endpoints read
    // that would not ship fails here too. With --skip-models nothing loads; the rest is built.
    const view = await mkdtemp(path.join(os.tmpdir(), 'mlx-validate-'))
    try {
      const served = !skip && (await linkShippedFiles(project, view)) ? { ...project, root: view } : project
      // server.auth's key is the deployment's, not this machine's: a stand-in lets the server build.
      const apiKeys = project.server.auth ? [randomBytes(24).toString('hex')] : undefined
      const server = await httpApp(served, { runtime: skip ? () => NOT_LOADED : (n) => registry.runtime(n), handlers, log: this.out, apiKeys })
      try {
        if (!skip) {
          const serving = await this.out.step('Loading models and compiling endpoints', () => asInBundle(server.ready, view))
          await this.out.step('Running each endpoint on its docs example', () => asInBundle(tryExamples(project, serving), view))
        }
      } finally {
        await server.close()
      }
    } finally {
      await rm(view, { recursive: true, force: true })
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

/** Errors name the stand-in folder as what it stands for. */
async function asInBundle<T>(work: Promise<T>, view: string): Promise<T> {
  try {
    return await work
  } catch (err) {
    if (err instanceof Error && err.message.includes(view)) err.message = err.message.replaceAll(`${view}${path.sep}`, "the bundle's ").replaceAll(view, 'the bundle')
    throw err
  }
}

/** Stands in for every runtime under --skip-models: the server is built, its models never load. */
const NOT_LOADED: Runtime = {
  name: 'not-loaded',
  load: () => Promise.reject(new MlxError('USAGE', '--skip-models: models are not loaded')),
}

/** createServer and fastify's ready(): anything either refuses is a manifest problem, named as one. */
async function httpApp(project: Project, opts: Parameters<typeof createServer>[1]): Promise<MlxServer> {
  let server: MlxServer | undefined
  try {
    server = createServer(project, opts)
    await server.app.ready()
    return server
  } catch (err) {
    await server?.close().catch(() => {})
    if (isMlxError(err)) throw err
    throw new MlxError('MANIFEST_INVALID', `${project.manifestFile}: the server refuses this manifest at start: ${(err as Error).message.split('\n')[0]}`, {
      hint: 'this is what `mlx serve` and the deployed app would fail with; fix the endpoint it names (routes, paths, input and output schemas) in mlx.yaml. --verbose shows the cause.',
      file: project.manifestFile,
      cause: err,
    })
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
