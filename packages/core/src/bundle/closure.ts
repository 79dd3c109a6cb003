import { cp, lstat, mkdir, readFile, readdir, readlink, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { MlxError } from '../errors.js'
import { isInside } from '../manifest/inside.js'

export interface Platform {
  /** Node's names: linux, darwin, win32 / x64, arm64. */
  readonly os: string
  readonly arch: string
}

export const hostPlatform = (): Platform => ({ os: process.platform, arch: process.arch })

interface PackageJson {
  name: string
  version: string
  license?: string
  files?: string[]
  os?: string[]
  cpu?: string[]
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
}

export interface CopiedPackage {
  readonly name: string
  readonly version: string
  /** Where it went, relative to the destination folder: node_modules/a or node_modules/a/node_modules/b. */
  readonly location: string
  readonly source: string
  readonly dependencies: Record<string, string>
  readonly license?: string
  /** Workspace packages (not from the registry) travel inside the bundle. */
  readonly local: boolean
}

async function readPkg(dir: string): Promise<PackageJson> {
  return JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as PackageJson
}

/** Node's lookup: <dir>/node_modules/<name>, then each parent's. */
async function resolveFrom(dir: string, name: string): Promise<string | undefined> {
  for (let d = dir; ; d = path.dirname(d)) {
    if (path.basename(d) !== 'node_modules') {
      const candidate = path.join(d, 'node_modules', name)
      if (await stat(path.join(candidate, 'package.json')).catch(() => undefined)) return realpath(candidate)
    }
    if (path.dirname(d) === d) return undefined
  }
}

const matches = (list: string[] | undefined, value: string) =>
  !list?.length || (list.some((x) => !x.startsWith('!')) ? list.includes(value) : !list.includes(`!${value}`))

/**
 * Files a served process never reads: typings, source maps, docs. Keeping them out makes
 * bundles and image layers smaller without changing behaviour.
 */
const SKIP_FILE = /\.(d\.ts|d\.mts|d\.cts|map|md|markdown|tsbuildinfo)$/i
const KEEP_ALWAYS = /^(license|licence|notice|copying)/i

/**
 * Native packages ship binaries for every OS; only the target platform's are copied.
 * onnxruntime-node alone carries ~290 MB across platforms, about a quarter for one.
 */
function platformFilter(pkg: string, platform: Platform): ((rel: string) => boolean) | undefined {
  if (pkg === 'onnxruntime-node') {
    return (rel) => {
      const m = /^bin\/napi-v\d+\/([^/]+)(?:\/([^/]+))?/.exec(rel)
      if (!m) return true
      return m[1] === platform.os && (m[2] === undefined || m[2] === platform.arch)
    }
  }
  return undefined
}

/**
 * Copies the production dependency closure of `roots` from the installed node_modules into
 * `<dest>/node_modules`, hoisted like npm does, pruned to `platform`. Works offline: it copies
 * what is installed instead of asking a registry, so a bundle builds wherever mlx runs.
 */
export async function copyClosure(roots: readonly string[], dest: string, platform: Platform): Promise<CopiedPackage[]> {
  const placed = new Map<string, CopiedPackage>() // by source realpath
  const top = new Map<string, string>() // name -> version at dest/node_modules/name
  const out: CopiedPackage[] = []

  const visit = async (srcDir: string, parentLocation: string | undefined, optional: boolean): Promise<void> => {
    const real = await realpath(srcDir)
    if (placed.has(real)) return
    const pkg = await readPkg(real)
    if (!matches(pkg.os, platform.os) || !matches(pkg.cpu, platform.arch)) {
      if (optional) return
    }
    let location = `node_modules/${pkg.name}`
    const atTop = top.get(pkg.name)
    if (atTop !== undefined && atTop !== pkg.version && parentLocation) location = `${parentLocation}/node_modules/${pkg.name}`
    else top.set(pkg.name, pkg.version)
    const local = !real.split(path.sep).includes('node_modules')
    const deps = { ...pkg.dependencies, ...pkg.optionalDependencies }
    const entry: CopiedPackage = { name: pkg.name, version: pkg.version, location, source: real, dependencies: deps, license: pkg.license, local }
    placed.set(real, entry)
    out.push(entry)
    await copyPackage(real, path.join(dest, location), pkg, local, platformFilter(pkg.name, platform))

    const optionalNames = new Set(Object.keys(pkg.optionalDependencies ?? {}))
    // Optional peers are not installed by npm either (core's would drag in the TypeScript compiler).
    const peers = Object.keys(pkg.peerDependencies ?? {}).filter((n) => !pkg.peerDependenciesMeta?.[n]?.optional)
    for (const name of [...Object.keys(deps), ...peers]) {
      const isOptional = optionalNames.has(name) || peers.includes(name)
      const dir = await resolveFrom(real, name)
      if (!dir) {
        if (isOptional) continue
        throw new Error(`${pkg.name} depends on ${name}, which is not installed (looked up from ${real}); run npm ci`)
      }
      await visit(dir, location, isOptional)
    }
  }

  for (const root of roots) await visit(root, undefined, false)
  return out.sort((a, b) => a.location.localeCompare(b.location))
}

async function copyPackage(src: string, dst: string, pkg: PackageJson, local: boolean, keep?: (rel: string) => boolean): Promise<void> {
  await mkdir(dst, { recursive: true })
  // A workspace package ships what its "files" says (dist, schema...), like `npm pack` would.
  const allow = local && pkg.files ? [...pkg.files.map((f) => f.replace(/\/$/, '')), 'package.json'] : undefined
  const entries = await readdir(src, { withFileTypes: true })
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === '.git') continue
    if (allow && !allow.includes(e.name) && !KEEP_ALWAYS.test(e.name)) continue
    const from = path.join(src, e.name)
    await cp(from, path.join(dst, e.name), {
      recursive: true,
      dereference: true,
      filter: async (f) => {
        const rel = path.relative(src, f).split(path.sep).join('/')
        const base = path.basename(f)
        if (rel.includes('node_modules')) return false
        if (SKIP_FILE.test(base) && !KEEP_ALWAYS.test(base)) return false
        if (local && /\.test\.(js|ts)$/.test(base)) return false
        if (keep && !keep(rel)) return false
        // Links are copied as what they point to: only what the package itself holds may ship.
        if ((await lstat(f)).isSymbolicLink()) {
          const there = await realpath(f).catch(() => undefined)
          if (there !== undefined && !isInside(src, there)) {
            throw new MlxError('BUNDLE_FAILED', `${pkg.name}: ${rel} is a symbolic link to ${await readlink(f)}, outside the package (${src}); it is not copied into the bundle.`, {
              hint: 'reinstall the package (npm ci); a link out of an installed package would carry a file from elsewhere on this machine into the bundle.',
            })
          }
        }
        return true
      },
    })
  }
}

/** A package-lock.json (v3) describing exactly the copied tree, with integrity from the source lock. */
export async function lockfileFor(name: string, version: string, rootDeps: Record<string, string>, copied: readonly CopiedPackage[], sourceLock?: string): Promise<object> {
  let source: { packages?: Record<string, { resolved?: string; integrity?: string; version?: string }> } = {}
  if (sourceLock) source = JSON.parse(await readFile(sourceLock, 'utf8').catch(() => '{}')) as typeof source
  const byNameVersion = new Map<string, { resolved?: string; integrity?: string }>()
  for (const [loc, p] of Object.entries(source.packages ?? {})) {
    const n = loc.slice(loc.lastIndexOf('node_modules/') + 'node_modules/'.length)
    if (p.version) byNameVersion.set(`${n}@${p.version}`, p)
  }
  const packages: Record<string, object> = { '': { name, version, dependencies: rootDeps } }
  for (const c of copied) {
    const src = byNameVersion.get(`${c.name}@${c.version}`)
    packages[c.location] = {
      version: c.version,
      ...(c.local ? { inBundle: true } : {}),
      ...(src?.resolved ? { resolved: src.resolved } : {}),
      ...(src?.integrity ? { integrity: src.integrity } : {}),
      ...(c.license ? { license: c.license } : {}),
      ...(Object.keys(c.dependencies).length ? { dependencies: c.dependencies } : {}),
    }
  }
  return { name, version, lockfileVersion: 3, requires: true, packages }
}
