import { createHash } from 'node:crypto'
import { cp, lstat, mkdir, readFile, readdir, readlink, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError } from '../errors.js'
import { LINK_HINT, escapingLink, isInside, linkText, type EscapingLink } from '../manifest/inside.js'
import type { Project } from '../project.js'
import type { PluginPackage } from '../plugins/discover.js'
import { copyClosure, hostPlatform, lockfileFor, type CopiedPackage, type Platform } from './closure.js'
import { compileHandlerDir, compiledHandlerPath } from './handlers.js'

export const BUNDLE_INFO = 'bundle.json'

/** What bundle.json records: the served app's own description of itself. */
export interface BundleInfo {
  readonly name: string
  readonly version: string
  /** Compiled handler modules by endpoint name, relative to the bundle. */
  readonly handlers: Record<string, string>
  readonly runtimes: string[]
  readonly platform: Platform
  /** The environment overlay (--env) the bundle was made for; the served app applies it too. */
  readonly environment?: string
  /** sha256 over the model files: changes only when a model does. */
  readonly modelDigest: string
  /** sha256 over everything but node_modules: changes when the app does. */
  readonly appDigest: string
}

export interface Bundle {
  readonly dir: string
  readonly project: Project
  readonly info: BundleInfo
  readonly packages: readonly CopiedPackage[]
}

export interface BundleOptions {
  readonly outDir: string
  /** Plugin packages whose runtimes the project uses (the registry knows which). */
  readonly runtimePackages: readonly PluginPackage[]
  /** Where @mlx/core is installed (the CLI passes its own). */
  readonly coreDir: string
  readonly platform?: Platform
  /** A package-lock.json to take integrity hashes from. */
  readonly sourceLock?: string
}

const ENTRY = `#!/usr/bin/env node
// Entry point of an mlx bundle: serves the endpoints in mlx.yaml with the runtimes in node_modules.
import { serveBundle } from '@mlx/core'

await serveBundle(import.meta.dirname)
`

/**
 * Writes the one self-contained folder every target ships: manifest, models, reference data,
 * compiled handlers, an entry point, and a node_modules holding only core and the runtimes this
 * project uses. Written to a fresh folder beside the old one and swapped in at the end, so a
 * failure leaves the previous bundle as it was.
 */
export async function buildBundle(project: Project, opts: BundleOptions): Promise<Bundle> {
  const platform = opts.platform ?? hostPlatform()
  const final = path.resolve(opts.outDir)
  const work = `${final}.partial-${process.pid}`
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  try {
    const rel = (abs: string) => path.relative(project.root, abs)
    /** Copies a file or folder the manifest names (`key`), links resolved, none leading out of the project. */
    const copyIn = async (abs: string, key: string) => {
      const refuse = (l: EscapingLink) =>
        new MlxError('BUNDLE_FAILED', `${key} ('${rel(abs)}'): ${linkText(l)}, outside the project folder ${project.root}; it is not copied into the bundle.`, { hint: LINK_HINT, file: project.manifestFile })
      const whole = await escapingLink(project.root, abs)
      if (whole) throw refuse(whole)
      const realRoot = await realpath(project.root)
      await cp(abs, path.join(work, rel(abs)), {
        recursive: true,
        dereference: true,
        // A link inside a copied folder is checked where it resolves, like the path itself.
        filter: async (src) => {
          if (!(await lstat(src)).isSymbolicLink()) return true
          const there = await realpath(src).catch(() => undefined)
          if (there !== undefined && !isInside(realRoot, there)) throw refuse({ link: rel(src), target: await readlink(src), resolved: there })
          return true
        },
      })
    }
    await cp(project.manifestFile, path.join(work, 'mlx.yaml'))
    for (const s of shippedPaths(project)) await copyIn(s.path, s.key)

    const handlers: Record<string, string> = {}
    for (const e of project.endpoints) {
      if (!e.handler) continue
      const out = path.join(work, '.handlers', e.name)
      await compileHandlerDir(path.dirname(e.handler.source), out)
      handlers[e.name] = path.relative(work, compiledHandlerPath(out, e.handler.relPath)).split(path.sep).join('/')
    }

    const runtimes = [...new Set(Object.values(project.models).map((m) => m.runtime))]
    // Real paths: the closure is keyed by where packages really live (workspaces are symlinks).
    const roots = await Promise.all([opts.coreDir, ...opts.runtimePackages.map((p) => p.dir), ...(await projectDependencies(project.root))].map((d) => realpath(d)))
    const packages = await copyClosure(roots, work, platform)
    const rootDeps = Object.fromEntries(packages.filter((p) => p.location.split('/node_modules/').length === 1 && roots.includes(p.source)).map((p) => [p.name, p.version]))
    const pkgJson = {
      name: `${project.name}-bundle`,
      version: project.version,
      private: true,
      type: 'module',
      description: `${project.name} served by mlx`,
      main: 'server.mjs',
      scripts: { start: 'node server.mjs' },
      engines: { node: '>=20.11' },
      dependencies: rootDeps,
      // The @mlx packages travel inside node_modules: they need no registry to install.
      bundleDependencies: packages.filter((p) => p.local).map((p) => p.name),
    }
    await writeFile(path.join(work, 'package.json'), JSON.stringify(pkgJson, null, 2) + '\n')
    await writeFile(path.join(work, 'package-lock.json'), JSON.stringify(await lockfileFor(pkgJson.name, pkgJson.version, rootDeps, packages, opts.sourceLock), null, 2) + '\n')
    await writeFile(path.join(work, 'server.mjs'), ENTRY, { mode: 0o755 })

    const modelDigest = await digestOf(work, Object.values(project.models).map((m) => rel(m.path)))
    const appFiles = (await readdir(work)).filter((f) => f !== 'node_modules' && f !== BUNDLE_INFO)
    const info: BundleInfo = {
      name: project.name,
      version: project.version,
      handlers,
      runtimes,
      platform,
      ...(project.environment ? { environment: project.environment } : {}),
      modelDigest,
      appDigest: await digestOf(work, appFiles),
    }
    await writeFile(path.join(work, BUNDLE_INFO), JSON.stringify(info, null, 2) + '\n')

    // Swap by rename: at no moment is there no complete bundle at `final`... except between the two renames.
    const old = `${final}.old-${process.pid}`
    const hadOld = await stat(final).then(() => true, () => false)
    if (hadOld) await rename(final, old)
    await rename(work, final)
    if (hadOld) await rm(old, { recursive: true, force: true })
    return { dir: final, project, info, packages }
  } catch (err) {
    await rm(work, { recursive: true, force: true })
    if (err instanceof MlxError) throw err
    throw new MlxError('BUNDLE_FAILED', `could not write the bundle in ${final}: ${(err as Error).message}`, {
      hint: 'check free disk space and that `npm ci` installed every dependency; the previous bundle, if any, is unchanged.',
      cause: err,
    })
  }
}

/**
 * What a bundle carries from the project folder besides mlx.yaml, each with the manifest key that
 * names it: models, reference data, included files, and each handler's folder (the sources ship
 * too, small: the bundled manifest still names them, and stack traces point at them).
 */
export function shippedPaths(project: Project): { readonly key: string; readonly path: string }[] {
  return [
    ...Object.values(project.models).map((m) => ({ key: `models.${m.name}.path`, path: m.path })),
    ...project.endpoints.flatMap((e) => (e.input.reference ? [{ key: `endpoints.${e.name}.input.reference`, path: e.input.reference }] : [])),
    ...project.include.map((f, i) => ({ key: `include[${i}]`, path: f })),
    ...project.endpoints.flatMap((e) => (e.handler ? [{ key: `endpoints.${e.name}.handler`, path: path.dirname(e.handler.source) }] : [])),
  ]
}

/**
 * A stand-in for a bundle's project files in `dir`: mlx.yaml and every shipped path, as links to
 * the project's own. Serving with this as the root reads only what a bundle would hold, so a file
 * the served app needs but that does not ship (a labels list outside models and include:) fails
 * here, under `mlx validate`, instead of when the bundle starts.
 */
export async function linkShippedFiles(project: Project, dir: string): Promise<boolean> {
  const rels = [...new Set(shippedPaths(project).map((s) => path.relative(project.root, s.path)))].sort((a, b) => a.length - b.length)
  // A handler beside mlx.yaml ships the whole folder: nothing to stand in for.
  if (rels.includes('')) return false
  await symlink(project.manifestFile, path.join(dir, 'mlx.yaml'))
  const linked: string[] = []
  for (const rel of rels) {
    if (rel === 'mlx.yaml' || linked.some((l) => rel.startsWith(l + path.sep))) continue
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true })
    await symlink(path.join(project.root, rel), path.join(dir, rel))
    linked.push(rel)
  }
  return true
}

/**
 * A project may have its own package.json whose dependencies its handlers import (a face
 * detector's JS, a tokenizer): those ship too, resolved from the project folder.
 */
async function projectDependencies(root: string): Promise<string[]> {
  let pkg: { dependencies?: Record<string, string> }
  try {
    pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as typeof pkg
  } catch {
    return []
  }
  const out: string[] = []
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    const dir = await findPackage(root, name)
    if (!dir) {
      throw new MlxError('BUNDLE_FAILED', `${path.join(root, 'package.json')} depends on ${name}, which is not installed.`, {
        hint: 'run npm install in the project (or at the workspace root) before packaging.',
      })
    }
    out.push(dir)
  }
  return out
}

async function findPackage(from: string, name: string): Promise<string | undefined> {
  for (let d = from; ; d = path.dirname(d)) {
    const dir = path.join(d, 'node_modules', name)
    if (await stat(path.join(dir, 'package.json')).catch(() => undefined)) return dir
    if (path.dirname(d) === d) return undefined
  }
}

/** sha256 over the sorted relative paths and contents of the given files/folders. */
export async function digestOf(base: string, entries: readonly string[]): Promise<string> {
  const files: string[] = []
  const walk = async (rel: string): Promise<void> => {
    const s = await stat(path.join(base, rel))
    if (s.isDirectory()) for (const e of (await readdir(path.join(base, rel))).sort()) await walk(path.join(rel, e))
    else files.push(rel)
  }
  for (const e of entries) await walk(e)
  const h = createHash('sha256')
  for (const f of files.sort()) {
    h.update(f.split(path.sep).join('/') + '\0')
    h.update(await readFile(path.join(base, f)))
    h.update('\0')
  }
  return `sha256:${h.digest('hex')}`
}
