// A process that loads an ONNX model through the runtime leaves nothing in the temp folder:
// onnxruntime-node's telemetry would leave an empty mat-debug-<pid>.log (and a .ses file) there.
// Each child gets its own TMPDIR (the telemetry SDK writes there), so the test sees exactly what
// that process wrote.
import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const RUNTIME = pathToFileURL(fileURLToPath(new URL('../dist/index.js', import.meta.url))).href
const MODEL = fileURLToPath(new URL('../../../../examples/titanic/model/titanic.onnx', import.meta.url))
const ORT = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-node')).href

// Loads the model through @mlx/runtime-onnx's build, runs nothing, frees it, prints its pid.
const THROUGH_RUNTIME = `
import { onnxRuntime } from ${JSON.stringify(RUNTIME)}
const log = { debug() {}, info() {}, warn() {}, error() {} }
const m = await onnxRuntime.load({ name: 'titanic', runtime: 'onnx', path: ${JSON.stringify(MODEL)}, relPath: 'model/titanic.onnx', options: {} }, { projectRoot: '.', log })
if (m.inputs.length !== 13) throw new Error('unexpected model')
await m.dispose()
process.stdout.write(String(process.pid))
`
// The same with onnxruntime-node alone: what the runtime's switch prevents.
const BARE = `
const { default: ort } = await import(${JSON.stringify(ORT)})
const s = await ort.InferenceSession.create(${JSON.stringify(MODEL)})
await s.release()
process.stdout.write(String(process.pid))
`

const CI_MARKERS = ['CI', 'TF_BUILD', 'GITHUB_ACTIONS', 'GITLAB_CI', 'CIRCLECI', 'TRAVIS', 'JENKINS_URL', 'CODEBUILD_BUILD_ID', 'BUILDKITE', 'TEAMCITY_VERSION', 'APPVEYOR', 'BITBUCKET_BUILD_NUMBER']

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mlx-onnx-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Runs `script` with a fresh TMPDIR; returns what the process left there. */
async function leftBehind(script: string, name: string): Promise<{ pid: string; files: string[] }> {
  const tmp = await mkdtemp(path.join(dir, 'tmp-'))
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp }
  delete env.ORT_DISABLE_TELEMETRY
  // onnxruntime starts no telemetry on a build machine (it looks for these, as its binary shows),
  // so under CI neither process would write anything and the control could not hold.
  for (const name of CI_MARKERS) delete env[name]
  const at = path.join(dir, name)
  await writeFile(at, script)
  const r = spawnSync(process.execPath, [at], { env, encoding: 'utf8', timeout: 60_000 })
  expect(r.status, r.stderr).toBe(0)
  return { pid: r.stdout.trim(), files: await readdir(tmp) }
}

describe('onnx runtime in a process of its own', () => {
  it('leaves no mat-debug-<pid>.log (nor anything else) in the temp folder after loading a model', async () => {
    const { pid, files } = await leftBehind(THROUGH_RUNTIME, 'through-runtime.mjs')
    expect(pid).toMatch(/^\d+$/)
    expect(files).toEqual([])
  })

  it('(control) onnxruntime-node without the switch does leave mat-debug-<pid>.log there, so the test above can fail', async () => {
    const { pid, files } = await leftBehind(BARE, 'bare.mjs')
    // If a newer onnxruntime-node stops writing it, the switch in runtime.ts may go.
    expect(files).toContain(`mat-debug-${pid}.log`)
  })
})
