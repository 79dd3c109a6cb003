// mlx's server started through @mlx/core's API, for when the CLI (packages/cli) is not built.
// Usage: node bench/mlx-api-server.mjs <projectDir> <port>
// Serves exactly what `mlx serve` serves (serveProject), without the CLI's oclif layer.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger, installGracefulShutdown, loadProject, loadRegistry, serveProject } from '@mlx/core'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const [dir = 'examples/titanic', portArg = '8080'] = process.argv.slice(2)
const log = createLogger()
const project = await loadProject(path.resolve(repoRoot, dir))
// The project folder first (as the CLI does), then the repository root where the workspaces are linked.
const registry = await loadRegistry([project.root, repoRoot])
const { server, url } = await serveProject(project, {
  runtime: (n) => registry.runtime(n),
  port: Number(portArg),
  host: '127.0.0.1',
  log,
})
installGracefulShutdown(server, log)
process.stdout.write(`mlx (core API) serving on ${url}\n`)
