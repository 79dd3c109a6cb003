import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { Args, Flags } from '@oclif/core'
import { loadServing, MlxError, readTable, RequestInvalid, TABLE_EXTENSIONS } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { loadHandlers, openProject } from '../context.js'

export default class Predict extends MlxCommand {
  static override summary = 'Run one endpoint on a data file, without a server.'
  static override description = 'The file is a JSON body (as you would POST it) or a CSV/Parquet/Arrow table (sent column-wise). The answer is printed as JSON.'
  static override examples = ['<%= config.bin %> predict examples/titanic --endpoint predict_function --data examples/titanic/data/titanic.csv']
  static override args = { dir: Args.string({ description: 'Project folder (holds mlx.yaml).', default: '.' }) }
  static override flags = {
    endpoint: Flags.string({ char: 'e', description: 'Endpoint name (default: the only one).' }),
    data: Flags.string({ char: 'd', description: 'JSON body file, or a CSV/Parquet/Arrow table.', required: true }),
    env: Flags.string({ description: 'Environment overlay.' }),
  }

  async run() {
    const { args, flags } = await this.parse(Predict)
    const { project, registry } = await openProject(args.dir, flags.env)
    const names = project.endpoints.map((e) => e.name)
    const name = flags.endpoint ?? (names.length === 1 ? names[0] : undefined)
    if (!name || !names.includes(name)) {
      throw new MlxError('USAGE', flags.endpoint ? `no endpoint named '${flags.endpoint}' (endpoints: ${names.join(', ')}).` : `the project has ${names.length} endpoints; choose one with --endpoint.`, {
        hint: `endpoints: ${names.join(', ')}`,
      })
    }
    const file = path.resolve(flags.data)
    let body: unknown
    let query: Record<string, unknown> = {}
    if (TABLE_EXTENSIONS.includes(path.extname(file).toLowerCase())) {
      const table = await readTable(file)
      body = Object.fromEntries(table.columns.map((c) => [c, table.column(c)]))
    } else {
      const text = await readFile(file, 'utf8').catch((err: Error) => {
        throw new MlxError('USAGE', `cannot read --data ${file}: ${err.message}`, { hint: 'pass an existing JSON, CSV, Parquet or Arrow file.' })
      })
      try {
        body = JSON.parse(text)
      } catch (err) {
        throw new MlxError('INPUT_INVALID', `${file} is not valid JSON: ${(err as Error).message}`, { hint: `pass a JSON body, or a table file (${TABLE_EXTENSIONS.join(', ')}).` })
      }
    }
    const ep = project.endpoints.find((e) => e.name === name)!
    if (ep.input.style === 'query' && body && typeof body === 'object' && !Array.isArray(body)) query = body as Record<string, unknown>
    const serving = await loadServing(project, { runtime: (n) => registry.runtime(n), handlers: await loadHandlers(project), log: this.out })
    try {
      const result = await serving.endpoints.get(name)!({ body, query })
      if (!this.jsonEnabled()) process.stdout.write(JSON.stringify(result) + '\n')
      return result as object
    } catch (err) {
      if (err instanceof RequestInvalid) {
        throw new MlxError('INPUT_INVALID', `${file} does not match endpoint '${name}':\n  - ${err.detail.slice(0, 10).map((d) => `${d.loc.join('.')}: ${d.msg}`).join('\n  - ')}`, {
          hint: '`mlx serve` and open /docs to see the expected fields.',
        })
      }
      throw err
    } finally {
      await serving.dispose()
    }
  }
}
