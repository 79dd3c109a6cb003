import { Args, Flags } from '@oclif/core'
import { curlExamples, installGracefulShutdown, serveProject } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { loadHandlers, openProject } from '../context.js'

export default class Serve extends MlxCommand {
  static override summary = 'Serve the endpoints locally (REST, OpenAPI docs, health, metrics, v2 protocol).'
  static override examples = ['<%= config.bin %> serve examples/titanic', 'PORT=9000 <%= config.bin %> serve examples/titanic']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    port: Flags.integer({ char: 'p', description: 'Port to listen on (default: $PORT, else 8000).', min: 0, max: 65535 }),
    host: Flags.string({ description: 'Interface to bind.', default: '127.0.0.1' }),
    env: Flags.string({ description: 'Environment overlay (from environments: in mlx.yaml).' }),
    'access-log': Flags.boolean({ description: 'Log one line per request.', default: false }),
  }

  async run() {
    const { args, flags } = await this.parse(Serve)
    const { project, registry } = await openProject(args.dir, flags.env)
    const port = flags.port ?? (process.env.PORT ? Number(process.env.PORT) : 8000)
    const handlers = await loadHandlers(project)
    const { server, url } = await this.out.step(`Loading ${Object.keys(project.models).length} model(s)`, () =>
      serveProject(project, { runtime: (n) => registry.runtime(n), handlers, port, host: flags.host, log: this.out, accessLog: flags['access-log'] }),
    )
    installGracefulShutdown(server, this.out)
    const shown = url.replace('://0.0.0.0', '://127.0.0.1')
    if (this.jsonEnabled()) {
      process.stdout.write(JSON.stringify({ url: shown, docs: `${shown}/docs`, openapi: `${shown}/openapi.json`, endpoints: project.endpoints.map((e) => `${e.method} ${e.path}`) }) + '\n')
    } else {
      this.say(`${project.name} ${project.version} serving on ${shown}\n  docs:    ${shown}/docs\n  openapi: ${shown}/openapi.json\n  try:\n    ${curlExamples(project, shown).join('\n    ')}\nPress Ctrl+C to stop.`)
    }
    // Keep running until a signal: installGracefulShutdown exits the process.
    await new Promise(() => {})
  }
}
