import { DEFAULT_AUTH, isMlxError, Redactor, type AuthSpec, type Project } from '@mlx/core'
import { describe, expect, it } from 'vitest'
import { checkApiKey } from './api-key.js'
import { settings, type RailwayConfig } from './config.js'

const project = (auth?: AuthSpec) => ({ name: 'm', manifestFile: '/p/mlx.yaml', server: { auth } }) as unknown as Project
const credentials = { get: () => undefined, setting: () => undefined }
const settingsOf = (config: Partial<RailwayConfig>, auth?: AuthSpec) =>
  settings({ config: { healthcheckPath: '/readyz', ...config } as RailwayConfig, credentials, project: project(auth) } as never)
const error = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    if (isMlxError(err)) return err
    throw err
  }
  throw new Error('expected an MlxError')
}

describe('server.auth with the railway target', () => {
  it('off: nothing to deliver', () => {
    expect(() => checkApiKey(project(), settingsOf({ secrets: [] }))).not.toThrow()
  })

  it('on: the key must be a Railway variable sent by reference (a name in the list, or NAME: ${{ ref }})', () => {
    const err = error(() => checkApiKey(project(DEFAULT_AUTH), settingsOf({ secrets: ['HF_TOKEN'] })))
    expect(err.code).toBe('TARGET_CONFIG_INVALID')
    expect(err.message).toMatch(/server\.auth is on, and targets\.railway does not deliver MLX_API_KEY from a secret/)
    expect(err.hint).toContain('targets.railway.secrets: [MLX_API_KEY]')
    expect(err.hint).toContain('${{ shared.MLX_API_KEY }}')
    expect(new Redactor().redact(err.hint!)).toBe(err.hint)
    expect(() => checkApiKey(project(DEFAULT_AUTH), settingsOf({ secrets: ['MLX_API_KEY'] }))).not.toThrow()
    expect(() => checkApiKey(project(DEFAULT_AUTH), settingsOf({ secrets: { MLX_API_KEY: '${{ shared.API }}' } }))).not.toThrow()
  })

  it("refuses public without 'health' while Railway's healthcheck probes /readyz or /healthz", () => {
    const locked = { env: 'MLX_API_KEY', public: [] } as AuthSpec
    const err = error(() => checkApiKey(project(locked), settingsOf({ secrets: ['MLX_API_KEY'] })))
    expect(err.message).toMatch(/server\.auth\.public leaves out 'health', but Railway's healthcheck \(targets\.railway\.healthcheckPath: \/readyz\)/)
    expect(() => checkApiKey(project(locked), settingsOf({ secrets: ['MLX_API_KEY'], healthcheckPath: '/healthz/' }))).toThrow(/leaves out 'health'/)
    // a healthcheck on a route of its own is the user's choice
    expect(() => checkApiKey(project(locked), settingsOf({ secrets: ['MLX_API_KEY'], healthcheckPath: '/ping' }))).not.toThrow()
  })
})
