import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  MlxError,
  compileHandlerDir,
  compiledHandlerPath,
  importHandlers,
  loadProject,
  loadRegistry,
  type Handler,
  type PluginRegistry,
  type Project,
} from '@mlx/core'

/** The CLI's own folder: plugins installed next to the CLI are found as well as the project's. */
export const CLI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const require = createRequire(import.meta.url)
export const CORE_DIR = path.dirname(require.resolve('@mlx/core/package.json'))

export async function openProject(dir: string | undefined, env?: string): Promise<{ project: Project; registry: PluginRegistry }> {
  const project = await loadProject(dir ?? '.', { env })
  const registry = await loadRegistry([project.root, CLI_DIR])
  return { project, registry }
}

/** Compiles TypeScript handlers into .mlx/cache and imports them (for serve and predict). */
export async function loadHandlers(project: Project): Promise<Record<string, Handler>> {
  const files: Record<string, string> = {}
  for (const ep of project.endpoints) {
    if (!ep.handler) continue
    const out = path.join(project.root, '.mlx', 'cache', 'handlers', ep.name)
    await compileHandlerDir(path.dirname(ep.handler.source), out)
    files[ep.name] = compiledHandlerPath(out, ep.handler.relPath)
  }
  return importHandlers(files)
}

/** The lockfile the installed packages came from, for integrity hashes in bundles. */
export function findLockfile(from: string): string | undefined {
  for (let d = from; ; d = path.dirname(d)) {
    const f = path.join(d, 'package-lock.json')
    if (existsSync(f)) return f
    if (path.dirname(d) === d) return undefined
  }
}

/** docker-style platform names (linux/amd64) to Node's (linux, x64). */
export function parsePlatform(p: string | undefined): { os: string; arch: string } | undefined {
  if (!p) return undefined
  const [os, arch] = p.split('/')
  const archMap: Record<string, string> = { amd64: 'x64', x86_64: 'x64', x64: 'x64', arm64: 'arm64', aarch64: 'arm64' }
  if (!os || !arch || !archMap[arch]) throw new MlxError('USAGE', `--platform '${p}' is not OS/ARCH.`, { hint: 'use e.g. linux/amd64 or linux/arm64.' })
  return { os, arch: archMap[arch] }
}
