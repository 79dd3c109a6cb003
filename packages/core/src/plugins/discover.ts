import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'

/** An installed package that declares itself an mlx plugin in its package.json. */
export interface PluginPackage {
  readonly name: string
  readonly version: string
  readonly dir: string
  /** Absolute path of the module to import. */
  readonly entry: string
  readonly declares: { runtimes?: string[]; targets?: string[] }
}

/**
 * Finds plugins the way Node finds packages: every node_modules folder from each start folder up
 * to the filesystem root. A package is a plugin when its package.json has an "mlx": {"plugin": ...}
 * field, so built-ins and third-party packages are found the same way; the first one found for a
 * name wins (the project's own node_modules before the CLI's).
 */
export async function discoverPlugins(startDirs: readonly string[], opts: { ownOnly?: boolean } = {}): Promise<PluginPackage[]> {
  const found = new Map<string, PluginPackage>()
  const seen = new Set<string>()
  for (const start of startDirs) {
    const chain = nodeModulesChain(path.resolve(start))
    for (const nm of opts.ownOnly ? chain.slice(0, 1) : chain) {
      if (seen.has(nm)) continue
      seen.add(nm)
      for (const dir of await packageDirs(nm)) {
        const pkg = await readPluginPackage(dir)
        if (pkg && !found.has(pkg.name)) found.set(pkg.name, pkg)
      }
    }
  }
  // Discovery order is precedence order: nearer node_modules first, the project's before the CLI's.
  return [...found.values()]
}

function nodeModulesChain(start: string): string[] {
  const out: string[] = []
  let dir = start
  for (;;) {
    out.push(path.basename(dir) === 'node_modules' ? dir : path.join(dir, 'node_modules'))
    const up = path.dirname(dir)
    if (up === dir) return out
    dir = up
  }
}

async function packageDirs(nodeModules: string): Promise<string[]> {
  const entries = await readdir(nodeModules, { withFileTypes: true }).catch(() => [])
  const out: string[] = []
  for (const e of entries) {
    if (e.name.startsWith('.')) continue
    const full = path.join(nodeModules, e.name)
    if (e.name.startsWith('@')) {
      const scoped = await readdir(full, { withFileTypes: true }).catch(() => [])
      for (const s of scoped) if (s.isDirectory() || s.isSymbolicLink()) out.push(path.join(full, s.name))
    } else if (e.isDirectory() || e.isSymbolicLink()) out.push(full)
  }
  return out.sort()
}

export async function readPluginPackage(dir: string): Promise<PluginPackage | undefined> {
  let pkg: Record<string, unknown>
  try {
    pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
  const mlx = pkg.mlx as { plugin?: unknown } | undefined
  if (!mlx?.plugin) return undefined
  return {
    name: String(pkg.name),
    version: String(pkg.version ?? '0.0.0'),
    dir,
    entry: path.join(dir, entryOf(pkg)),
    declares: typeof mlx.plugin === 'object' ? (mlx.plugin as PluginPackage['declares']) : {},
  }
}

function entryOf(pkg: Record<string, unknown>): string {
  const exp = pkg.exports as unknown
  const dot = typeof exp === 'string' ? exp : (exp as Record<string, unknown> | undefined)?.['.']
  if (typeof dot === 'string') return dot
  if (dot && typeof dot === 'object') {
    const d = dot as Record<string, unknown>
    for (const k of ['import', 'default', 'node']) if (typeof d[k] === 'string') return d[k] as string
  }
  return typeof pkg.main === 'string' ? pkg.main : 'index.js'
}
