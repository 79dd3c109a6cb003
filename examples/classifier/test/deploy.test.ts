// `mlx deploy` to the local target with the real CLI, on a copy of the example and a free port:
// both routes answer from the deployed bundle, then the process stops on SIGTERM.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { exited, localDeploys } from '../../../test/support/cli.js'
import { call } from '../../../test/support/serve-example.js'

const sample = JSON.parse(readFileSync(fileURLToPath(new URL('../data/sample_request.json', import.meta.url)), 'utf8'))

const deploys = localDeploys()
afterAll(() => deploys.cleanup())

describe('mlx deploy examples/classifier (local target)', () => {
  it('serves /health and /predict from the deployed bundle and stops on SIGTERM', async () => {
    const { out, port, pid } = await deploys.deploy('classifier', 8081)
    expect(out).toMatchObject({ target: 'local', version: '1.0.0', url: `http://127.0.0.1:${port}` })

    const health = await call(`${out.url}/health`)
    expect(health).toEqual({ status: 200, body: { name: 'Titanic Classification API', api_version: '1.0.0', model_version: '1.0.0' } })
    const predict = await call(`${out.url}/predict`, { body: sample })
    expect(predict).toEqual({ status: 200, body: { errors: null, version: '1.0.0', predictions: [1, 0, 0] } })
    const bad = await call(`${out.url}/predict`, { body: { inputs: [{ age: 'old' }] } })
    expect(bad.status).toBe(422)
    expect(bad.body.detail[0]).toMatchObject({ loc: ['body', 'inputs', 0, 'age'] })

    process.kill(pid, 'SIGTERM')
    expect(await exited(pid)).toBe(true)
  })
})
