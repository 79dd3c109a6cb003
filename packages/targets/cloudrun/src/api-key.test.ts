import { DEFAULT_AUTH, isMlxError, Redactor, type AuthSpec, type Project } from '@mlx/core'
import { describe, expect, it } from 'vitest'
import { checkApiKey } from './api-key.js'
import type { CloudRunConfig } from './config.js'

const project = (auth?: AuthSpec) => ({ name: 'm', manifestFile: '/p/mlx.yaml', server: { auth } }) as unknown as Project
const cfg = (secrets: CloudRunConfig['secrets']) => ({ secrets }) as CloudRunConfig
const error = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    if (isMlxError(err)) return err
    throw err
  }
  throw new Error('expected an MlxError')
}

describe('server.auth with the cloudrun target', () => {
  it('off: no secret needed', () => {
    expect(() => checkApiKey(project(), cfg({}))).not.toThrow()
  })

  it('on: the key must be a Secret Manager reference; the hint gives the setting and the gcloud line, and survives redaction', () => {
    const err = error(() => checkApiKey(project(DEFAULT_AUTH), cfg({ OTHER: 'o' })))
    expect(err.code).toBe('TARGET_CONFIG_INVALID')
    expect(err.message).toMatch(/server\.auth is on, and targets\.cloudrun does not deliver MLX_API_KEY from a secret/)
    expect(err.hint).toContain('targets.cloudrun.secrets: { MLX_API_KEY: { secret: mlx-api-key } }')
    expect(err.hint).toContain('openssl rand -hex 32 | gcloud secrets create mlx-api-key --data-file -')
    expect(err.hint).toContain('roles/secretmanager.secretAccessor')
    expect(new Redactor().redact(err.hint!)).toBe(err.hint)
    expect(() => checkApiKey(project(DEFAULT_AUTH), cfg({ MLX_API_KEY: 'mlx-api-key:3' }))).not.toThrow()
    expect(() => checkApiKey(project({ env: 'KEYS', public: ['health'] }), cfg({ MLX_API_KEY: 'k' }))).toThrow(/does not deliver KEYS/)
  })

  it("refuses public without 'health': the startup and liveness probes send no key", () => {
    const err = error(() => checkApiKey(project({ env: 'MLX_API_KEY', public: ['docs'] }), cfg({ MLX_API_KEY: 'k' })))
    expect(err.code).toBe('TARGET_CONFIG_INVALID')
    expect(err.message).toMatch(/server\.auth\.public leaves out 'health', but the revision's startup probe \(\/readyz\) and liveness probe \(\/healthz\)/)
    expect(err.hint).toMatch(/keep 'health' in server\.auth\.public/)
  })
})
