import { createHash } from 'node:crypto'
import { cp, mkdir, readFile, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError } from '../errors.js'
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
    const copyIn = async (abs: string) => cp(abs, path.join(work, rel(abs)), { recursive: true, dereference: true })
    await cp(project.manifestFile, path.join(work, 'mlx.yaml'))
    for (const m of Object.values(project.models)) await copyIn(m.path)
    for (const e of project.endpoints) if (e.input.reference) await copyIn(e.input.reference)
    for (const f of project.include) await copyIn(f)

    const handlers: Record<string, string> = {}
    for (const e of project.endpoints) {
      if (!e.handler) continue
      const out = path.join(work, '.handlers', e.name)
      await compileHandlerDir(path.dirname(e.handler.source), out)
      // The sources ship too (small): the bundled manifest still names them, and stack traces point at them.
      await copyIn(path.dirname(e.handler.source))
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
