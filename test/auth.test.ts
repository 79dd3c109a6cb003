// server.auth through the CLI: validate needs no key on this machine and warns about secrets
// written into the manifest; serve refuses to start without a key; the local target keeps one in
// .mlx/local/api-key (0600) or takes the shell's, and never prints it.
import { stat, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { copyExample, freePort, mlx, SEED_PAYLOAD } from './support/cli.js'

const withAuth = (extra = '') => (y: string) => `${y}\nserver:\n  auth: true\n${extra}`
const dirs: string[] = []
const pids: number[] = []
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

describe('server.auth in mlx validate and mlx serve', () => {
  it('validate builds the guarded server without a key on this machine', async () => {
    const dir = await copyExample('titanic', withAuth())
    dirs.push(dir)
    const r = await mlx(['validate', dir], { env: { MLX_API_KEY: '' } })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('is valid')
  })

  it('validate warns about secret-looking literals in env: and a target env, naming where and what to do, without the value', async () => {
    const dir = await copyExample('titanic', (y) => `${y.replace('    port: 8080', '    port: 8080\n  fly:\n    app: t\n    env:\n      UPSTREAM_TOKEN: tok-canary-5150')}\nenv:\n  DB_PASSWORD: pw-canary-4242\n  LOG_LEVEL: info\n`)
    dirs.push(dir)
    const r = await mlx(['validate', dir, '--skip-models'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/env\.DB_PASSWORD looks like a secret/)
    expect(r.stderr).toMatch(/targets\.fly\.env\.UPSTREAM_TOKEN looks like a secret/)
    expect(r.stderr).not.toMatch(/LOG_LEVEL/)
    expect(r.stderr).toMatch(/secret store/)
    expect(r.stderr + r.stdout).not.toMatch(/canary/)
  })

  it("validate refuses server.auth's key written in env: (it would be in every image)", async () => {
    const dir = await copyExample('titanic', withAuth('env:\n  MLX_API_KEY: baked-canary-0123456789abcdef\n'))
    dirs.push(dir)
    const r = await mlx(['validate', dir, '--skip-models'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/mlx\.yaml:\d+:\d+: env\.MLX_API_KEY/)
    expect(r.stderr).not.toContain('baked-canary')
  })

  it('serve refuses to start when the key is not set, naming the variable and how to make one', async () => {
    const dir = await copyExample('titanic', withAuth())
    dirs.push(dir)
    const r = await mlx(['serve', dir, '--port', String(await freePort())], { env: { MLX_API_KEY: '' }, timeoutMs: 60_000 })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('error[CREDENTIALS_MISSING]')
    expect(r.stderr).toMatch(/MLX_API_KEY is empty|MLX_API_KEY is not set/)
    expect(r.stderr).toContain('openssl rand')
  })
})

describe('server.auth on the local target', () => {
  it('keeps a generated key in .mlx/local/api-key (0600) and reuses it, or takes the shell\'s; prints neither', async () => {
    const port = await freePort()
    const dir = await copyExample('titanic', (y) => withAuth()(y.replace('    port: 8080', `    port: ${port}`)))
    dirs.push(dir)
    const predict = (headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${port}/predict_function`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(SEED_PAYLOAD) })

    const first = await mlx(['deploy', dir, '--json'], { env: { MLX_API_KEY: '' } })
    expect(first.code, first.stderr).toBe(0)
    const out = JSON.parse(first.stdout)
    pids.push(out.deployment.details.pid)
    const file = path.join(dir, '.mlx/local/api-key')
    expect(out.deployment.details.apiKeyFile).toBe(file)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const key = (await readFile(file, 'utf8')).trim()
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    expect(first.stdout + first.stderr).not.toContain(key)
    expect(await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')).not.toContain(key)

    const none = await predict()
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect((await predict({ authorization: `Bearer ${key}` })).status).toBe(200)
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)

    // The shell's key wins over the kept one, and is not printed either.
    const own = 'own-key-of-the-shell-0123456789abcdef'
    const second = await mlx(['deploy', dir, '--json', '--verbose'], { env: { MLX_API_KEY: own } })
    expect(second.code, second.stderr).toBe(0)
    pids.push(JSON.parse(second.stdout).deployment.details.pid)
    expect(second.stdout + second.stderr).not.toContain(own)
    expect((await predict({ authorization: `Bearer ${own}` })).status).toBe(200)
    expect((await predict({ authorization: `Bearer ${key}` })).status).toBe(401)
    expect((await readFile(file, 'utf8')).trim()).toBe(key)
  }, 180_000) // two deploys, each a bundle build and a smoke start
})
