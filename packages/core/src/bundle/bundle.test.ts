// buildBundle for the titanic example, checked as a deployment would use it: the folder is copied
// somewhere with no node_modules above it and `node server.mjs` must serve the seed request with
// nothing but what is inside. The bundle (~70 MB of onnxruntime-node) is built once per file.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MlxError } from '../errors.js'
import { discoverPlugins, type PluginPackage } from '../plugins/discover.js'
import { loadProject, type Project } from '../project.js'
import { buildBundle, digestOf, type Bundle } from './bundle.js'
import { freePort } from '../../../../test/support/cli.js'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const CORE_DIR = path.join(ROOT, 'packages/core')
const TITANIC = path.join(ROOT, 'examples/titanic')
const SOURCE_LOCK = path.join(ROOT, 'package-lock.json')
const SEED = {
  pclass: [0], sex: ['string'], age: [0], sibsp: [0], parch: [0], fare: [0], embarked: ['string'], class: ['string'],
  who: ['string'], adult_male: [true], deck: [0], embark_town: ['string'], alive: ['string'], alone: [true],
}

let work: string
let project: Project
let runtimePackages: PluginPackage[]
let bundle: Bundle
let outDir: string

const build = (over: { outDir?: string; runtimePackages?: PluginPackage[] } = {}) =>
  buildBundle(project, { outDir: over.outDir ?? outDir, runtimePackages: over.runtimePackages ?? runtimePackages, coreDir: CORE_DIR, sourceLock: SOURCE_LOCK })

/** Every file under dir (relative paths), recursively. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort()
}

/** path → size:mtime for every file: a fingerprint that changes if anything is rewritten. */
async function fingerprint(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const f of await files(dir)) {
    const s = await stat(path.join(dir, f))
    out.set(f, `${s.size}:${s.mtimeMs}`)
  }
  return out
}


beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mlx-bundle-'))
  outDir = path.join(work, 'out', 'bundle')
  project = await loadProject(TITANIC)
  runtimePackages = (await discoverPlugins([ROOT])).filter((p) => p.name === '@mlx/runtime-onnx')
  expect(runtimePackages).toHaveLength(1)
  bundle = await build()
})
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

describe('buildBundle (titanic)', () => {
  it('writes the manifest, model, reference data, entry point and bundle.json', async () => {
    expect(bundle.dir).toBe(outDir)
    for (const f of ['mlx.yaml', 'model/titanic.onnx', 'data/reference.parquet', 'server.mjs', 'package.json', 'package-lock.json', 'bundle.json']) {
      expect(existsSync(path.join(outDir, f)), f).toBe(true)
    }
    expect(await readFile(path.join(outDir, 'model/titanic.onnx'))).toEqual(await readFile(path.join(TITANIC, 'model/titanic.onnx')))
    expect(await readFile(path.join(outDir, 'server.mjs'), 'utf8')).toContain("from '@mlx/core'")
    // Nothing from the project that the server does not need (training code, the full CSV, tests).
    expect(existsSync(path.join(outDir, 'train'))).toBe(false)
    expect(existsSync(path.join(outDir, 'data/titanic.csv'))).toBe(false)
    expect(existsSync(path.join(outDir, 'test'))).toBe(false)
    expect((await readdir(path.dirname(outDir))).filter((n) => n !== 'bundle')).toEqual([])
  })

  it('records the bundle in bundle.json: runtimes, platform, sha256 digests', async () => {
    const info = JSON.parse(await readFile(path.join(outDir, 'bundle.json'), 'utf8'))
    expect(info).toEqual(bundle.info)
    expect(info).toMatchObject({ name: 'titanic', version: '1.0.0', handlers: {}, runtimes: ['onnx'], platform: { os: process.platform, arch: process.arch } })
    expect(info.modelDigest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(info.appDigest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(info.modelDigest).toBe(await digestOf(outDir, ['model/titanic.onnx']))
    expect(info.modelDigest).toBe(await digestOf(TITANIC, ['model/titanic.onnx']))
  })

  it('lists only @mlx/core and @mlx/runtime-onnx as dependencies', async () => {
    const pkg = JSON.parse(await readFile(path.join(outDir, 'package.json'), 'utf8'))
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@mlx/core', '@mlx/runtime-onnx'])
    expect(pkg).toMatchObject({ type: 'module', main: 'server.mjs', scripts: { start: 'node server.mjs' }, private: true })
    expect(pkg.bundleDependencies.sort()).toEqual(['@mlx/core', '@mlx/runtime-onnx'])
  })

  it('writes a v3 lockfile describing the copied tree, with registry integrity for onnxruntime-node', async () => {
    const lock = JSON.parse(await readFile(path.join(outDir, 'package-lock.json'), 'utf8'))
    expect(lock.lockfileVersion).toBe(3)
    expect(lock.packages['']).toMatchObject({ name: 'titanic-bundle', version: '1.0.0', dependencies: { '@mlx/core': '0.1.0', '@mlx/runtime-onnx': '0.1.0' } })
    const ort = lock.packages['node_modules/onnxruntime-node']
    expect(ort.integrity).toMatch(/^sha512-/)
    expect(ort.integrity).toBe(JSON.parse(await readFile(SOURCE_LOCK, 'utf8')).packages['node_modules/onnxruntime-node'].integrity)
    expect(ort.version).toBe(JSON.parse(await readFile(path.join(outDir, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version)
    expect(lock.packages['node_modules/@mlx/core']).toMatchObject({ inBundle: true })
    // Every package the lock names is in node_modules, and the other way round.
    for (const loc of Object.keys(lock.packages).filter((l) => l !== '')) {
      expect(existsSync(path.join(outDir, loc, 'package.json')), loc).toBe(true)
    }
    const top = (await readdir(path.join(outDir, 'node_modules'))).flatMap((n) => (n.startsWith('@') ? [] : [`node_modules/${n}`]))
    for (const loc of top) expect(lock.packages, loc).toHaveProperty([loc])
  })

  it('copies onnxruntime-node binaries for the host platform only', async () => {
    const bin = path.join(outDir, 'node_modules/onnxruntime-node/bin')
    const binaries = await files(bin)
    expect(binaries.length).toBeGreaterThan(0)
    expect(binaries.some((f) => f.endsWith('onnxruntime_binding.node'))).toBe(true)
    for (const f of binaries) {
      const [, os, arch] = f.split(path.sep)
      expect([os, arch], f).toEqual([process.platform, process.arch])
    }
  })

  it('leaves typings out of the @mlx packages, and the TypeScript compiler out entirely', async () => {
    const mlx = await files(path.join(outDir, 'node_modules/@mlx'))
    expect(mlx).toContain(path.join('core', 'dist', 'index.js'))
    expect(mlx).toContain(path.join('runtime-onnx', 'dist', 'index.js'))
    expect(mlx.filter((f) => /\.d\.[cm]?ts$/.test(f) || f.endsWith('.map') || f.endsWith('.tsbuildinfo'))).toEqual([])
    expect(mlx.filter((f) => f.includes('.test.'))).toEqual([])
    expect(mlx.filter((f) => f.startsWith(path.join('core', 'src')))).toEqual([])
    // typescript is an optional peer of @mlx/core (only the CLI compiles handlers): not shipped.
    expect(existsSync(path.join(outDir, 'node_modules/typescript'))).toBe(false)
  })

  it('gives the same appDigest when built again, replacing the previous bundle in place', async () => {
    const listing = await files(outDir)
    const again = await build()
    expect(again.info.appDigest).toBe(bundle.info.appDigest)
    expect(again.info.modelDigest).toBe(bundle.info.modelDigest)
    expect(await files(outDir)).toEqual(listing)
    expect((await readdir(path.dirname(outDir))).filter((n) => n !== 'bundle')).toEqual([])
    bundle = again
  })

  it('leaves the previous bundle untouched when a build fails', async () => {
    const before = await fingerprint(outDir)
    const empty = await mkdtemp(path.join(work, 'not-a-package-'))
    const broken: PluginPackage = { name: 'broken-runtime', version: '0.0.0', dir: empty, entry: path.join(empty, 'index.js'), declares: { runtimes: ['onnx'] } }
    const err = await build({ runtimePackages: [broken] }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(MlxError)
    expect(err).toMatchObject({ code: 'BUNDLE_FAILED', message: expect.stringContaining(outDir) })
    expect((err as MlxError).hint).toMatch(/previous bundle, if any, is unchanged/)
    expect(await fingerprint(outDir)).toEqual(before)
    // No half-written folder is left beside it.
    expect(await readdir(path.dirname(outDir))).toEqual(['bundle'])
    await rm(empty, { recursive: true })
  })

  it('runs with `node server.mjs` from a copy with no node_modules above it, and answers the seed request', async () => {
    const runDir = await mkdtemp(path.join(tmpdir(), 'mlx-bundle-run-'))
    try {
      for (let d = path.dirname(runDir); ; d = path.dirname(d)) {
        expect(existsSync(path.join(d, 'node_modules')), `${d}/node_modules must not exist for this test`).toBe(false)
        if (path.dirname(d) === d) break
      }
      const app = path.join(runDir, 'app')
      await mkdir(app)
      await cp(bundle.dir, app, { recursive: true })

      const port = await freePort()
      // A bare environment: no NODE_PATH, no NODE_OPTIONS from the test runner, HOME inside the copy.
      const child = spawn(process.execPath, ['server.mjs'], {
        cwd: app,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: runDir, PORT: String(port), HOST: '127.0.0.1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      child.stdout.on('data', (d) => (output += d))
      child.stderr.on('data', (d) => (output += d))
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      try {
        const base = `http://127.0.0.1:${port}`
        const deadline = Date.now() + 30_000
        let ready = false
        while (!ready && Date.now() < deadline && child.exitCode === null) {
          ready = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)
          if (!ready) await new Promise((r) => setTimeout(r, 100))
        }
        expect(ready, `bundle did not become ready:\n${output}`).toBe(true)

        const res = await fetch(`${base}/predict_function`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(SEED) })
        expect(res.status, output).toBe(200)
        const body = (await res.json()) as number[]
        expect(body).toHaveLength(1)
        expect(body[0]).toBeGreaterThanOrEqual(0)
        expect(body[0]).toBeLessThanOrEqual(1)
        expect((await fetch(`${base}/docs/assets/swagger-ui-bundle.js`)).status).toBe(200)

        // Everything it loaded came from the copy: the native runtime and the JS alike.
        if (process.platform === 'linux') {
          const maps = await readFile(`/proc/${child.pid}/maps`, 'utf8')
          expect(maps).toContain(path.join(app, 'node_modules/onnxruntime-node/bin'))
          expect(maps).not.toContain(path.join(ROOT, 'node_modules'))
        }
        expect(output).toMatch(/titanic 1\.0\.0 ready on http:\/\/127\.0\.0\.1:\d+/)

        child.kill('SIGTERM')
        const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('no exit within 10s'), 10_000))])
        expect(code, output).toBe(0)
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
    } finally {
      await rm(runDir, { recursive: true, force: true })
    }
  })
})

describe('buildBundle: symbolic links are checked where they resolve', () => {
  /** A titanic copy (loaded while still clean), a file outside it, and the rejection buildBundle gives. */
  async function linkedAfterLoad(edit: (dir: string, away: string) => Promise<void>, yaml?: (y: string) => string, extra: Record<string, string> = {}): Promise<{ err: MlxError; away: string; out: string }> {
    const dir = await mkdtemp(path.join(work, 'linked-'))
    const away = await mkdtemp(path.join(tmpdir(), 'mlx-elsewhere-'))
    await cp(TITANIC, dir, { recursive: true, filter: (f) => !f.includes(`${path.sep}.mlx`) })
    if (yaml) await writeFile(path.join(dir, 'mlx.yaml'), yaml(await readFile(path.join(dir, 'mlx.yaml'), 'utf8')))
    for (const [rel, text] of Object.entries(extra)) {
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true })
      await writeFile(path.join(dir, rel), text)
    }
    await writeFile(path.join(away, 'secret.txt'), 'canary-not-for-the-bundle\n')
    const loaded = await loadProject(dir)
    await edit(dir, away)
    const out = path.join(work, `out-${path.basename(dir)}`)
    const err = await buildBundle(loaded, { outDir: out, runtimePackages, coreDir: CORE_DIR }).then(
      () => undefined,
      (e: unknown) => e,
    )
    await rm(away, { recursive: true, force: true })
    expect(err, 'buildBundle should have refused the link').toBeInstanceOf(MlxError)
    return { err: err as MlxError, away, out }
  }

  it('refuses a model file that became a link to a file outside the project, naming the key and the link', async () => {
    const { err, away, out } = await linkedAfterLoad(async (dir, away) => {
      await rm(path.join(dir, 'model/titanic.onnx'))
      await symlink(path.join(away, 'secret.txt'), path.join(dir, 'model/titanic.onnx'))
    })
    expect(err.code).toBe('BUNDLE_FAILED')
    expect(err.message).toContain(`models.titanic.path ('model/titanic.onnx'): 'model/titanic.onnx' is a symbolic link to ${path.join(away, 'secret.txt')}`)
    expect(err.message).toContain('outside the project folder')
    expect(existsSync(out)).toBe(false)
  })

  it("refuses a link leading out of a handler's folder (which ships whole), naming the endpoint's key", async () => {
    const { err, away } = await linkedAfterLoad(
      async (dir, away) => {
        await symlink(path.join(away, 'secret.txt'), path.join(dir, 'src/notes.txt'))
      },
      (y) => y.replace('endpoints:\n', 'endpoints:\n  about:\n    method: GET\n    handler: src/about.mjs\n'),
      { 'src/about.mjs': 'export default () => ({ ok: true })\n' },
    )
    expect(err.code).toBe('BUNDLE_FAILED')
    expect(err.message).toContain(`endpoints.about.handler ('src'): 'src/notes.txt' is a symbolic link to ${path.join(away, 'secret.txt')}`)
  })
})
