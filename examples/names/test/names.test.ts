// The names service (seed 003) served through mlx core, called the way the seed's clients call it,
// plus one real `mlx deploy` to the local target.
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {
  compileHandlerDir,
  compiledHandlerPath,
  importHandlers,
  loadProject,
  loadRegistry,
  serveProject,
  type Logger,
  type MlxServer,
} from '@mlx/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyExample, freePort, mlx, ROOT } from '../../../test/support/cli.js'

const EXAMPLE = path.join(ROOT, 'examples/names')
const LABELS = readFileSync(path.join(EXAMPLE, 'model/labels.txt'), 'utf8').trim().split('\n')
const METRICS = JSON.parse(readFileSync(path.join(EXAMPLE, 'model/metrics.json'), 'utf8'))
/** Names the training script held out (never trained on), with their language. */
const HELD_OUT = readFileSync(path.join(EXAMPLE, 'data/heldout.tsv'), 'utf8').trim().split('\n').map((l) => {
  const [name, language] = l.split('\t')
  return { name: name!, language: language! }
})

interface Prediction {
  predictions: string[]
  probabilities: number[]
}

const logLines: string[] = []
const log: Logger = { info: (m) => logLines.push(m), warn: (m) => logLines.push(`warning: ${m}`), debug: () => {}, step: (_t, w) => w() }
let server: MlxServer
let url: string
let handlerDir: string

beforeAll(async () => {
  const project = await loadProject(EXAMPLE)
  // The project folder first (as the CLI does), then the repository root where the workspaces are linked.
  const registry = await loadRegistry([project.root, ROOT])
  // Handlers are compiled the way `mlx serve` compiles them (into a temp folder: the repo stays clean).
  handlerDir = await mkdtemp(path.join(os.tmpdir(), 'mlx-names-handlers-'))
  const files: Record<string, string> = {}
  for (const ep of project.endpoints) {
    if (!ep.handler) continue
    const out = path.join(handlerDir, ep.name)
    await compileHandlerDir(path.dirname(ep.handler.source), out)
    files[ep.name] = compiledHandlerPath(out, ep.handler.relPath)
  }
  ;({ server, url } = await serveProject(project, { runtime: (n) => registry.runtime(n), handlers: await importHandlers(files), port: 0, host: '127.0.0.1', log }))
})

afterAll(async () => {
  await server?.close()
  if (handlerDir) await rm(handlerDir, { recursive: true, force: true })
})

const post = (body: unknown) =>
  fetch(`${url}/get_prediction`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
async function predict(body: unknown): Promise<Prediction> {
  const res = await post(body)
  expect(res.status, await res.clone().text()).toBe(200)
  return (await res.json()) as Prediction
}
async function problems(body: unknown): Promise<{ type: string; loc: (string | number)[]; msg: string; input: unknown }[]> {
  const res = await post(body)
  expect(res.status).toBe(422)
  return ((await res.json()) as { detail: never[] }).detail
}

describe('names service through mlx core', () => {
  it('GET /check_service answers exactly as the original service', async () => {
    const res = await fetch(`${url}/check_service`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await res.text()).toBe('{"Message":"Hello world from service"}')
  })

  it('POST /get_prediction with the seed body: 2 languages and 2 descending log-probabilities, the seed keys only', async () => {
    const out = await predict({ name: 'Jordan', n_predictions: 2 })
    expect(Object.keys(out)).toEqual(['predictions', 'probabilities'])
    expect(out.predictions).toHaveLength(2)
    expect(out.probabilities).toHaveLength(2)
    for (const p of out.predictions) expect(LABELS).toContain(p)
    expect(new Set(out.predictions).size).toBe(2)
    for (const p of out.probabilities) expect(p).toBeLessThanOrEqual(0)
    expect(out.probabilities[0]).toBeGreaterThanOrEqual(out.probabilities[1]!)
  })

  it('returns log-softmax values: over all 18 languages their probabilities sum to 1', async () => {
    const out = await predict({ name: 'Jordan', n_predictions: 18 })
    expect([...out.predictions].sort()).toEqual([...LABELS].sort())
    expect(out.probabilities.reduce((s, p) => s + Math.exp(p), 0)).toBeCloseTo(1, 4)
    expect(out.probabilities).toEqual([...out.probabilities].sort((a, b) => b - a))
    // The manifest declares 1 ≤ n_predictions ≤ 18, and core enforces it (the PyTorch original raised a 500).
    expect(await problems({ name: 'Jordan', n_predictions: 50 })).toEqual([expect.objectContaining({ type: 'less_than_equal', loc: ['body', 'n_predictions'] })])
    expect(await problems({ name: 'Jordan', n_predictions: 0 })).toEqual([expect.objectContaining({ type: 'greater_than_equal', loc: ['body', 'n_predictions'] })])
  })

  it('defaults n_predictions to 3', async () => {
    const out = await predict({ name: 'Jordan' })
    expect(out.predictions).toHaveLength(3)
    expect(out.probabilities).toHaveLength(3)
    // Numeric strings are coerced, as pydantic does.
    expect((await predict({ name: 'Jordan', n_predictions: '4' })).predictions).toHaveLength(4)
  })

  it.each([
    ['Murakami', 'Japanese'],
    ['Wakatsuki', 'Japanese'],
    ['Rogalnikov', 'Russian'],
    ['Mikhalchenko', 'Russian'],
    ['Vassilopulos', 'Greek'],
    ['Marchetti', 'Italian'],
    ['Xie', 'Chinese'],
  ])('ranks %s (held out, %s) with its language in the top 3', async (name, language) => {
    // Honest examples: the training script never saw these names.
    expect(HELD_OUT).toContainEqual({ name, language })
    const out = await predict({ name, n_predictions: 3 })
    expect(out.predictions).toContain(language)
  })

  it('reproduces metrics.json over the whole held-out set in one batched request (a list of rows)', async () => {
    const res = await post(HELD_OUT.map(({ name }) => ({ name, n_predictions: 3 })))
    expect(res.status).toBe(200)
    const out = (await res.json()) as Prediction[]
    expect(out).toHaveLength(HELD_OUT.length)
    const top1 = out.filter((o, i) => o.predictions[0] === HELD_OUT[i]!.language).length / out.length
    const top3 = out.filter((o, i) => o.predictions.includes(HELD_OUT[i]!.language)).length / out.length
    expect(top1).toBeCloseTo(METRICS.heldOut.top1, 2)
    expect(top3).toBeCloseTo(METRICS.heldOut.top3, 2)
    expect(top1).toBeGreaterThan(METRICS.baseline.top1 + 0.15)
  })

  it('normalises names as the training data was: accents stripped, unknown characters dropped', async () => {
    expect(await predict({ name: 'Béringer', n_predictions: 5 })).toEqual(await predict({ name: 'Beringer', n_predictions: 5 }))
    expect(await predict({ name: 'Au-Yong', n_predictions: 5 })).toEqual(await predict({ name: 'AuYong', n_predictions: 5 }))
  })

  it('answers FastAPI-style 422s that name the field', async () => {
    expect(await problems({ n_predictions: 2 })).toEqual([{ type: 'missing', loc: ['body', 'name'], msg: 'Field required', input: { n_predictions: 2 } }])
    expect(await problems({ name: { first: 'J' } })).toMatchObject([{ type: 'string_type', loc: ['body', 'name'] }])
    expect(await problems({ name: 'Jordan', n_predictions: 2.5 })).toMatchObject([{ type: 'int_from_float', loc: ['body', 'n_predictions'], input: 2.5 }])
    expect(await problems({ name: 'Jordan', n_predictions: 'two' })).toMatchObject([{ type: 'int_parsing', loc: ['body', 'n_predictions'] }])
    // Nothing left after normalisation: empty, digits only, another script.
    for (const name of ['', '   -', '12345', '山田']) {
      const [p] = await problems({ name })
      expect(p).toMatchObject({ type: 'value_error', loc: ['body', 'name'], input: name })
      expect(p!.msg).toMatch(/no characters the model knows are left after normalisation/)
    }
    expect(await problems('{"name": "Jor')).toMatchObject([{ type: 'json_invalid', loc: ['body'] }])
  })

  it('/v2/models/names shows the tfjs model on the wasm backend', async () => {
    const res = await fetch(`${url}/v2/models/names`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      name: 'names',
      platform: 'tfjs',
      inputs: [{ name: 'chars', datatype: 'FP32', shape: [-1, -1, 57] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 18] }],
      parameters: { backend: 'wasm', tfjs: expect.stringMatching(/^4\./), format: 'layers-model' },
    })
    expect(logLines.some((l) => /tfjs: model 'names' \(layers, model, .*\) on backend 'wasm'/.test(l))).toBe(true)
  })

  it('documents both routes in /openapi.json', async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    expect(Object.keys(doc.paths['/check_service']!)).toContain('get')
    expect(Object.keys(doc.paths['/get_prediction']!)).toContain('post')
  })
})

describe('mlx deploy to the local target', () => {
  let pid: number | undefined
  let dir: string | undefined
  afterAll(async () => {
    if (pid) {
      try {
        process.kill(pid, 'SIGTERM')
      } catch {
        // already gone
      }
    }
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {})
  })

  it('deploys the example with the real CLI and serves both routes on the deployment URL', async () => {
    const port = await freePort()
    dir = await copyExample('names', (y) => y.replace('    port: 8080', `    port: ${port}`))
    const r = await mlx(['deploy', dir, '--json'], { timeoutMs: 300_000 })
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    pid = out.deployment.details.pid
    expect(out).toMatchObject({ target: 'local', version: '1.0.0', url: `http://127.0.0.1:${port}` })

    const check = await fetch(`${out.url}/check_service`)
    expect(await check.json()).toEqual({ Message: 'Hello world from service' })
    const res = await fetch(`${out.url}/get_prediction`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Jordan', n_predictions: 2 }) })
    expect(res.status).toBe(200)
    const served = (await res.json()) as Prediction
    expect(served).toEqual(await predict({ name: 'Jordan', n_predictions: 2 }))
    const meta = (await (await fetch(`${out.url}/v2/models/names`)).json()) as { parameters: Record<string, string> }
    expect(meta.parameters.backend).toBe('wasm')
  }, 300_000)
})
