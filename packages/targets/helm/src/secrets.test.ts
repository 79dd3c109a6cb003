import { DEFAULT_AUTH, isMlxError, Redactor, type AuthSpec, type Project } from '@mlx/core'
import { describe, expect, it } from 'vitest'
import { configFor, envFor } from './config.js'
import { renderManifests } from './render.js'
import { checkAuth, checkSecretNames, secretKeyRef } from './secrets.js'
import { helmTarget } from './target.js'
import { chartValues, mergeValues, valuesOverlay, type Values } from './values.js'

/** Just what configFor, envFor and the checks read of a project. */
function project(decl: Record<string, unknown>, auth?: AuthSpec): Project {
  const environments = Object.keys((decl.environments as object | undefined) ?? {})
  return { name: 'm', version: '1.0.0', manifestFile: '/p/mlx.yaml', decl, environments, server: { auth } } as unknown as Project
}
const helm = (settings: Record<string, unknown>, rest: Record<string, unknown> = {}) => ({ targets: { helm: settings }, ...rest })

const valuesFor = (p: Project, env?: string): Values =>
  chartValues({ cfg: configFor(helmTarget, p, env), image: { repository: 'r', tag: 't' }, env: envFor(p, env), containerPort: 8080, user: '10001:10001' })
const containerEnv = (values: Values) => {
  const dep = renderManifests(values, { name: 'm', version: '1.0.0', appVersion: '1.0.0' }, { name: 'rel', namespace: 'ns' }).find((o) => o.kind === 'Deployment')!
  return (dep.spec as { template: { spec: { containers: { env: unknown[] }[] } } }).template.spec.containers[0]!.env
}
const error = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    if (isMlxError(err)) return err
    throw err
  }
  throw new Error('expected an MlxError')
}

describe('targets.helm.secrets', () => {
  it('takes SECRET, SECRET:KEY and {secret, key}; the key defaults to the variable name', () => {
    expect(secretKeyRef('MLX_API_KEY', 'mlx-api-key')).toEqual({ name: 'mlx-api-key', key: 'MLX_API_KEY' })
    expect(secretKeyRef('DB_URL', 'db.prod:url')).toEqual({ name: 'db.prod', key: 'url' })
    expect(secretKeyRef('X', { secret: 's' })).toEqual({ name: 's', key: 'X' })
    expect(secretKeyRef('X', { secret: 's', key: 'k.1' })).toEqual({ name: 's', key: 'k.1' })
  })

  it('become secretEnv values (references only) and valueFrom.secretKeyRef in the Deployment, after the plain variables', () => {
    const p = project(helm({ secrets: { MLX_API_KEY: 'mlx-api-key', A_TOKEN: { secret: 'tokens', key: 'a' } } }, { env: { LOG_LEVEL: 'info' } }))
    const values = valuesFor(p)
    expect(values.secretEnv).toEqual({ MLX_API_KEY: { name: 'mlx-api-key', key: 'MLX_API_KEY' }, A_TOKEN: { name: 'tokens', key: 'a' } })
    expect(values.env).toEqual({ LOG_LEVEL: 'info' })
    expect(containerEnv(values)).toEqual([
      { name: 'PORT', value: '8080' },
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'A_TOKEN', valueFrom: { secretKeyRef: { name: 'tokens', key: 'a' } } },
      { name: 'MLX_API_KEY', valueFrom: { secretKeyRef: { name: 'mlx-api-key', key: 'MLX_API_KEY' } } },
    ])
    expect(containerEnv(valuesFor(project(helm({}))))).toEqual([{ name: 'PORT', value: '8080' }])
  })

  it('an environment overlay adds or changes references; its values file holds only the difference', () => {
    const p = project(helm({ secrets: { MLX_API_KEY: 'mlx-api-key' } }, { environments: { prod: { targets: { helm: { secrets: { MLX_API_KEY: 'prod-key:api', DB_URL: 'db' } } } } } }))
    const base = valuesFor(p)
    const prod = valuesFor(p, 'prod')
    expect(prod.secretEnv).toEqual({ MLX_API_KEY: { name: 'prod-key', key: 'api' }, DB_URL: { name: 'db', key: 'DB_URL' } })
    const overlay = valuesOverlay(base, prod) as Values
    expect(overlay.secretEnv).toEqual({ MLX_API_KEY: { name: 'prod-key', key: 'api' }, DB_URL: { name: 'db', key: 'DB_URL' } })
    expect(mergeValues(base, overlay).secretEnv).toEqual(prod.secretEnv)
  })

  it.each([
    ['a variable name that is not one', { '1BAD': 's' }, /targets\.helm\.secrets: property name must be valid/],
    ['a Secret name that is not a DNS-1123 subdomain', { X: 'My_Secret' }, /targets\.helm\.secrets\.X: must match pattern/],
    ['a key with a slash', { X: 's:a/b' }, /targets\.helm\.secrets\.X: must match pattern/],
    ['a key with a slash, object form', { X: { secret: 's', key: 'a/b' } }, /targets\.helm\.secrets\.X\.key: must match pattern/],
    ['the object form without secret', { X: { key: 'k' } }, /targets\.helm\.secrets\.X: missing required key 'secret'/],
    ['a value instead of a reference', { X: { value: 'hunter2' } }, /targets\.helm\.secrets\.X\.value: unknown key/],
  ])('refuses %s', (_, secrets, message) => {
    const err = error(() => configFor(helmTarget, project(helm({ secrets })), undefined))
    expect(err.code).toBe('TARGET_CONFIG_INVALID')
    expect(err.message).toMatch(message)
  })

  it('refuses a Secret name longer than 253 characters', () => {
    const err = error(() => secretKeyRef('X', `${'a'.repeat(250)}.bcd`))
    expect(err.code).toBe('TARGET_CONFIG_INVALID')
    expect(err.message).toMatch(/targets\.helm\.secrets\.X: the Secret name is 254 characters/)
  })

  it('a variable is a value or a secret reference, not both: env:, the environment\'s env:, values.env and PORT clash', () => {
    const clash = (decl: Record<string, unknown>, env?: string) => error(() => checkSecretNames(project(decl), env, configFor(helmTarget, project(decl), env)))
    const top = clash(helm({ secrets: { DB_URL: 'db' } }, { env: { DB_URL: 'postgres://x' } }))
    expect(top.code).toBe('TARGET_CONFIG_INVALID')
    expect(top.message).toMatch(/DB_URL is both a plain value \(env:\) and a secret reference \(targets\.helm\.secrets\.DB_URL\)/)
    expect(top.hint).toMatch(/remove DB_URL from env:/)

    const decl = helm({ secrets: { DB_URL: 'db' } }, { environments: { dev: { env: { DB_URL: 'x' } }, prod: {} } })
    expect(() => checkSecretNames(project(decl), undefined, configFor(helmTarget, project(decl), undefined))).not.toThrow()
    expect(() => checkSecretNames(project(decl), 'prod', configFor(helmTarget, project(decl), 'prod'))).not.toThrow()
    expect(clash(decl, 'dev').message).toMatch(/DB_URL is both a plain value \(environments\.dev\.env\) .* in environment dev/)

    const inOverlay = helm({}, { env: { DB_URL: 'x' }, environments: { prod: { targets: { helm: { secrets: { DB_URL: 'db' } } } } } })
    expect(clash(inOverlay, 'prod').message).toMatch(/secret reference \(targets\.helm\.secrets \(with environments\.prod\)\.DB_URL\)/)

    expect(clash(helm({ secrets: { DB_URL: 'db' }, values: { env: { DB_URL: 'x' } } })).message).toMatch(/\(targets\.helm\.values\.env\)/)
    expect(clash(helm({ secrets: { PORT: 'p' } })).hint).toMatch(/PORT cannot come from a Secret/)
  })
})

describe('server.auth with the helm target', () => {
  const withKey = helm({ secrets: { MLX_API_KEY: 'mlx-api-key' }, namespace: 'names' })

  it('off: nothing to deliver', () => {
    const p = project(helm({}))
    expect(() => checkAuth(p, configFor(helmTarget, p, undefined), valuesFor(p))).not.toThrow()
  })

  it('on: the key must come from targets.helm.secrets, and the hint says how to create the Secret', () => {
    const p = project(helm({ namespace: 'names', secrets: { OTHER: 'o' } }), DEFAULT_AUTH)
    const err = error(() => checkAuth(p, configFor(helmTarget, p, undefined), valuesFor(p)))
    expect(err.code).toBe('TARGET_CONFIG_INVALID')
    expect(err.message).toMatch(/server\.auth is on, and targets\.helm does not deliver MLX_API_KEY from a secret/)
    expect(err.hint).toContain('targets.helm.secrets: { MLX_API_KEY: { secret: mlx-api-key } }')
    expect(err.hint).toContain('openssl rand -hex 32 > MLX_API_KEY && kubectl create secret generic mlx-api-key -n names --from-file MLX_API_KEY && rm MLX_API_KEY')
    // the CLI's redactor would mask a NAME=value pair, so the hint must not have one
    expect(new Redactor().redact(err.hint!)).toBe(err.hint)

    const ok = project(withKey, DEFAULT_AUTH)
    expect(() => checkAuth(ok, configFor(helmTarget, ok, undefined), valuesFor(ok))).not.toThrow()
    // server.auth.env names the variable
    const custom = project(withKey, { env: 'API_KEYS', public: ['health'] })
    expect(error(() => checkAuth(custom, configFor(helmTarget, custom, undefined), valuesFor(custom))).message).toMatch(/does not deliver API_KEYS/)
  })

  it("public: [] is refused while the chart's httpGet probes need /healthz and /readyz without a key", () => {
    const p = project(withKey, { env: 'MLX_API_KEY', public: [] })
    const err = error(() => checkAuth(p, configFor(helmTarget, p, undefined), valuesFor(p)))
    expect(err.code).toBe('TARGET_CONFIG_INVALID')
    expect(err.message).toMatch(/server\.auth\.public leaves out 'health'/)
    expect(err.message).toMatch(/httpGet probes .* send no API key/)
    expect(err.hint).toMatch(/keep 'health' in server\.auth\.public/)

    const metricsOnly = project(withKey, { env: 'MLX_API_KEY', public: ['metrics'] })
    expect(() => checkAuth(metricsOnly, configFor(helmTarget, metricsOnly, undefined), valuesFor(metricsOnly))).toThrow(/leaves out 'health'/)
    const health = project(withKey, { env: 'MLX_API_KEY', public: ['health'] })
    expect(() => checkAuth(health, configFor(helmTarget, health, undefined), valuesFor(health))).not.toThrow()

    // Probes that are not httpGet (values: replaces them, null deletes helm's keys) send nothing to a route.
    const tcp = { httpGet: null, tcpSocket: { port: 'http' } }
    const own = project(helm({ secrets: { MLX_API_KEY: 'k' }, values: { startupProbe: tcp, livenessProbe: tcp, readinessProbe: tcp } }), { env: 'MLX_API_KEY', public: [] })
    expect(() => checkAuth(own, configFor(helmTarget, own, undefined), mergeValues(valuesFor(own)))).not.toThrow()
  })
})
