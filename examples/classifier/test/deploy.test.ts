// `mlx deploy` to the local target with the real CLI, on a copy of the example and a free port:
// both routes answer from the deployed bundle, then the process stops on SIGTERM.
import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { copyExample, freePort, mlx } from '../../../test/support/cli.js'
import { call } from './start.js'

const sample = JSON.parse(readFileSync(fileURLToPath(new URL('../data/sample_request.json', import.meta.url)), 'utf8'))

const pids: number[] = []
const dirs: string[] = []
afterAll(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {})
})

const gone = async (pid: number) => {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

describe('mlx deploy examples/classifier (local target)', () => {
  it('serves /health and /predict from the deployed bundle and stops on SIGTERM', async () => {
    const port = await freePort()
    const dir = await copyExample('classifier', (y) => y.replace(/^( {4}port:) 8081$/m, `$1 ${port}`))
    dirs.push(dir)
    const r = await mlx(['deploy', dir, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    const pid = out.deployment.details.pid as number
    pids.push(pid)
    expect(out).toMatchObject({ target: 'local', version: '1.0.0', url: `http://127.0.0.1:${port}` })

    const health = await call(`${out.url}/health`)
    expect(health).toEqual({ status: 200, body: { name: 'Titanic Classification API', api_version: '1.0.0', model_version: '1.0.0' } })
    const predict = await call(`${out.url}/predict`, { body: sample })
    expect(predict).toEqual({ status: 200, body: { errors: null, version: '1.0.0', predictions: [1, 0, 0] } })
    const bad = await call(`${out.url}/predict`, { body: { inputs: [{ age: 'old' }] } })
    expect(bad.status).toBe(422)
    expect(bad.body.detail[0]).toMatchObject({ loc: ['body', 'inputs', 0, 'age'] })

    process.kill(pid, 'SIGTERM')
    expect(await gone(pid)).toBe(true)
  })
})
