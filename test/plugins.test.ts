import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { copyExample, mlx } from './support/cli.js'

/**
 * A third-party target and runtime, installed in the project's node_modules as plain JS packages
 * that import nothing from mlx: core finds them through package.json alone.
 */
const TARGET_PKG = {
  name: 'mlx-target-foo',
  version: '1.2.3',
  type: 'module',
  main: 'index.js',
  mlx: { plugin: { targets: ['foo'] } },
}
const TARGET_JS = `
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
export default {
  name: 'mlx-target-foo',
  targets: [{
    name: 'foo',
    description: 'Writes a receipt instead of deploying',
    configSchema: { type: 'object', additionalProperties: false, properties: { greeting: { type: 'string', default: 'hello' } } },
    async package(bundle, ctx) {
      const file = path.join(ctx.outDir, 'receipt.json')
      await writeFile(file, JSON.stringify({ bundle: bundle.dir, digest: bundle.info.modelDigest, greeting: ctx.config.greeting }))
      return { target: 'foo', version: bundle.info.version, paths: { receipt: file } }
    },
    async plan(artifact) { return { target: 'foo', steps: [{ action: 'pretend', detail: artifact.paths.receipt }] } },
    async deploy(artifact, ctx) {
      return { target: 'foo', url: 'http://foo.example.invalid', version: artifact.version, time: new Date().toISOString(), status: 'ready', details: { greeting: ctx.config.greeting } }
    },
  }],
}
`
const RUNTIME_PKG = { name: '@acme/mlx-runtime-const', version: '0.0.1', type: 'module', main: 'index.js', mlx: { plugin: { runtimes: ['const'] } } }
const RUNTIME_JS = `
export default {
  name: '@acme/mlx-runtime-const',
  runtimes: [{
    name: 'const',
    async load(spec) {
      const value = Number(spec.options.value ?? 0.5)
      return {
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
        async run(feeds) {
          const n = feeds.x.shape[0]
          return { y: { dtype: 'float32', shape: [n], data: new Float32Array(n).fill(value) } }
        },
        async dispose() {},
      }
    },
  }],
}
`

async function installPackage(project: string, pkg: { name: string }, js: string) {
  const dir = path.join(project, 'node_modules', pkg.name)
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'package.json'), JSON.stringify(pkg))
  await writeFile(path.join(dir, 'index.js'), js)
}

describe('third-party plugins', () => {
  let project: string
  beforeAll(async () => {
    project = await copyExample('titanic', (y) =>
      y
        .replace('models:\n', `models:\n  constant:\n    runtime: const\n    path: model/titanic.onnx\n    options: { value: 0.25 }\n`)
        .replace('targets:\n', `  constant:\n    model: constant\n    input:\n      features:\n        x: { type: number }\n\ntargets:\n  foo:\n    greeting: ahoy\n`),
    )
    await installPackage(project, TARGET_PKG, TARGET_JS)
    await installPackage(project, RUNTIME_PKG, RUNTIME_JS)
  })

  it('lists a third-party target and runtime next to the built-ins', async () => {
    const r = await mlx(['targets', '--json'], { cwd: project })
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.targets.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['local', 'foo']))
    expect(out.runtimes).toEqual(expect.arrayContaining(['onnx', 'const']))
  })

  it('serves a model through a third-party runtime', async () => {
    const data = path.join(project, 'x.json')
    await writeFile(data, JSON.stringify({ x: [1, 2, 3] }))
    const r = await mlx(['predict', project, '--endpoint', 'constant', '--data', data, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ y: [0.25, 0.25, 0.25] })
  })

  it('packages and deploys through a third-party target with its validated config', async () => {
    const r = await mlx(['deploy', project, '--target', 'foo', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ target: 'foo', url: 'http://foo.example.invalid', version: '1.0.0' })
    const receipt = JSON.parse(await readFile(out.paths.receipt, 'utf8'))
    expect(receipt.greeting).toBe('ahoy')
    expect(receipt.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    // The bundle carries the third-party runtime the project uses, and no target plugin.
    expect(existsSync(path.join(receipt.bundle, 'node_modules/@acme/mlx-runtime-const/index.js'))).toBe(true)
    expect(existsSync(path.join(receipt.bundle, 'node_modules/mlx-target-foo'))).toBe(false)
    expect(existsSync(path.join(receipt.bundle, 'node_modules/@mlx/cli'))).toBe(false)
    const pkg = JSON.parse(await readFile(path.join(receipt.bundle, 'package.json'), 'utf8'))
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@acme/mlx-runtime-const', '@mlx/core', '@mlx/runtime-onnx'])
    const history = JSON.parse(await readFile(path.join(project, '.mlx/deployments.json'), 'utf8'))
    expect(history.deployments.at(-1)).toMatchObject({ target: 'foo', status: 'ready', details: { greeting: 'ahoy' } })
  })

  it('names a broken plugin package instead of crashing', async () => {
    const broken = await copyExample('titanic')
    await installPackage(broken, { name: 'mlx-target-broken', version: '0.0.1', type: 'module', main: 'index.js', mlx: { plugin: true } } as never, 'export default { targets: [] }')
    const r = await mlx(['validate', broken, '--skip-models'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error[PLUGIN_INVALID]')
    expect(r.stderr).toContain('mlx-target-broken')
  })
})
