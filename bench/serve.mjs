#!/usr/bin/env node
// mlx's server against a bare node:http + onnxruntime-node server on the same titanic model,
// measured in the same run: requests/s, p50 and p99 latency, and the ratio mlx/bare.
//
//   npm run bench                       # defaults: 10 connections, 2 s warm-up, 8 s measured, 2 rounds
//   npm run bench -- -c 20 -d 15 -r 3   # flags (or BENCH_* variables), see --help
//
// One server runs at a time, the load generator (bench/load.mjs, autocannon) in its own process.
// Rounds alternate the order (mlx, bare / bare, mlx, ...) and the table shows the median of rounds.
// This is a benchmark, not a test: it prints the numbers and never fails on a threshold.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BENCH = path.join(ROOT, 'bench')
const PROJECT = 'examples/titanic'
const MODEL = path.join(ROOT, PROJECT, 'model', 'titanic.onnx')
const CSV = path.join(ROOT, PROJECT, 'data', 'titanic.csv')
const CLI_BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'run.js')
const CLI_SERVE = path.join(ROOT, 'packages', 'cli', 'dist', 'commands', 'serve.js')
const CORE_DIST = path.join(ROOT, 'packages', 'core', 'dist', 'index.js')
const ROUTE = '/predict_function'
const TARGET = 0.8
/** Every child process started here, killed if the bench exits early. */
const children = new Set()

const HELP = `Usage: npm run bench -- [options]

  -c, --connections N     concurrent connections (env BENCH_CONNECTIONS, default 10)
  -w, --warmup S          warm-up seconds per measurement, not recorded (env BENCH_WARMUP, default 2)
  -d, --duration S        measured seconds per measurement (env BENCH_DURATION, default 8)
  -r, --rounds N          rounds; each runs both servers, order alternating (env BENCH_ROUNDS, default 2)
  -s, --scenarios LIST    comma list of: single, batch32 (env BENCH_SCENARIOS, default single,batch32)
      --mlx MODE          how to start mlx: auto | cli | api (env BENCH_MLX, default auto:
                          the CLI when packages/cli/dist/commands/serve.js exists, else @mlx/core's API)
      --profile           afterwards, run each server once more under node --cpu-prof and print
                          main-thread CPU per request by origin and mlx's top self-time
                          functions (env BENCH_PROFILE=1; profiles in bench/results/profile/)
      --profile-scenario  scenario to profile (default: the first one)
      --build             run \`npx tsc -b\` first (otherwise only when packages/core/dist is missing)
      --out FILE          results JSON (default bench/results/latest.json)
  -h, --help
`

// ---------------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    connections: { type: 'string', short: 'c' },
    warmup: { type: 'string', short: 'w' },
    duration: { type: 'string', short: 'd' },
    rounds: { type: 'string', short: 'r' },
    scenarios: { type: 'string', short: 's' },
    mlx: { type: 'string' },
    profile: { type: 'boolean' },
    'profile-scenario': { type: 'string' },
    build: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (flags.help) {
  process.stdout.write(HELP)
  process.exit(0)
}

function num(flag, env, dflt, { min = 0, int = false } = {}) {
  const raw = flag ?? process.env[env]
  if (raw === undefined || raw === '') return dflt
  const v = Number(raw)
  if (!Number.isFinite(v) || v < min || (int && !Number.isInteger(v))) fail(`${env.toLowerCase().replace('bench_', '--')} (or ${env}) must be ${int ? 'an integer' : 'a number'} >= ${min}, got '${raw}'`)
  return v
}

const config = {
  connections: num(flags.connections, 'BENCH_CONNECTIONS', 10, { min: 1, int: true }),
  warmup: num(flags.warmup, 'BENCH_WARMUP', 2),
  duration: num(flags.duration, 'BENCH_DURATION', 8, { min: 1 }),
  rounds: num(flags.rounds, 'BENCH_ROUNDS', 2, { min: 0, int: true }),
  scenarios: (flags.scenarios ?? process.env.BENCH_SCENARIOS ?? 'single,batch32').split(',').map((s) => s.trim()).filter(Boolean),
  mlx: flags.mlx ?? process.env.BENCH_MLX ?? 'auto',
  profile: flags.profile ?? process.env.BENCH_PROFILE === '1',
  out: path.resolve(ROOT, flags.out ?? 'bench/results/latest.json'),
}
if (!['auto', 'cli', 'api'].includes(config.mlx)) fail(`--mlx must be auto, cli or api, got '${config.mlx}'`)

// ---------------------------------------------------------------------------------------------
// Scenarios: the request bodies

/** The seed's one-passenger body, as the original service was called. */
const SEED = {
  pclass: [3], sex: ['male'], age: [22], sibsp: [1], parch: [0], fare: [7.25], embarked: ['S'], class: ['Third'],
  who: ['man'], adult_male: [true], deck: [null], embark_town: ['Southampton'], alive: ['no'], alone: [false],
}

/** The first n passengers of the training CSV, column-oriented, with nulls where values are missing. */
function csvColumns(n) {
  const lines = readFileSync(CSV, 'utf8').split(/\r?\n/).filter((l) => l.length)
  if (lines.some((l) => l.includes('"'))) fail(`${CSV} has quoted fields; the bench's reader splits on commas only`)
  const header = lines[0].split(',')
  const numeric = new Set(['pclass', 'age', 'sibsp', 'parch', 'fare'])
  const boolean = new Set(['adult_male', 'alone'])
  const cols = Object.fromEntries(Object.keys(SEED).map((k) => [k, []]))
  for (const line of lines.slice(1, n + 1)) {
    const cells = line.split(',')
    header.forEach((h, i) => {
      if (!(h in cols)) return
      const c = cells[i] ?? ''
      cols[h].push(c === '' ? null : numeric.has(h) ? Number(c) : boolean.has(h) ? c === 'True' : c)
    })
  }
  if (cols.pclass.length !== n) fail(`${CSV} has fewer than ${n} rows`)
  return cols
}

const SCENARIOS = {
  single: { rows: 1, body: () => SEED },
  batch32: { rows: 32, body: () => csvColumns(32) },
}
for (const s of config.scenarios) if (!SCENARIOS[s]) fail(`unknown scenario '${s}' (known: ${Object.keys(SCENARIOS).join(', ')})`)
const bodies = Object.fromEntries(Object.keys(SCENARIOS).map((s) => [s, JSON.stringify(SCENARIOS[s].body())]))
const profileScenario = flags['profile-scenario'] ?? config.scenarios[0] ?? 'single'
if (!SCENARIOS[profileScenario]) fail(`unknown --profile-scenario '${profileScenario}' (known: ${Object.keys(SCENARIOS).join(', ')})`)

// ---------------------------------------------------------------------------------------------
// Processes

function killAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => {
  killAll()
  process.exit(130)
})

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`)
  killAll()
  process.exit(1)
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function post(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  return { status: res.status, text: await res.text() }
}

/** How mlx is started: decided once (auto: the CLI when it is built, else core's API). */
let mlxMode = config.mlx === 'auto' ? (existsSync(CLI_SERVE) ? 'cli' : 'api') : config.mlx
let mlxModeReason = config.mlx === 'auto' ? (mlxMode === 'cli' ? `${path.relative(ROOT, CLI_SERVE)} exists` : `${path.relative(ROOT, CLI_SERVE)} is missing`) : 'forced by --mlx'

function serverCommand(kind, port, nodeFlags) {
  if (kind === 'bare') return [...nodeFlags, path.join(BENCH, 'baseline-server.mjs'), MODEL, String(port)]
  if (mlxMode === 'cli') return [...nodeFlags, CLI_BIN, 'serve', PROJECT, '--port', String(port), '--host', '127.0.0.1']
  return [...nodeFlags, path.join(BENCH, 'mlx-api-server.mjs'), PROJECT, String(port)]
}

/** Starts one server and resolves when the route answers the seed body with 200. */
async function startServer(kind, nodeFlags = []) {
  const port = await freePort()
  const child = spawn(process.execPath, serverCommand(kind, port, nodeFlags), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let output = ''
  const keep = (d) => {
    output = (output + d).slice(-4000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const url = `http://127.0.0.1:${port}${ROUTE}`
  const deadline = Date.now() + 60_000
  let last = ''
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${kind} server exited (${child.exitCode ?? child.signalCode}) before answering:\n${output.trim()}`)
    }
    try {
      const r = await post(url, JSON.stringify(SEED))
      if (r.status === 200) break
      last = `${r.status} ${r.text.slice(0, 200)}`
    } catch (err) {
      last = err.cause?.code ?? err.message
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${kind} server did not answer 200 on ${url} within 60 s (last: ${last}):\n${output.trim()}`)
    }
    await sleep(100)
  }
  return {
    kind,
    url,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
      const r = await exited
      clearTimeout(t)
      children.delete(child)
      return r
    },
  }
}

/** Runs bench/load.mjs against url in its own process; resolves with its JSON line. */
function load(url, body, duration = config.duration) {
  return new Promise((resolve, reject) => {
    const arg = JSON.stringify({ url, body, connections: config.connections, warmup: config.warmup, duration })
    const child = spawn(process.execPath, [path.join(BENCH, 'load.mjs'), arg], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.once('exit', (code) => {
      children.delete(child)
      if (code !== 0) return reject(new Error(`load generator exited ${code}: ${err.trim()}`))
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()))
      } catch {
        reject(new Error(`load generator printed no result: ${out} ${err}`))
      }
    })
  })
}

// ---------------------------------------------------------------------------------------------
// Preparation

function prepare() {
  if (!existsSync(MODEL)) {
    process.stdout.write(`model missing: training it (node ${PROJECT}/train/train.mjs)\n`)
    const r = spawnSync(process.execPath, [path.join(ROOT, PROJECT, 'train', 'train.mjs')], { cwd: ROOT, stdio: 'inherit' })
    if (r.status !== 0 || !existsSync(MODEL)) fail('training the titanic model failed')
  }
  if (flags.build || !existsSync(CORE_DIST)) {
    process.stdout.write('building: npx tsc -b\n')
    const r = spawnSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'inherit' })
    if (r.status !== 0) fail('`npx tsc -b` failed (the bench serves the built dist/ files)')
  }
  const ac = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('autocannon')"], { cwd: BENCH })
  if (ac.status !== 0) fail('autocannon is not installed: run `npm install` at the repository root')
}

// ---------------------------------------------------------------------------------------------
// Statistics and output

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (!s.length) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function maxAbsDiff(a, b) {
  const x = JSON.parse(a)
  const y = JSON.parse(b)
  if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return Infinity
  return Math.max(...x.map((v, i) => Math.abs(v - y[i])))
}

const fmt = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-')

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  return rows
    .map((r, j) => {
      const line = r.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
      return j === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line
    })
    .join('\n')
}

function gitInfo() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' })
  const d = spawnSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: ROOT, encoding: 'utf8' })
  return { commit: r.stdout?.trim() || null, packagesDirty: Boolean(d.stdout?.trim()) }
}

// ---------------------------------------------------------------------------------------------
// Profiling: one more run of each server under --cpu-prof, summarised as main-thread CPU per request

/** Monotonic microseconds: the same clock (CLOCK_MONOTONIC) as the V8 profiler's sample timestamps on Linux. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n)

/** Self time per function and per origin, counting only samples inside [fromUs, toUs] (the load window). */
function summariseProfile(file, fromUs, toUs, requests) {
  const prof = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const deltas = prof.timeDeltas ?? []
  const stamps = new Array(prof.samples.length)
  for (let i = 0, t = prof.startTime; i < prof.samples.length; i++) stamps[i] = t += deltas[i] ?? 0
  let inWindow = (i) => stamps[i] >= fromUs && stamps[i] <= toUs
  let windowed = true
  if (!prof.samples.some((_, i) => inWindow(i))) {
    // Clocks did not line up (not Linux?): count the whole profile, startup included.
    inWindow = () => true
    windowed = false
  }
  const self = new Map()
  for (let i = 0; i < prof.samples.length; i++) {
    if (!inWindow(i)) continue
    // The interval after a sample belongs to it (as DevTools counts it).
    const ms = ((i + 1 < stamps.length ? stamps[i + 1] : prof.endTime) - stamps[i]) / 1000
    self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + ms)
  }
  const fns = new Map()
  const groups = new Map()
  for (const [id, ms] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame
    const where = url ? `${url.replace(`file://${ROOT}/`, '')}:${lineNumber + 1}` : ''
    const group = !url
      ? ['(idle)', '(program)', '(garbage collector)'].includes(functionName) ? functionName : '(native)'
      : url.includes(`${ROOT}/packages/`) ? 'mlx (packages/)'
      : url.includes(`${ROOT}/bench/`) ? 'bench/ (baseline server)'
      : url.startsWith('node:') ? 'node internals'
      : url.includes('/node_modules/') ? url.slice(url.lastIndexOf('/node_modules/') + 14).split('/').slice(0, url.includes('/node_modules/@') ? 2 : 1).join('/')
      : 'other'
    const key = `${functionName} ${where}`
    const f = fns.get(key) ?? { fn: functionName || '(anonymous)', where: where || group, group, ms: 0 }
    f.ms += ms
    fns.set(key, f)
    groups.set(group, (groups.get(group) ?? 0) + ms)
  }
  const busy = [...groups].reduce((a, [g, ms]) => a + (g === '(idle)' ? 0 : ms), 0)
  const shape = (name, ms) => ({ ...name, ms: Math.round(ms), pct: Math.round((1000 * ms) / busy) / 10, usPerRequest: Math.round((10 * 1000 * ms) / requests) / 10 })
  return {
    file: path.relative(ROOT, file),
    windowed,
    requests,
    busyMs: Math.round(busy),
    usPerRequest: Math.round((10 * 1000 * busy) / requests) / 10,
    groups: [...groups].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1]).map(([group, ms]) => shape({ group }, ms)),
    functions: [...fns.values()].filter((f) => f.group !== '(idle)').sort((a, b) => b.ms - a.ms).slice(0, 60).map((f) => shape({ fn: f.fn, where: f.where, group: f.group }, f.ms)),
  }
}

async function profileServer(kind, scenario, dir) {
  const before = new Set(readdirSync(dir))
  const server = kind === 'mlx' ? await startMlx(['--cpu-prof', '--cpu-prof-dir', dir]) : await startServer('bare', ['--cpu-prof', '--cpu-prof-dir', dir])
  const from = nowUs()
  const result = await load(server.url, bodies[scenario])
  const to = nowUs()
  const exit = await server.stop()
  const fresh = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f))
  if (!fresh.length) throw new Error(`${kind}: no .cpuprofile was written (exit ${JSON.stringify(exit)}); node writes it only when the server exits on SIGTERM`)
  // The server process wrote the biggest one (a launcher may leave small ones too).
  const file = fresh.map((f) => path.join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0]
  return { server: kind, load: result, ...summariseProfile(file, from, to, result.ok + result.warmupOk + result.non2xx) }
}

async function profileBoth(scenario) {
  const dir = path.join(path.dirname(config.out), 'profile')
  mkdirSync(dir, { recursive: true })
  process.stdout.write(`\nprofiling (node --cpu-prof), scenario ${scenario}, ${config.warmup}+${config.duration} s each, mlx started with ${mlxMode} ...\n`)
  const mlx = await profileServer('mlx', scenario, dir)
  const bare = await profileServer('bare', scenario, dir)
  const w = (p) => (p.windowed ? 'load window only' : 'whole process, startup included')
  process.stdout.write(
    `mlx:  ${mlx.file} (${w(mlx)}), ${fmt(mlx.load.rps)} req/s under the profiler, main thread ${fmt(mlx.usPerRequest)} µs CPU per request\n` +
      `bare: ${bare.file} (${w(bare)}), ${fmt(bare.load.rps)} req/s under the profiler, main thread ${fmt(bare.usPerRequest)} µs CPU per request\n\n`,
  )
  const origins = [...new Set([...mlx.groups, ...bare.groups].map((g) => g.group))]
  const us = (p, g) => p.groups.find((x) => x.group === g)?.usPerRequest ?? 0
  const originRows = origins
    .map((g) => [g, '', us(mlx, g), us(bare, g)])
    .sort((a, b) => b[2] + b[3] - (a[2] + a[3]))
    .filter((r) => r[2] >= 0.5 || r[3] >= 0.5)
  process.stdout.write(
    `main-thread self time per request, by origin (µs; ≥ 0.5 µs shown):\n${table([['origin', '', 'mlx', 'bare', 'mlx - bare'], ...originRows.map((r) => [r[0], '', fmt(r[2]), fmt(r[3]), fmt(r[2] - r[3])]), ['total', '', fmt(mlx.usPerRequest), fmt(bare.usPerRequest), fmt(mlx.usPerRequest - bare.usPerRequest)]])}\n\n`,
  )
  const fnRows = (list) => table([['function', 'where', 'µs/req', '%'], ...list.map((f) => [f.fn, f.where, fmt(f.usPerRequest), fmt(f.pct)])])
  process.stdout.write(`mlx, top self time, all code:\n${fnRows(mlx.functions.slice(0, 15))}\n\n`)
  const own = mlx.functions.filter((f) => f.group === 'mlx (packages/)').slice(0, 12)
  process.stdout.write(`mlx, top self time in mlx code (packages/, compiled dist/):\n${own.length ? fnRows(own) : '(none sampled)'}\n`)
  return { scenario, mlx, bare }
}

// ---------------------------------------------------------------------------------------------
// Main

prepare()
const loadBefore = os.loadavg()
const started = new Date()
process.stdout.write(
  `mlx bench: titanic ${ROUTE}, ${config.connections} connections, ${config.warmup} s warm-up + ${config.duration} s measured, ` +
    `${config.rounds} round(s), scenarios ${config.scenarios.join(', ')}\n` +
    `node ${process.version}, ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? '?'}), load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}\n` +
    `mlx started with: ${mlxMode === 'cli' ? `the CLI (node packages/cli/bin/run.js serve ${PROJECT})` : "@mlx/core's API (bench/mlx-api-server.mjs)"} — ${mlxModeReason}\n\n`,
)

const runs = []
const answers = { mlx: {}, bare: {} }

async function startMlx(nodeFlags) {
  try {
    return await startServer('mlx', nodeFlags)
  } catch (err) {
    if (config.mlx !== 'auto' || mlxMode !== 'cli') throw err
    // The CLI is being written alongside this bench: when it is built but broken, core's API still serves the same server.
    mlxMode = 'api'
    mlxModeReason = `the CLI failed to start (${err.message.split('\n')[0]}), fell back to core's API`
    process.stdout.write(`note: ${mlxModeReason}\n`)
    return startServer('mlx', nodeFlags)
  }
}

try {
  for (let round = 0; round < config.rounds; round++) {
    const order = round % 2 === 0 ? ['mlx', 'bare'] : ['bare', 'mlx']
    for (const kind of order) {
      const server = kind === 'mlx' ? await startMlx([]) : await startServer('bare')
      for (const scenario of config.scenarios) {
        if (!answers[kind][scenario]) {
          const r = await post(server.url, bodies[scenario])
          if (r.status !== 200) throw new Error(`${kind} answered ${r.status} to the ${scenario} body: ${r.text.slice(0, 300)}`)
          answers[kind][scenario] = r.text
        }
        const result = await load(server.url, bodies[scenario])
        runs.push({ round: round + 1, server: kind, scenario, ...result })
        const bad = result.non2xx + result.errors + result.timeouts
        process.stdout.write(
          `round ${round + 1}  ${kind.padEnd(4)}  ${scenario.padEnd(8)}  ${fmt(result.rps).padStart(8)} req/s  p50 ${fmt(result.p50, 2)} ms  p99 ${fmt(result.p99, 2)} ms` +
            (bad ? `  !! ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts` : '') +
            '\n',
        )
      }
      await server.stop()
    }
  }
} catch (err) {
  fail(err.message)
}

// Both servers must compute the same thing, or the ratio compares different work.
const agreement = {}
for (const scenario of config.scenarios) {
  if (answers.mlx[scenario] && answers.bare[scenario]) agreement[scenario] = maxAbsDiff(answers.mlx[scenario], answers.bare[scenario])
}

const summary = {}
const rows = [['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'req/s per round', 'spread']]
const noisy = []
const verdicts = []
for (const scenario of config.scenarios) {
  const s = (summary[scenario] = { rows: SCENARIOS[scenario].rows, bodyBytes: Buffer.byteLength(bodies[scenario]) })
  for (const kind of ['mlx', 'bare']) {
    const mine = runs.filter((r) => r.server === kind && r.scenario === scenario)
    const r3 = (v) => Math.round(v * 1000) / 1000
    s[kind] = { rps: r3(median(mine.map((r) => r.rps))), p50: r3(median(mine.map((r) => r.p50))), p99: r3(median(mine.map((r) => r.p99))), rpsPerRound: mine.map((r) => r.rps) }
    // Spread: (max - min) / median of the rounds' req/s; large spreads mean the machine was busy.
    s[kind].spread = mine.length > 1 ? (Math.max(...s[kind].rpsPerRound) - Math.min(...s[kind].rpsPerRound)) / s[kind].rps : null
    if (s[kind].spread > 0.15) noisy.push(`${scenario}/${kind}`)
    rows.push([scenario, kind, fmt(s[kind].rps), fmt(s[kind].p50, 2), fmt(s[kind].p99, 2), s[kind].rpsPerRound.map((v) => fmt(v, 0)).join(', '), s[kind].spread === null ? '' : `${fmt(100 * s[kind].spread, 0)}%`])
  }
  s.ratio = { rps: s.mlx.rps / s.bare.rps, p50: s.mlx.p50 / s.bare.p50, p99: s.mlx.p99 / s.bare.p99 }
  s.verdict = !Number.isFinite(s.ratio.rps) ? 'NO DATA' : s.ratio.rps >= TARGET ? 'PASS' : 'BELOW TARGET'
  s.answersMaxAbsDiff = agreement[scenario] ?? null
  rows.push([scenario, 'mlx/bare', `${fmt(s.ratio.rps, 2)}x`, `${fmt(s.ratio.p50, 2)}x`, `${fmt(s.ratio.p99, 2)}x`, '', ''])
  verdicts.push(`${scenario}: mlx serves ${fmt(100 * s.ratio.rps, 0)}% of bare's req/s — ${s.verdict} (target >= ${fmt(100 * TARGET, 0)}%); p99 is ${fmt(s.ratio.p99, 2)}x bare's`)
}

const loadAfter = os.loadavg()
if (config.rounds > 0) process.stdout.write(`\n${table(rows)}\n\n${verdicts.join('\n')}\n`)
else process.stdout.write('no rounds (-r 0): nothing measured\n')
if (config.rounds > 0) process.stdout.write('(information only: the bench asserts nothing. req/s ratio > 1 is mlx faster; p99 ratio > 1 is mlx slower.)\n')
for (const [scenario, d] of Object.entries(agreement)) {
  process.stdout.write(d <= 1e-6 ? `answers agree (${scenario}: max |mlx - bare| = ${d})\n` : `!! answers differ (${scenario}: max |mlx - bare| = ${d}): the servers do not compute the same thing\n`)
}
if (noisy.length) process.stdout.write(`!! rounds disagree by more than 15% for ${noisy.join(', ')}: the machine was busy; rerun with more rounds (-r 4) before drawing conclusions\n`)
process.stdout.write(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}${os.cpus().length <= 2 ? ' — few cores, shared: compare ratios, not absolute numbers' : ''}\n`)

let profile = null
if (config.profile) {
  try {
    profile = await profileBoth(profileScenario)
  } catch (err) {
    process.stdout.write(`profiling failed: ${err.message}\n`)
  }
}

mkdirSync(path.dirname(config.out), { recursive: true })
writeFileSync(
  config.out,
  JSON.stringify(
    {
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      config: { connections: config.connections, warmupSeconds: config.warmup, durationSeconds: config.duration, rounds: config.rounds, scenarios: config.scenarios },
      machine: { node: process.version, platform: `${process.platform}/${process.arch}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, loadAvgBefore: loadBefore, loadAvgAfter: loadAfter },
      git: gitInfo(),
      mlx: { startedWith: mlxMode, reason: mlxModeReason },
      target: { rpsRatio: TARGET },
      summary,
      runs,
      profile,
    },
    null,
    2,
  ) + '\n',
)
process.stdout.write(`\nresults: ${path.relative(ROOT, config.out)}\n`)
