// The list of built-in routes the manifest loader keeps endpoints off must be the list the server
// registers: this builds the real server (no port, models never load) and compares its routes.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Runtime } from '../contracts.js'
import { silentLogger } from '../log.js'
import { loadProject, type Project } from '../project.js'
import { createServer } from '../server/app.js'
import { BUILTIN_ROUTES, INDEX_ROUTE, reservedRoute } from './reserved-routes.js'

const TITANIC_ONNX = fileURLToPath(new URL('../../../../examples/titanic/model/titanic.onnx', import.meta.url))
const NEVER: Runtime = { name: 'never', load: () => Promise.reject(new Error('not loaded in this test')) }

/** "METHOD /full/path" for every route in fastify's printRoutes() tree, HEAD left out. */
function parseRoutes(tree: string): string[] {
  const out: string[] = []
  const prefix: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^(.*?)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    prefix[depth] = (depth > 0 ? prefix[depth - 1]! : '') + m[2]!
    const full = prefix[depth]!.replace(/^\/\//, '/')
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) out.push(`${method} ${full}`)
  }
  return out.sort()
}

let dir: string
let project: Project
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mlx-reserved-'))
  await copyFile(TITANIC_ONNX, path.join(dir, 'model.onnx'))
  await writeFile(path.join(dir, 'mlx.yaml'), 'name: demo\nmodels:\n  m:\n    runtime: onnx\n    path: model.onnx\nendpoints:\n  predict:\n    model: m\n    input:\n      features:\n        x: { type: number }\n')
  project = await loadProject(dir)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function servedRoutes(p: Project): Promise<string[]> {
  const server = createServer(p, { runtime: () => NEVER, log: silentLogger })
  try {
    await server.app.ready()
    return parseRoutes(server.app.printRoutes({ commonPrefix: false }))
  } finally {
    await server.close()
  }
}

describe('BUILTIN_ROUTES', () => {
  it('is exactly what the server registers besides the endpoints (and the index)', async () => {
    const served = await servedRoutes(project)
    expect(served).toContain('POST /predict')
    const builtins = served.filter((r) => r !== 'POST /predict')
    expect(builtins).toEqual([...Object.values(BUILTIN_ROUTES).map((r) => `${r.method} ${r.url}`), `${INDEX_ROUTE.method} ${INDEX_ROUTE.url}`].sort())
  })

  it('is all reserved for endpoints: each built-in path is refused whatever the method', () => {
    for (const r of Object.values(BUILTIN_ROUTES)) expect(reservedRoute(r.url), r.url).toMatchObject({ what: expect.any(String) })
    expect(reservedRoute('/')).toBeUndefined()
  })

  it('the index is left to an endpoint that declares GET /', async () => {
    const own = { ...project, endpoints: project.endpoints.map((e) => ({ ...e, method: 'GET' as const, path: '/' })) }
    const served = await servedRoutes(own)
    expect(served.filter((r) => r === 'GET /')).toHaveLength(1)
  })
})
