// What `mlx validate` accepts must start: every complete project among the suite's fixtures (the
// examples, and any mlx.yaml under test/ or packages/*/src) is validated with the real CLI; each
// one accepted is packaged for the local target and its bundle started with `node server.mjs`
// from a folder with no node_modules above it, in a bare environment, until /readyz answers 200.
// Sequential and bounded (a timeout kills what it started): CI machines have two cores.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseDocument } from 'yaml'
import { afterAll, describe, expect, it } from 'vitest'
import { copyExample, freePort, mlx, ROOT } from './support/cli.js'

const READY_MS = 60_000
const STOP_MS = 15_000

/** Folders holding an mlx.yaml: examples/*, and fixtures under test/ and packages/* /src. */
async function fixtures(): Promise<string[]> {
  const found: string[] = []
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    if (entries.some((e) => e.isFile() && e.name === 'mlx.yaml')) found.push(dir)
    for (const e of entries) if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')) await walk(path.join(dir, e.name))
  }
  await walk(path.join(ROOT, 'examples'))
  await walk(path.join(ROOT, 'test'))
  for (const group of ['packages', 'packages/runtimes', 'packages/targets']) {
    for (const e of await readdir(path.join(ROOT, group), { withFileTypes: true })) if (e.isDirectory()) await walk(path.join(ROOT, group, e.name, 'src'))
  }
  return [...new Set(found)].sort()
}

/**
 * The environments a fixture is served with: none, and each overlay that changes `server:` (the
 * only part of an overlay the served app reads; targets and env are the platforms' business).
 */
async function environments(dir: string): Promise<(string | undefined)[]> {
  const decl = parseDocument(await readFile(path.join(dir, 'mlx.yaml'), 'utf8')).toJS() as { environments?: Record<string, { server?: unknown }> }
  return [undefined, ...Object.entries(decl.environments ?? {}).filter(([, o]) => o?.server !== undefined).map(([n]) => n)]
}

const temps: string[] = []
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true }).catch(() => {})
})

/**
 * A copy in a temp folder (tests never write into the repo), with the repo's node_modules linked
 * in, as a project has after npm install: handlers import @mlx/core and their own dependencies.
 */
async function copyProject(dir: string): Promise<string> {
  const copy = await mkdtemp(path.join(os.tmpdir(), `mlx-start-${path.basename(dir)}-`))
  temps.push(copy)
  await cp(dir, copy, { recursive: true, filter: (f) => !f.includes(`${path.sep}.mlx`) && !f.includes(`${path.sep}node_modules`) })
  await symlink(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir')
  return copy
}

/** Starts `node server.mjs` in `bundle`, waits for /readyz 200, stops it; what it printed comes back for messages. */
async function startBundle(bundle: string): Promise<{ ready: boolean; body: unknown; output: string; stopped: boolean }> {
  const port = await freePort()
  const home = await mkdtemp(path.join(os.tmpdir(), 'mlx-start-home-'))
  temps.push(home)
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: bundle,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let ready = false
  let body: unknown
  try {
    for (const until = Date.now() + READY_MS; !ready && Date.now() < until && child.exitCode === null; ) {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined)
      if (res?.status === 200) {
        ready = true
        body = await res.json()
      } else {
        await res?.body?.cancel()
        await new Promise((r) => setTimeout(r, 200))
      }
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }
  const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_MS))])
  if (!stopped) child.kill('SIGKILL')
  await exited
  return { ready, body, output, stopped }
}

const all = await fixtures()
const cases = (await Promise.all(all.map(async (dir) => (await environments(dir)).map((env) => ({ dir, env, name: `${path.relative(ROOT, dir)}${env ? ` --env ${env}` : ''}` }))))).flat()

describe('every fixture that `mlx validate` accepts starts from its packaged bundle', () => {
  it('finds the examples among the fixtures', () => {
    expect(all.map((d) => path.relative(ROOT, d))).toEqual(expect.arrayContaining(['examples/classifier', 'examples/face', 'examples/names', 'examples/taxifare', 'examples/titanic']))
  })

  for (const c of cases) {
    it(`${c.name}: validate, package --target local, node server.mjs, /readyz 200`, { timeout: 420_000 }, async () => {
      const dir = await copyProject(c.dir)
      const envArgs = c.env ? ['--env', c.env] : []
      const v = await mlx(['validate', dir, ...envArgs, '--json'], { timeoutMs: 120_000 })
      if (v.code !== 0) {
        // The examples are meant to validate; another fixture validate refuses has nothing to start.
        expect(c.dir.startsWith(path.join(ROOT, 'examples') + path.sep), `validate refused ${c.name}:\n${v.stderr}`).toBe(false)
        expect(v.stderr, `validate of ${c.name} crashed instead of reporting`).toMatch(/^error\[[A-Z_]+\]/m)
        return
      }
      const out = await mkdtemp(path.join(os.tmpdir(), 'mlx-start-out-'))
      temps.push(out)
      const p = await mlx(['package', dir, '--target', 'local', '--out', out, ...envArgs, '--json'], { timeoutMs: 240_000 })
      expect(p.code, `package ${c.name}:\n${p.stderr}`).toBe(0)
      const bundle = (JSON.parse(p.stdout) as { paths: { bundle: string } }).paths.bundle
      expect(path.relative(out, bundle).startsWith('..'), bundle).toBe(false)
      // Nothing above the bundle may lend it packages: it must carry everything it imports.
      for (let d = path.dirname(bundle); path.dirname(d) !== d; d = path.dirname(d)) expect(existsSync(path.join(d, 'node_modules')), `${d}/node_modules`).toBe(false)
      const run = await startBundle(bundle)
      expect(run.ready, `the bundle of ${c.name} did not answer /readyz 200 within ${READY_MS / 1000} s:\n${run.output}`).toBe(true)
      expect(run.body).toMatchObject({ status: 'ready' })
      expect(run.stopped, `the bundle of ${c.name} did not exit within ${STOP_MS / 1000} s of SIGTERM:\n${run.output}`).toBe(true)
    })
  }
})

describe('mlx validate refuses what the server would refuse at start', () => {
  const noBug = (stderr: string) => expect(stderr).not.toMatch(/looks like a bug in mlx/)
  const example = async (name: string, edit?: (y: string) => string) => {
    const dir = await copyExample(name, edit)
    temps.push(dir)
    return dir
  }

  it('an endpoint on a built-in route: validate and package both name the line, serve never gets to fastify', async () => {
    const dir = await example('titanic', (y) => y.replace('    model: titanic\n', '    model: titanic\n    path: /metrics\n'))
    for (const args of [['validate', dir], ['package', dir, '--target', 'local', '--out', path.join(dir, 'out')], ['serve', dir, '--port', String(await freePort())]]) {
      const r = await mlx(args, { timeoutMs: 60_000 })
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1)
      expect(r.stderr).toMatch(/error\[MANIFEST_INVALID\]: .*mlx\.yaml:\d+:11: endpoints\.predict_function\.path: POST \/metrics is a built-in route: the server serves Prometheus metrics at \/metrics/)
      expect(r.stderr).not.toMatch(/already declared/)
      noBug(r.stderr)
    }
  })

  it('a YAML alias bomb is MANIFEST_SYNTAX with its line, answered at once', async () => {
    const levels = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]', ...'bcdefgh'.split('').map((l, i) => `${l}: &${l} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)]
    const dir = await example('titanic', (y) => y.replace(/^models:/m, `${levels.join('\n')}\nmodels:`))
    const started = Date.now()
    const r = await mlx(['validate', dir, '--json'])
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(r.code).toBe(1)
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error
    expect(err.code).toBe('MANIFEST_SYNTAX')
    expect(err.message).toMatch(/mlx\.yaml:\d+:\d+: invalid YAML: its aliases expand to too many values \(\*g here stands for [\d,]+ values\)/)
  })

  it('a model file linked from outside the project is refused, naming the key and the link', async () => {
    const dir = await example('titanic')
    const away = await mkdtemp(path.join(os.tmpdir(), 'mlx-elsewhere-'))
    temps.push(away)
    await cp(path.join(dir, 'model/titanic.onnx'), path.join(away, 'titanic.onnx'))
    await rm(path.join(dir, 'model/titanic.onnx'))
    await symlink(path.join(away, 'titanic.onnx'), path.join(dir, 'model/titanic.onnx'))
    const r = await mlx(['validate', dir, '--skip-models'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error\[MANIFEST_INVALID\]: .*mlx\.yaml:\d+:11: models\.titanic\.path: model file 'model\/titanic\.onnx': 'model\/titanic\.onnx' is a symbolic link to \S+titanic\.onnx, outside the project folder/)
  })

  it('a labels file the bundle would not carry fails validate, and passes once it is under include:', async () => {
    const edit = (y: string) => y.replace('labels: model/labels.txt', 'labels: labels.txt')
    const dir = await example('names', edit)
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
    await writeFile(path.join(dir, 'labels.txt'), await readFile(path.join(dir, 'model/labels.txt')))
    const r = await mlx(['validate', dir])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain("labels file 'labels.txt' cannot be read (looked for the bundle's labels.txt); list it under include: so it ships with the bundle")
    await writeFile(path.join(dir, 'mlx.yaml'), `${await readFile(path.join(dir, 'mlx.yaml'), 'utf8')}\ninclude:\n  - labels.txt\n`)
    const ok = await mlx(['validate', dir])
    expect(ok.code, ok.stderr).toBe(0)
  })

  it('--skip-models builds the server without loading a model', async () => {
    const dir = await example('titanic')
    await writeFile(path.join(dir, 'model/titanic.onnx'), 'not a model')
    const r = await mlx(['validate', dir, '--skip-models', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: true })
  })
})
