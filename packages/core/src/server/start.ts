import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Runtime } from '../contracts.js'
import type { Logger } from '../types.js'
import { formatError, MlxError } from '../errors.js'
import { createLogger } from '../log.js'
import { loadProject, type Project } from '../project.js'
import { loadRegistry } from '../plugins/registry.js'
import { BUNDLE_INFO, type BundleInfo } from '../bundle/bundle.js'
import { createServer, installGracefulShutdown, type MlxServer } from './app.js'
import type { Handler } from './handler.js'

/** Imports compiled handler modules; the default export (or `handler`) is the function. */
export async function importHandlers(files: Readonly<Record<string, string>>): Promise<Record<string, Handler>> {
  const out: Record<string, Handler> = {}
  for (const [endpoint, file] of Object.entries(files)) {
    let mod: { default?: unknown; handler?: unknown }
    try {
      mod = (await import(pathToFileURL(file).href)) as typeof mod
    } catch (err) {
      throw new MlxError('HANDLER_INVALID', `handler for endpoint '${endpoint}' (${file}) failed to load: ${(err as Error).message.split('\n')[0]}`, {
        hint: 'a package it imports may be missing: add it to the project\'s package.json dependencies and npm install (they ship in the bundle); --verbose shows the stack.',
        file,
        cause: err,
      })
    }
    const fn = mod.default ?? mod.handler
    if (typeof fn !== 'function') {
      throw new MlxError('HANDLER_INVALID', `handler for endpoint '${endpoint}' (${file}) does not export a function.`, {
        hint: 'export default defineHandler(async (input, ctx) => { ... }) from the handler module.',
        file,
      })
    }
    out[endpoint] = fn as Handler
  }
  return out
}

export interface ServeOptions {
  readonly runtime: (name: string) => Runtime
  readonly handlers?: Readonly<Record<string, Handler>>
  readonly port: number
  readonly host?: string
  readonly log: Logger
  readonly accessLog?: boolean
}

/** Listens first (so probes get answers), then waits for the models; fails if they cannot load. */
export async function serveProject(project: Project, opts: ServeOptions): Promise<{ server: MlxServer; url: string }> {
  const server = createServer(project, { runtime: opts.runtime, handlers: opts.handlers, log: opts.log, accessLog: opts.accessLog })
  const url = await server.listen(opts.port, opts.host)
  try {
    await server.ready
  } catch (err) {
    await server.app.close()
    throw err
  }
  return { server, url }
}

/** The bundle's entry point: everything it needs is inside `dir`. */
export async function serveBundle(dir: string): Promise<void> {
  const log = createLogger({ stream: process.stdout, verbose: process.env.MLX_VERBOSE === '1' })
  try {
    const info = JSON.parse(await readFile(path.join(dir, BUNDLE_INFO), 'utf8')) as BundleInfo
    const project = await loadProject(dir, { env: info.environment })
    // Only the bundle's own node_modules: whatever is installed above it is not part of the app.
    const registry = await loadRegistry([dir], [], { ownOnly: true })
    const handlers = await importHandlers(Object.fromEntries(Object.entries(info.handlers).map(([e, f]) => [e, path.join(dir, f)])))
    const port = Number(process.env.PORT ?? 8080)
    const host = process.env.HOST ?? '0.0.0.0'
    const { server, url } = await serveProject(project, { runtime: (n) => registry.runtime(n), handlers, port, host, log, accessLog: process.env.MLX_ACCESS_LOG === '1' })
    installGracefulShutdown(server, log)
    log.info(`${info.name} ${info.version} ready on ${url} (docs: ${url}/docs)`)
  } catch (err) {
    process.stderr.write(formatError(err, process.env.MLX_VERBOSE === '1') + '\n')
    process.exit(1)
  }
}
