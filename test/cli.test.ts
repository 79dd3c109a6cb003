import { existsSync } from 'node:fs'
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { copyExample, freePort, mlx, ROOT, SEED_PAYLOAD } from './support/cli.js'

const TITANIC = path.join(ROOT, 'examples/titanic')
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+/)

describe('mlx validate', () => {
  it('accepts the titanic example and reports it as JSON', async () => {
    const r = await mlx(['validate', TITANIC, '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ valid: true, name: 'titanic', version: '1.0.0', targets: ['local'] })
    expect(out.endpoints[0].features).toContain('deck')
  })

  it('names file, line, key and the declared models for an undeclared model, with no stack trace', async () => {
    const dir = await copyExample('titanic', (y) => y.replace('    model: titanic\n', '    model: survival\n'))
    const r = await mlx(['validate', dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/mlx\.yaml:\d+:\d+: endpoints\.predict_function\.model: 'survival' is not declared under models \(declared: titanic\)/)
    expect(r.stderr).toContain('hint:')
    noStack(r.stderr)
    const v = await mlx(['validate', dir, '--verbose'])
    expect(v.stderr).toMatch(/\n\s+at .+/)
  })

  it('reports malformed YAML with its line', async () => {
    const dir = await copyExample('titanic', (y) => y.replace('models:\n', 'models:\n  - [unclosed\n'))
    const r = await mlx(['validate', dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error\[MANIFEST_SYNTAX\]: .*mlx\.yaml:\d+:\d+: invalid YAML/)
    noStack(r.stderr)
  })

  it('rejects a corrupt ONNX file with MODEL_LOAD_FAILED', async () => {
    const dir = await copyExample('titanic')
    await writeFile(path.join(dir, 'model/titanic.onnx'), Buffer.from('this is not a protobuf model'))
    const r = await mlx(['validate', dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error[MODEL_LOAD_FAILED]')
    expect(r.stderr).toContain('model/titanic.onnx')
    noStack(r.stderr)
  })

  it('emits errors as one JSON object under --json', async () => {
    const r = await mlx(['validate', path.join(os.tmpdir(), 'no-such-mlx-project'), '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'MANIFEST_NOT_FOUND' } })
  })

  it('runs each endpoint on its docs example, catching a post step that names a missing output', async () => {
    const dir = await copyExample('titanic', (y) => y.replace('output: probabilities', 'output: probs'))
    const r = await mlx(['validate', dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("endpoint 'predict_function' fails on its own docs example: model has no output 'probs' (outputs: label, probabilities)")
  })

  it('exits 2 for usage errors such as an undeclared --env', async () => {
    const r = await mlx(['validate', TITANIC, '--env', 'staging', '--skip-models'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("environment 'staging' is not declared")
  })

  it('checks target settings against the target plugin schema', async () => {
    const dir = await copyExample('titanic', (y) => y.replace('    port: 8080', '    port: "eighty"'))
    const r = await mlx(['validate', dir, '--skip-models'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error[TARGET_CONFIG_INVALID]')
    expect(r.stderr).toContain('targets.local.port')
  })
})

describe('mlx predict', () => {
  it('answers the seed payload from a JSON file without a server', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-predict-'))
    const file = path.join(dir, 'seed.json')
    await writeFile(file, JSON.stringify(SEED_PAYLOAD))
    const r = await mlx(['predict', TITANIC, '--data', file, '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as number[]
    expect(out).toHaveLength(1)
    expect(out[0]).toBeGreaterThan(0)
    expect(out[0]).toBeLessThan(1)
  })

  it('scores a whole CSV, and the scores agree with the labels most of the time', async () => {
    const r = await mlx(['predict', TITANIC, '--endpoint', 'predict_function', '--data', path.join(TITANIC, 'data/titanic.csv'), '--json'])
    expect(r.code).toBe(0)
    const scores = JSON.parse(r.stdout) as number[]
    const csv = (await readFile(path.join(TITANIC, 'data/titanic.csv'), 'utf8')).trim().split('\n').slice(1)
    expect(scores).toHaveLength(csv.length)
    const correct = csv.filter((line, i) => Number(line.split(',')[0]) === (scores[i]! >= 0.5 ? 1 : 0)).length
    expect(correct / csv.length).toBeGreaterThan(0.75)
  })

  it('explains a body that does not match the endpoint', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-predict-'))
    const file = path.join(dir, 'bad.json')
    await writeFile(file, JSON.stringify({ ...SEED_PAYLOAD, age: ['old'] }))
    const r = await mlx(['predict', TITANIC, '--data', file])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error[INPUT_INVALID]')
    expect(r.stderr).toContain('body.age.0')
  })

  it('refuses an unknown endpoint and lists the real ones', async () => {
    const r = await mlx(['predict', TITANIC, '--endpoint', 'nope', '--data', path.join(TITANIC, 'data/titanic.csv')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('predict_function')
  })
})

describe('mlx serve', () => {
  it('says clearly when the port is taken', async () => {
    const blocker = createServer().listen(0, '127.0.0.1')
    await new Promise((r) => blocker.once('listening', r))
    const port = (blocker.address() as { port: number }).port
    try {
      const r = await mlx(['serve', TITANIC, '--port', String(port)])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('error[PORT_IN_USE]')
      expect(r.stderr).toContain(String(port))
      noStack(r.stderr)
    } finally {
      blocker.close()
    }
  })
})

describe('mlx init', () => {
  it('creates a project that validates once a model is in place', async () => {
    const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'mlx-init-')), 'my-model')
    const r = await mlx(['init', dir, '--kind', 'tabular-classification', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).files).toContain('mlx.yaml')
    const yaml = await readFile(path.join(dir, 'mlx.yaml'), 'utf8')
    expect(yaml).toMatch(/^# yaml-language-server: \$schema=.*mlx\.schema\.json/)
    expect(yaml).toContain('name: my-model')
    const missing = await mlx(['validate', dir])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('error[MODEL_NOT_FOUND]')
    expect(missing.stderr).toContain('model/model.onnx')
    const again = await mlx(['init', dir])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('--force')
  })
})

describe('mlx package / deploy / status on the local target', () => {
  const pids: number[] = []
  afterAll(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGTERM')
      } catch {
        // already gone
      }
    }
  })

  it('refuses an unknown target with the installed ones', async () => {
    const r = await mlx(['package', TITANIC, '--target', 'locl'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error[PLUGIN_NOT_FOUND]')
    expect(r.stderr).toContain("did you mean 'local'")
  })

  it('deploys, answers the seed curl, records it, and a broken redeploy leaves it serving', async () => {
    const port = await freePort()
    const dir = await copyExample('titanic', (y) => y.replace('    port: 8080', `    port: ${port}`))
    const dry = await mlx(['deploy', dir, '--dry-run', '--json'])
    expect(dry.code).toBe(0)
    expect(JSON.parse(dry.stdout).plan.map((s: { action: string }) => s.action)).toEqual(['smoke-start', 'start'])

    const r = await mlx(['deploy', dir, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    pids.push(out.deployment.details.pid)
    expect(out).toMatchObject({ target: 'local', version: '1.0.0', url: `http://127.0.0.1:${port}`, docs: `http://127.0.0.1:${port}/docs` })
    expect(existsSync(path.join(out.paths.bundle, 'server.mjs'))).toBe(true)

    const res = await fetch(`${out.url}/predict_function`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(SEED_PAYLOAD) })
    expect(res.status).toBe(200)
    const [p] = (await res.json()) as number[]
    expect(p).toBeGreaterThan(0)

    const status = await mlx(['status', dir, '--json'])
    expect(JSON.parse(status.stdout).deployments[0]).toMatchObject({ target: 'local', status: 'ready', version: '1.0.0' })

    // A corrupt model must fail the deploy and leave the running release alone.
    await writeFile(path.join(dir, 'model/titanic.onnx'), Buffer.from('garbage'))
    const bad = await mlx(['deploy', dir])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/MODEL_LOAD_FAILED|DEPLOY_FAILED/)
    const still = await fetch(`${out.url}/predict_function`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(SEED_PAYLOAD) })
    expect(still.status).toBe(200)
    expect(await still.json()).toEqual([p])
    const history = JSON.parse(await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')).deployments
    expect(history.map((d: { status: string }) => d.status)).toEqual(['ready', 'failed'])
    const after = await mlx(['status', dir, '--json'])
    expect(JSON.parse(after.stdout).deployments[0]).toMatchObject({ status: 'ready', version: '1.0.0' })
    await rm(dir, { recursive: true, force: true }).catch(() => {})
  }, 180_000) // two deploys, each a bundle build and a smoke start

  it('rolls back to the previous ready release, or to the one named by --to, and records it', async () => {
    const port = await freePort()
    const dir = await copyExample('titanic', (y) => y.replace('    port: 8080', `    port: ${port}`))
    const deploy = async () => {
      const r = await mlx(['deploy', dir, '--json'])
      expect(r.code, r.stderr).toBe(0)
      pids.push(JSON.parse(r.stdout).deployment.details.pid)
    }
    await deploy()
    await writeFile(path.join(dir, 'mlx.yaml'), (await readFile(path.join(dir, 'mlx.yaml'), 'utf8')).replace(/^version: .*$/m, 'version: 1.1.0'))
    await deploy()
    const live = async () => ((await (await fetch(`http://127.0.0.1:${port}/openapi.json`)).json()) as { info: { version: string } }).info.version

    const bad = await mlx(['rollback', dir, '--to', '9.9.9'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("no ready local release matches '9.9.9'")

    const back = await mlx(['rollback', dir, '--json'])
    expect(back.code, back.stderr).toBe(0)
    const out = JSON.parse(back.stdout)
    pids.push(out.deployment.details.pid)
    expect(out).toMatchObject({ target: 'local', version: '1.0.0' })
    expect(await live()).toBe('1.0.0')

    const forward = await mlx(['rollback', dir, '--to', '1.1.0', '--json'])
    expect(forward.code, forward.stderr).toBe(0)
    pids.push(JSON.parse(forward.stdout).deployment.details.pid)
    expect(await live()).toBe('1.1.0')
    const history = JSON.parse(await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')).deployments
    expect(history.map((d: { version: string; details?: { rollback?: boolean } }) => `${d.version}${d.details?.rollback ? ' (rollback)' : ''}`)).toEqual(['1.0.0', '1.1.0', '1.0.0 (rollback)', '1.1.0 (rollback)'])
    await rm(dir, { recursive: true, force: true }).catch(() => {})
  }, 240_000) // three deploys and two rollbacks, each a bundle build and a smoke start: a minute alone, more on a loaded 2-core machine
})
