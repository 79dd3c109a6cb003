// loadProject: the checks that need more than the schema (names that must match, files that must
// exist inside the project, routes that must be unique, reference data), the environment overlay,
// and what a valid project resolves to.
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MlxError } from './errors.js'
import { loadProject } from './project.js'

const TITANIC_ONNX = fileURLToPath(new URL('../../../examples/titanic/model/titanic.onnx', import.meta.url))

let root: string
let n = 0
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'mlx-project-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

/** A temp project: mlx.yaml plus files; `model.onnx` (the real titanic model) unless told otherwise. */
async function project(yaml: string, files: Record<string, string> = {}, withModel = true): Promise<string> {
  const dir = path.join(root, `p${n++}`)
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'mlx.yaml'), yaml)
  if (withModel) await copyFile(TITANIC_ONNX, path.join(dir, 'model.onnx'))
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true })
    await writeFile(path.join(dir, rel), text)
  }
  return dir
}

async function failure(dir: string, opts: { env?: string } = {}): Promise<MlxError> {
  const err = await loadProject(dir, opts).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'loadProject should have rejected').toBeInstanceOf(MlxError)
  return err as MlxError
}

const FEATURES = `    input:
      features:
        age: { type: number }
`
const BASE = `name: demo
version: 2.3.4
models:
  titanic:
    runtime: onnx
    path: model.onnx
endpoints:
  predict:
    model: titanic
${FEATURES}`

const CSV = `survived,pclass,sex,age,fare,embarked,alone
0,3,male,22,7.25,S,false
1,1,female,38,71.2833,C,false
1,3,female,,7.925,S,true
1,1,female,35,53.1,,false
`

describe('loadProject: a valid project', () => {
  it('resolves models, endpoints, defaults and paths', async () => {
    const dir = await project(BASE)
    const p = await loadProject(dir)
    expect(p.root).toBe(dir)
    expect(p.manifestFile).toBe(path.join(dir, 'mlx.yaml'))
    expect(p.name).toBe('demo')
    expect(p.version).toBe('2.3.4')
    expect(p.models.titanic).toMatchObject({ name: 'titanic', runtime: 'onnx', path: path.join(dir, 'model.onnx'), relPath: 'model.onnx', options: {} })
    expect(p.endpoints).toHaveLength(1)
    expect(p.endpoints[0]).toMatchObject({ name: 'predict', method: 'POST', path: '/predict', models: ['titanic'], postprocess: [], preprocess: [] })
    expect(p.endpoints[0]!.input.style).toBe('both')
    expect(p.endpoints[0]!.input.features).toEqual([expect.objectContaining({ name: 'age', type: 'number', nullable: false, required: true })])
    expect(p.server).toEqual({ bodyLimit: 1_048_576, maxBatchRows: 10_000, cors: false, requestTimeoutMs: 30_000, shutdownGraceSeconds: 8 })
    expect(p.environments).toEqual([])
    expect(p.environment).toBeUndefined()
  })

  it('defaults the version to 0.1.0 and a query-style endpoint to GET', async () => {
    const dir = await project(BASE.replace('version: 2.3.4\n', '') + '      style: query\n')
    const p = await loadProject(dir)
    expect(p.version).toBe('0.1.0')
    expect(p.endpoints[0]).toMatchObject({ method: 'GET', path: '/predict' })
    expect(p.endpoints[0]!.input.style).toBe('query')
  })

  it('infers features, types, nullability, categories and examples from a reference CSV, leaving the label out', async () => {
    const dir = await project(
      BASE.replace(FEATURES, `    input:
      reference: data/ref.csv
      label: survived
`),
      { 'data/ref.csv': CSV },
    )
    const p = await loadProject(dir)
    const input = p.endpoints[0]!.input
    expect(input.reference).toBe(path.join(dir, 'data/ref.csv'))
    const fs = input.features!
    expect(fs.map((f) => f.name)).toEqual(['pclass', 'sex', 'age', 'fare', 'embarked', 'alone'])
    const by = Object.fromEntries(fs.map((f) => [f.name, f]))
    expect(by.pclass).toMatchObject({ type: 'integer', nullable: false, min: 1, max: 3 })
    expect(by.sex).toMatchObject({ type: 'string', nullable: false, categories: ['female', 'male'] })
    expect(by.age).toMatchObject({ type: 'integer', nullable: true, min: 22, max: 38 })
    expect(by.fare).toMatchObject({ type: 'number', nullable: false })
    expect(by.embarked).toMatchObject({ type: 'string', nullable: true, categories: ['S', 'C'] })
    expect(by.alone).toMatchObject({ type: 'boolean', nullable: false })
    // Docs examples are the first rows of the reference data, column- and row-oriented.
    expect(input.example?.columns?.sex).toEqual(['male', 'female'])
    expect(input.example?.columns?.fare).toEqual([7.25, 71.2833])
    expect(input.example?.rows?.[1]).toMatchObject({ pclass: 1, sex: 'female', age: 38, embarked: 'C', alone: false })
    expect(input.example?.columns).not.toHaveProperty('survived')
  })

  it('lets declared features refine inferred ones', async () => {
    const dir = await project(
      BASE.replace(FEATURES, `    input:
      reference: data/ref.csv
      label: survived
      features:
        age: { type: number, description: Age in years }
`),
      { 'data/ref.csv': CSV },
    )
    const fs = (await loadProject(dir)).endpoints[0]!.input.features!
    expect(fs.find((f) => f.name === 'age')).toMatchObject({ name: 'age', type: 'number', nullable: true, description: 'Age in years', min: 22, max: 38 })
    // The reference data's column order is kept: a declaration refines a feature in place.
    expect(fs.map((f) => f.name)).toEqual(['pclass', 'sex', 'age', 'fare', 'embarked', 'alone'])
  })

  it('loads the titanic example: 14 features from the parquet reference, survived left out', async () => {
    const p = await loadProject(fileURLToPath(new URL('../../../examples/titanic', import.meta.url)))
    const fs = p.endpoints[0]!.input.features!
    expect(fs.map((f) => f.name).sort()).toEqual(['adult_male', 'age', 'alive', 'alone', 'class', 'deck', 'embark_town', 'embarked', 'fare', 'parch', 'pclass', 'sex', 'sibsp', 'who'])
    expect(p.endpoints[0]).toMatchObject({ name: 'predict_function', path: '/predict_function', method: 'POST' })
  })
})

describe('loadProject: errors', () => {
  it('names an endpoint model that is not declared, with its line', async () => {
    const err = await failure(await project(BASE.replace('    model: titanic', '    model: survival')))
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toMatch(/mlx\.yaml:9:12: endpoints\.predict\.model: 'survival' is not declared under models \(declared: titanic\)$/)
    expect(err.hint).toContain("add 'survival' under models")
  })

  it('names an undeclared model in a models list by its index', async () => {
    const dir = await project(BASE.replace('    model: titanic', '    handler: h.mjs\n    models: [titanic, other]'), { 'h.mjs': 'export default () => 1\n' })
    const err = await failure(dir)
    expect(err.message).toMatch(/mlx\.yaml:10:23: endpoints\.predict\.models\[1\]: 'other' is not declared under models \(declared: titanic\)/)
  })

  it('rejects an endpoint with neither model nor handler', async () => {
    const err = await failure(await project(BASE.replace('    model: titanic\n', '')))
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toMatch(/mlx\.yaml:9:5: endpoints\.predict: needs a model or a handler/)
  })

  it('rejects a model path outside the project folder, even when the file exists', async () => {
    const dir = await project(BASE.replace('path: model.onnx', 'path: ../x.onnx'))
    await copyFile(TITANIC_ONNX, path.join(dir, '..', 'x.onnx'))
    const err = await failure(dir)
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toMatch(/mlx\.yaml:6:11: models\.titanic\.path: model file '\.\.\/x\.onnx' is outside the project folder/)
    expect(err.hint).toMatch(/move the file into the project folder/)
  })

  it('rejects an absolute model path outside the project folder', async () => {
    const err = await failure(await project(BASE.replace('path: model.onnx', `path: ${TITANIC_ONNX}`)))
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toContain('is outside the project folder')
  })

  it('reports a missing model file as MODEL_NOT_FOUND, with the path it looked for', async () => {
    const dir = await project(BASE.replace('path: model.onnx', 'path: model/nope.onnx'))
    const err = await failure(dir)
    expect(err.code).toBe('MODEL_NOT_FOUND')
    expect(err.message).toContain(`mlx.yaml:6:11: models.titanic.path: model file 'model/nope.onnx' does not exist (looked for ${path.join(dir, 'model/nope.onnx')})`)
    expect(err.file).toBe(path.join(dir, 'mlx.yaml'))
  })

  it('reports a missing reference file as MANIFEST_INVALID', async () => {
    const dir = await project(BASE.replace(FEATURES, '    input:\n      reference: data/none.csv\n'))
    const err = await failure(dir)
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toMatch(/endpoints\.predict\.input\.reference: reference data 'data\/none\.csv' does not exist/)
  })

  it('rejects a label that is not a column of the reference data, listing the columns', async () => {
    const dir = await project(BASE.replace(FEATURES, '    input:\n      reference: data/ref.csv\n      label: survival\n'), { 'data/ref.csv': CSV })
    const err = await failure(dir)
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toMatch(/mlx\.yaml:12:14: endpoints\.predict\.input\.label: label "survival" is not a column of the data; columns: .*survived/)
  })

  it('rejects two endpoints on the same method and path', async () => {
    const dir = await project(`${BASE}    path: /p
  again:
    model: titanic
    path: /p
${FEATURES}`)
    const err = await failure(dir)
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toMatch(/mlx\.yaml:16:11: endpoints\.again\.path: POST \/p is already served by endpoint 'predict'/)
  })

  it('allows the same path with different methods', async () => {
    const dir = await project(`${BASE}    path: /p
  again:
    model: titanic
    path: /p
    method: PUT
${FEATURES}`)
    const p = await loadProject(dir)
    expect(p.endpoints.map((e) => `${e.method} ${e.path}`)).toEqual(['POST /p', 'PUT /p'])
  })

  it('rejects both features and a JSON schema on one endpoint', async () => {
    const err = await failure(await project(BASE + '      schema: { type: object }\n'))
    expect(err.message).toMatch(/endpoints\.predict\.input\.schema: give either features\/reference or a JSON schema, not both/)
  })
})

describe('loadProject: routes the server could not serve', () => {
  it('refuses an endpoint on a built-in route, at its path', async () => {
    for (const route of ['/metrics', '/docs', '/healthz', '/readyz', '/openapi.json', '/v2', '/docs/mine', '/v2/models/titanic/infer', '/metrics/']) {
      const err = await failure(await project(`${BASE}    path: ${route}\n`))
      expect(err.code, route).toBe('MANIFEST_INVALID')
      expect(err.message, route).toMatch(new RegExp(`mlx\\.yaml:13:11: endpoints\\.predict\\.path: POST ${route.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is a built-in route: the server serves `))
      expect(err.hint).toMatch(/another path/)
    }
  })

  it('refuses an endpoint whose name makes its default path a built-in route, at the endpoint', async () => {
    const err = await failure(await project(BASE.replace('  predict:\n', '  metrics:\n')))
    expect(err.message).toMatch(/mlx\.yaml:9:5: endpoints\.metrics: POST \/metrics is a built-in route: the server serves Prometheus metrics at \/metrics \(the default path is the endpoint's name\)/)
  })

  it('refuses two endpoints a trailing slash or a parameter name apart', async () => {
    const slash = await failure(await project(`${BASE}    path: /p\n  again:\n    model: titanic\n    path: /p/\n${FEATURES}`))
    expect(slash.message).toMatch(/mlx\.yaml:16:11: endpoints\.again\.path: POST \/p\/ is already served by endpoint 'predict' \(POST \/p\)/)
    const param = await failure(await project(`${BASE}    path: /u/:id\n  again:\n    model: titanic\n    path: /u/:name\n${FEATURES}`))
    expect(param.message).toMatch(/mlx\.yaml:16:11: endpoints\.again\.path: POST \/u\/:name is already served by endpoint 'predict' \(POST \/u\/:id\)/)
  })

  it('refuses a path no request can reach', async () => {
    const err = await failure(await project(`${BASE}    path: /predict?v=2\n`))
    expect(err.message).toMatch(/mlx\.yaml:13:11: endpoints\.predict\.path: '\/predict\?v=2' contains '\?'/)
  })
})

describe('loadProject: symbolic links are checked where they resolve', () => {
  /** A file outside every test project, that a link may point at. */
  const outside = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mlx-elsewhere-'))
    elsewhere.push(dir)
    await copyFile(TITANIC_ONNX, path.join(dir, 'secret.onnx'))
    return dir
  }
  const elsewhere: string[] = []
  afterAll(async () => {
    for (const d of elsewhere) await rm(d, { recursive: true, force: true })
  })

  it('refuses a model file that is a link to a file outside the project, naming the key and the link', async () => {
    const away = await outside()
    const dir = await project(BASE.replace('path: model.onnx', 'path: model/x.onnx'), {}, false)
    await mkdir(path.join(dir, 'model'))
    await symlink(path.join(away, 'secret.onnx'), path.join(dir, 'model/x.onnx'))
    const err = await failure(dir)
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toContain(`mlx.yaml:6:11: models.titanic.path: model file 'model/x.onnx': '${path.join('model', 'x.onnx')}' is a symbolic link to ${path.join(away, 'secret.onnx')}`)
    expect(err.message).toContain('outside the project folder')
    expect(err.hint).toMatch(/copy the file into the project folder/)
  })

  it('refuses a path through a linked folder, naming the folder link', async () => {
    const away = await outside()
    const dir = await project(BASE.replace('path: model.onnx', 'path: model/secret.onnx'), {}, false)
    await symlink(away, path.join(dir, 'model'), 'dir')
    const err = await failure(dir)
    expect(err.message).toMatch(new RegExp(`models\\.titanic\\.path: model file 'model/secret\\.onnx': 'model' is a symbolic link to ${away.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(resolves to .*secret\\.onnx\\), outside the project folder`))
  })

  it('refuses a model folder or an included folder that holds a link leading out', async () => {
    const away = await outside()
    const dir = await project(BASE.replace('path: model.onnx', 'path: model') + 'include:\n  - extra\n', { 'model/model.json': '{}', 'extra/a.txt': 'a' }, false)
    await symlink(path.join(away, 'secret.onnx'), path.join(dir, 'model/weights.bin'))
    const err = await failure(dir)
    expect(err.message).toMatch(/mlx\.yaml:6:11: models\.titanic\.path: model file 'model': 'model\/weights\.bin' is a symbolic link to /)
    await rm(path.join(dir, 'model/weights.bin'))
    await mkdir(path.join(dir, 'extra/deep'))
    await symlink(away, path.join(dir, 'extra/deep/more'), 'dir')
    const inc = await failure(dir)
    expect(inc.message).toMatch(/mlx\.yaml:14:5: include\[0\]: included file 'extra': 'extra\/deep\/more' is a symbolic link to /)
  })

  it('refuses a reference file and a handler that lead out', async () => {
    const away = await outside()
    await writeFile(path.join(away, 'ref.csv'), CSV)
    await writeFile(path.join(away, 'h.mjs'), 'export default () => 1\n')
    const ref = await project(BASE.replace(FEATURES, '    input:\n      reference: ref.csv\n      label: survived\n'))
    await symlink(path.join(away, 'ref.csv'), path.join(ref, 'ref.csv'))
    expect((await failure(ref)).message).toMatch(/endpoints\.predict\.input\.reference: reference data 'ref\.csv': 'ref\.csv' is a symbolic link to /)
    const handler = await project(BASE.replace('    model: titanic\n', '    model: titanic\n    handler: src/h.mjs\n'), {}, true)
    await mkdir(path.join(handler, 'src'))
    await symlink(path.join(away, 'h.mjs'), path.join(handler, 'src/h.mjs'))
    expect((await failure(handler)).message).toMatch(/endpoints\.predict\.handler: handler 'src\/h\.mjs': 'src\/h\.mjs' is a symbolic link to /)
  })

  it('accepts links that stay inside the project', async () => {
    const dir = await project(BASE.replace('path: model.onnx', 'path: model/current.onnx'))
    await mkdir(path.join(dir, 'model'))
    await symlink('../model.onnx', path.join(dir, 'model/current.onnx'))
    const p = await loadProject(dir)
    expect(p.models.titanic!.path).toBe(path.join(dir, 'model/current.onnx'))
  })
})

describe('loadProject: environments', () => {
  const ENVS = `${BASE}env:
  LOG_LEVEL: info
  WORKERS: 2
server:
  bodyLimit: 4096
targets:
  docker:
    image: ghcr.io/acme/demo
    platform: linux/amd64
  local:
    port: 8080
environments:
  prod:
    env:
      LOG_LEVEL: warn
    targets:
      docker:
        image: ghcr.io/acme/demo-prod
      helm:
        replicas: 3
    server:
      maxBatchRows: 500
  dev: {}
`

  it('without --env uses the base values and lists the declared environments', async () => {
    const p = await loadProject(await project(ENVS))
    expect(p.environments).toEqual(['prod', 'dev'])
    expect(p.environment).toBeUndefined()
    expect(p.env).toEqual({ LOG_LEVEL: 'info', WORKERS: '2' })
    expect(p.targets.docker).toEqual({ image: 'ghcr.io/acme/demo', platform: 'linux/amd64' })
    expect(p.server.bodyLimit).toBe(4096)
    expect(p.server.maxBatchRows).toBe(10_000)
  })

  it('merges the overlay over targets (deeply), env and server', async () => {
    const p = await loadProject(await project(ENVS), { env: 'prod' })
    expect(p.environment).toBe('prod')
    expect(p.env).toEqual({ LOG_LEVEL: 'warn', WORKERS: '2' })
    expect(p.targets).toEqual({
      docker: { image: 'ghcr.io/acme/demo-prod', platform: 'linux/amd64' },
      local: { port: 8080 },
      helm: { replicas: 3 },
    })
    expect(p.server).toMatchObject({ bodyLimit: 4096, maxBatchRows: 500 })
    // The manifest as written is kept for bundling, overlay not applied.
    expect(p.decl.targets?.docker).toEqual({ image: 'ghcr.io/acme/demo', platform: 'linux/amd64' })
  })

  it('rejects an unknown --env, naming the declared ones', async () => {
    const err = await failure(await project(ENVS), { env: 'staging' })
    expect(err.code).toBe('USAGE')
    expect(err.message).toMatch(/environment 'staging' is not declared in .*mlx\.yaml \(declared: prod, dev\)/)
  })

  it('rejects --env when no environment is declared', async () => {
    const err = await failure(await project(BASE), { env: 'prod' })
    expect(err.code).toBe('USAGE')
    expect(err.message).toContain('(declared: none)')
  })
})
