// `mlx deploy` to the local target with the real CLI, on a copy of the example and a free port:
// both routes answer from the deployed bundle, then the process stops on SIGTERM.
import { afterAll, describe, expect, it } from 'vitest'
import { exited, localDeploys } from '../../../test/support/cli.js'
import { call } from '../../../test/support/serve-example.js'

const deploys = localDeploys()
afterAll(() => deploys.cleanup())

describe('mlx deploy examples/taxifare (local target)', () => {
  it('serves / and /predict from the deployed bundle and stops on SIGTERM', async () => {
    const { out, port, pid } = await deploys.deploy('taxifare', 8082)
    expect(out).toMatchObject({ target: 'local', version: '1.0.0', url: `http://127.0.0.1:${port}` })

    expect(await call(`${out.url}/`)).toEqual({ status: 200, body: { greeting: 'Hello world' } })
    const url = `${out.url}/predict?pickup_datetime=2013-07-06+17%3A18%3A00+UTC&lon1=-73.950655&lat1=40.783282&lon2=-73.984365&lat2=40.769802&passcount=1`
    expect(await call(url)).toEqual({ status: 200, body: { fare: 11.99 } })
    const bad = await call(url.replace('2013-07-06+17%3A18%3A00+UTC', 'not-a-date'))
    expect(bad.status).toBe(422)
    expect(bad.body.detail[0]).toMatchObject({ type: 'datetime_from_date_parsing', loc: ['query', 'pickup_datetime'] })

    process.kill(pid, 'SIGTERM')
    expect(await exited(pid)).toBe(true)
  })
})
