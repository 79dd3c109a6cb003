#!/usr/bin/env node
// Adaptive batching on and off, same model, same load, measured in the same run: `mlx serve` of
// the titanic example as it is, then of a copy whose model declares `batching:`, under many
// concurrent single-row requests (the case batching exists for). Prints req/s, p50/p99 and the
// ratio batched/unbatched, plus how many model runs served the requests (from /metrics).
//
//   npm run bench:batching                    # 64 connections, 2 s warm-up, 8 s measured, 2 rounds
//   npm run bench:batching -- 32 10 3         # connections, seconds, rounds
//
// A benchmark, not a test: it prints numbers and never fails on a threshold.
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CLI = path.join(ROOT, 'packages/cli/bin/run.js')
const [connections = 64, duration = 8, rounds = 2] = process.argv.slice(2).map(Number)
const BATCHING = '    batching: { maxBatchSize: 64, maxWaitMs: 2 }\n'

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

function project(batched) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `mlx-bench-batching-${batched ? 'on' : 'off'}-`))
  cpSync(path.join(ROOT, 'examples/titanic'), dir, { recursive: true, filter: (f) => !f.includes(`${path.sep}.mlx`) })
  if (batched) {
    const file = path.join(dir, 'mlx.yaml')
    const yaml = readFileSync(file, 'utf8')
    // The model block's path line is followed by the batching setting.
    const edited = yaml.replace(/(\n {4}path: model\/titanic\.onnx\n)/, `$1${BATCHING}`)
    if (edited === yaml) throw new Error('could not find the titanic model block in mlx.yaml')
    writeFileSync(file, edited)
  }
  return dir
}

async function serve(dir) {
  const port = await freePort()
  const child = spawn(process.execPath, [CLI, 'serve', dir, '--port', String(port)], { stdio: ['ignore', 'ignore', 'inherit'] })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false)
    if (ok) return { url, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) }
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`mlx serve ${dir} did not become ready`)
}

function load(url, body) {
  return new Promise((resolve, reject) => {
    const cfg = JSON.stringify({ url: `${url}/predict_function`, body, connections, warmup: 2, duration })
    const child = spawn(process.execPath, [path.join(ROOT, 'bench/load.mjs'), cfg], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`load.mjs exited ${code}`))))
  })
}

const runs = async (url) => Number(/mlx_model_run_duration_seconds_count\{model="titanic"\} (\d+)/.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN)
const requests = async (url) => Number(/mlx_request_duration_seconds_count\{endpoint="predict_function"\} (\d+)/.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN)

const body = JSON.stringify({ pclass: [3], sex: ['male'], age: [35], sibsp: [0], parch: [0], fare: [8.05], embarked: ['S'], class: ['Third'], who: ['man'], adult_male: [true], deck: [null], embark_town: ['Southampton'], alive: ['no'], alone: [true] })
const dirs = { off: project(false), on: project(true) }
const results = { off: [], on: [] }
try {
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 ? ['on', 'off'] : ['off', 'on']) {
      const s = await serve(dirs[mode])
      try {
        const m = await load(s.url, body)
        const [nRuns, nReq] = [await runs(s.url), await requests(s.url)]
        results[mode].push({ ...m, rowsPerRun: nReq / nRuns })
        console.log(`round ${r + 1} ${mode.padEnd(3)} ${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50.toFixed(2)} ms  p99 ${m.p99.toFixed(2)} ms  ${(nReq / nRuns).toFixed(1)} requests per model run`)
      } finally {
        await s.stop()
      }
    }
  }
} finally {
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true })
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const pick = (mode, k) => median(results[mode].map((x) => x[k]))
console.log(`\n${connections} connections, single-row requests, median of ${rounds} rounds, ${os.cpus().length} CPUs`)
console.log('mode      req/s    p50 ms   p99 ms   requests/run')
for (const mode of ['off', 'on']) console.log(`${mode.padEnd(6)} ${pick(mode, 'rps').toFixed(0).padStart(8)} ${pick(mode, 'p50').toFixed(2).padStart(9)} ${pick(mode, 'p99').toFixed(2).padStart(8)} ${pick(mode, 'rowsPerRun').toFixed(1).padStart(14)}`)
console.log(`ratio batched/unbatched: req/s ${(pick('on', 'rps') / pick('off', 'rps')).toFixed(2)}x, p99 ${(pick('on', 'p99') / pick('off', 'p99')).toFixed(2)}x`)
