// The fly target end to end with the real CLI: the taxifare example is packaged, its image pushed
// for real to the shared docker-registry behind registry.fly.io's login (user x, the token as the
// password: support/fly/registry-login.ts), and the Machines API is a local server
// (support/fly/fake-machines.ts) that speaks the documented paths, checks the token header, the
// bodies and the wait parameters, and looks every image up in that registry by digest.
import { readFile, readdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { copyExample, mlx, type Run } from './support/cli.js'
import { FakeFly } from './support/fly/fake-machines.js'
import { startRegistryLogin, type RegistryLogin } from './support/fly/registry-login.js'

/** A deploy token as `fly tokens create deploy` prints it: a macaroon with its FlyV1 scheme. */
const TOKEN = 'fm2_lJPECAAAAAAAAMkxxQ-mlx-fly-test-deploy-token'
const PRINTED = `FlyV1 ${TOKEN}`

const json = <T>(r: Run): T => {
  if (r.code !== 0) throw new Error(`mlx exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

interface FlyRecord {
  status: string
  version: string
  url: string
  digest: string
  details: { app: string; image: string; region: string; machines: { id: string; instance_id: string }[]; error?: string; rollback?: boolean }
}

const SERVICES = [
  {
    protocol: 'tcp',
    internal_port: 8080,
    ports: [
      { port: 443, handlers: ['tls', 'http'] },
      { port: 80, handlers: ['http'], force_https: true },
    ],
    checks: [{ type: 'http', port: 8080, method: 'GET', path: '/readyz', interval: '10s', timeout: '5s', grace_period: '10s' }],
  },
]

describe('fly target: registry.fly.io push + Machines API, against a local Fly', () => {
  let fake: FakeFly
  let login: RegistryLogin
  let registry: string
  let dir: string
  const outputs: string[] = []
  /** The CLI as a user runs it, with FLY_API_TOKEN set to `token` ('' for none). */
  const run = async (args: string[], token = PRINTED) => {
    const r = await mlx([...args, ...(args[0] === 'deploy' ? ['--base', inject('baseImage')] : [])], { env: { FLY_API_TOKEN: token } })
    outputs.push(r.stdout, r.stderr)
    return r
  }
  const history = async () => (JSON.parse(await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')) as { deployments: FlyRecord[] }).deployments
  const machines = () => [...fake.apps.get('taxifare')!.machines.values()]
  const manifest = (repo: string, ref: string) => fetch(`http://${registry}/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } }).then((r) => r.status)
  const editYaml = async (edit: (y: string) => string) => writeFile(path.join(dir, 'mlx.yaml'), edit(await readFile(path.join(dir, 'mlx.yaml'), 'utf8')))

  beforeAll(async () => {
    if (inject('registryMissing')) throw new Error(inject('registryMissing'))
    registry = inject('registry')
    login = await startRegistryLogin(registry, TOKEN)
    fake = new FakeFly({ token: TOKEN, orgs: ['personal'], registry, registryHost: login.host })
    const api = await fake.start()
    // No app name: the project's ('taxifare') is the app's. Two Machines, so updates roll one by one.
    dir = await copyExample('taxifare', (y) => [y.trimEnd(), '  fly:', `    apiUrl: ${api}`, `    registry: ${login.host}`, '    machines: 2', '    env: { LOG_FORMAT: json }', '    retryBaseMs: 5', ''].join('\n'))
  }, 60_000)

  afterAll(async () => {
    await fake?.stop()
    await login?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('deploy --dry-run --app: machine.json holds the whole Machine config (image by digest on <registry>/<app>), the plan names the app; Fly is not called', async () => {
    const r = await run(['deploy', dir, '--target', 'fly', '--dry-run', '--app', 'taxi-demo'], '')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('app: GET /v1/apps/taxi-demo; created in org personal if missing')
    expect(r.stdout).toMatch(new RegExp(`push: ${login.host}/taxi-demo@sha256:[a-f0-9]{64} \\(login x / FLY_API_TOKEN\\)`))
    expect(r.stdout).toContain('2 × shared 1 CPU 512 MB in ams, updated in place (missing ones created), one at a time, each started with GET /readyz passing on :8080 within 300s')
    expect(r.stdout).toContain('serve: https://taxi-demo.fly.dev')
    const m = JSON.parse(await readFile(path.join(dir, '.mlx/fly/machine.json'), 'utf8'))
    expect(m).toEqual({
      region: 'ams',
      config: {
        image: expect.stringMatching(new RegExp(`^${login.host}/taxi-demo@sha256:[a-f0-9]{64}$`)),
        guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 512 },
        env: { LOG_FORMAT: 'json' },
        metadata: { fly_platform_version: 'v2', fly_process_group: 'app', mlx_project: 'taxifare' },
        services: SERVICES,
      },
    })
    expect(fake.calls).toEqual([])
  }, 120_000)

  it('without FLY_API_TOKEN: fails naming the variable and `fly tokens create deploy`, before anything is pushed or created', async () => {
    const r = await run(['deploy', dir, '--target', 'fly'], '')
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('error[CREDENTIALS_MISSING]: no credentials: set FLY_API_TOKEN in the environment.')
    expect(r.stderr).toContain('fly tokens create deploy -a taxifare')
    expect(fake.calls).toEqual([])
    expect(login.seen).toEqual([])
    expect(await manifest('taxifare', '1.0.0')).toBe(404)
    expect((await history()).at(-1)).toMatchObject({ target: 'fly', status: 'failed' })
  }, 120_000)

  it('a token Fly refuses (401): CREDENTIALS_MISSING naming the call and how to get a token; nothing created, nothing pushed, the token never printed', async () => {
    const refused = 'fm2_revoked-deploy-token'
    const r = await run(['deploy', dir, '--target', 'fly'], `FlyV1 ${refused}`)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('error[CREDENTIALS_MISSING]: Fly GET /v1/apps/taxifare: HTTP 401: unauthorized')
    expect(r.stderr).toMatch(/hint: Fly refused FLY_API_TOKEN for app 'taxifare'.*fly tokens create deploy -a taxifare/)
    expect(fake.calls.map((c) => [c.method, c.path, c.authorization])).toEqual([['GET', '/v1/apps/taxifare', `FlyV1 ${refused}`]])
    expect(fake.apps.size).toBe(0)
    expect(login.seen).toEqual([])
    expect(r.stdout + r.stderr).not.toContain(refused)
  }, 120_000)

  let first: FlyRecord
  it('deploy: creates the app, pushes with x/token, allocates IPs, creates the Machines on the image by digest, waits for each, prints the fly.dev URL', async () => {
    const from = fake.calls.length
    const r = await run(['deploy', dir, '--target', 'fly'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('✔ taxifare 1.0.0 is live on fly: https://taxifare.fly.dev')
    expect(r.stdout).toContain("curl 'https://taxifare.fly.dev/predict?pickup_datetime=")
    expect(fake.rejected).toEqual([])
    const [a, b] = machines()
    expect(fake.seq(from)).toEqual([
      'GET /v1/apps/taxifare',
      'POST /v1/apps',
      'GET /v1/apps/taxifare/ip_assignments',
      'POST /v1/apps/taxifare/ip_assignments',
      'POST /v1/apps/taxifare/ip_assignments',
      'GET /v1/apps/taxifare/machines',
      'POST /v1/apps/taxifare/machines',
      `GET /v1/apps/taxifare/machines/${a!.id}/wait`,
      `GET /v1/apps/taxifare/machines/${a!.id}`,
      'POST /v1/apps/taxifare/machines',
      `GET /v1/apps/taxifare/machines/${b!.id}/wait`,
      `GET /v1/apps/taxifare/machines/${b!.id}`,
    ])
    const calls = fake.calls.slice(from)
    expect(calls.every((c) => c.authorization === PRINTED)).toBe(true)
    expect(calls[1]!.body).toEqual({ app_name: 'taxifare', org_slug: 'personal' })
    expect(calls.filter((c) => c.path.endsWith('/ip_assignments') && c.method === 'POST').map((c) => c.body)).toEqual([
      { type: 'v6', org_slug: 'personal' },
      { type: 'shared_v4', org_slug: 'personal' },
    ])
    const created = calls.filter((c) => c.method === 'POST' && c.path.endsWith('/machines'))
    for (const c of created) {
      expect(c.body).toEqual({
        region: 'ams',
        config: {
          image: expect.stringMatching(new RegExp(`^${login.host}/taxifare@sha256:[a-f0-9]{64}$`)),
          guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 512 },
          env: { LOG_FORMAT: 'json' },
          metadata: { fly_platform_version: 'v2', fly_process_group: 'app', mlx_project: 'taxifare' },
            services: SERVICES,
        },
      })
    }
    // A new Machine has no earlier instance: wait for it started, up to Fly's 60 s per call.
    for (const w of calls.filter((c) => c.path.endsWith('/wait'))) expect(w.query).toEqual({ state: 'started', timeout: '60' })

    // Pushed to registry.fly.io/<app> with user x and the bare token as the password.
    expect(login.seen.length).toBeGreaterThan(0)
    expect(new Set(login.seen.filter((s) => s !== 'none'))).toEqual(new Set(['x:ok']))
    expect(await manifest('taxifare', '1.0.0')).toBe(200)

    first = (await history()).at(-1)!
    expect(first).toMatchObject({ target: 'fly', status: 'ready', version: '1.0.0', url: 'https://taxifare.fly.dev', details: { app: 'taxifare', region: 'ams' } })
    expect(first.details.image).toBe(`${login.host}/taxifare@${first.digest}`)
    expect(first.details.image).toBe(created[0]!.body.config.image)
    expect(first.details.machines.map((m) => m.id)).toEqual([a!.id, b!.id])
    expect(machines().map((m) => m.state)).toEqual(['started', 'started'])
  }, 120_000)

  let second: FlyRecord
  it('redeploy of a new version updates the same Machines in place (whole config, current_version), waits on the new instance_id; no app or IP calls', async () => {
    await editYaml((y) => y.replace(/^version: 1\.0\.0$/m, 'version: 1.1.0'))
    const before = machines().map((m) => ({ id: m.id, instance: m.instance_id }))
    const from = fake.calls.length
    const r = await run(['deploy', dir, '--target', 'fly'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('✔ taxifare 1.1.0 is live on fly: https://taxifare.fly.dev')
    const out = (await history()).at(-1)!
    expect(out).toMatchObject({ status: 'ready', url: 'https://taxifare.fly.dev', version: '1.1.0' })
    expect(fake.rejected).toEqual([])
    const [a, b] = before
    expect(fake.seq(from)).toEqual([
      'GET /v1/apps/taxifare',
      'GET /v1/apps/taxifare/ip_assignments',
      'GET /v1/apps/taxifare/machines',
      `POST /v1/apps/taxifare/machines/${a!.id}`,
      `GET /v1/apps/taxifare/machines/${a!.id}/wait`,
      `GET /v1/apps/taxifare/machines/${a!.id}`,
      `POST /v1/apps/taxifare/machines/${b!.id}`,
      `GET /v1/apps/taxifare/machines/${b!.id}/wait`,
      `GET /v1/apps/taxifare/machines/${b!.id}`,
    ])
    expect(machines().map((m) => m.id)).toEqual([a!.id, b!.id]) // not recreated
    const calls = fake.calls.slice(from)
    const updates = calls.filter((c) => c.method === 'POST')
    expect(updates.map((c) => c.body.current_version)).toEqual([a!.instance, b!.instance])
    for (const u of updates) {
      expect(Object.keys(u.body).sort()).toEqual(['config', 'current_version']) // region and name are immutable
      expect(u.body.config.image).toBe(`${login.host}/taxifare@${out.digest}`)
      expect(u.body.config.services).toEqual(SERVICES)
    }
    expect(out.digest).not.toBe(first.digest)
    // After an update, wait is asked about the new instance.
    const waits = calls.filter((c) => c.path.endsWith('/wait'))
    expect(waits.map((w) => w.query)).toEqual(machines().map((m) => ({ state: 'started', timeout: '60', instance_id: m.instance_id })))
    expect(machines().map((m) => m.instances.length)).toEqual([2, 2])
    second = out
  }, 120_000)

  it('status reads the Machines live: ready when every one is started with its checks passing; unknown without a token', async () => {
    const st = json<{ deployments: { target: string; status: string; version: string; details: { machines: { id: string; state: string; image: string; checks: { status: string }[] }[] } }[] }>(
      await run(['status', dir, '--target', 'fly', '--json']),
    )
    expect(st.deployments[0]).toMatchObject({ target: 'fly', status: 'ready', version: '1.1.0' })
    expect(st.deployments[0]!.details.machines.map((m) => [m.state, m.image, m.checks.map((c) => c.status)])).toEqual([
      ['started', second.details.image, ['passing']],
      ['started', second.details.image, ['passing']],
    ])
    expect(fake.seq().at(-1)).toBe('GET /v1/apps/taxifare/machines')

    machines()[1]!.checks[0]!.status = 'critical'
    const degraded = json<{ deployments: { status: string }[] }>(await run(['status', dir, '--target', 'fly', '--json']))
    expect(degraded.deployments[0]!.status).toBe('unknown')
    machines()[1]!.checks[0]!.status = 'passing'

    const calls = fake.calls.length
    const offline = json<{ deployments: { status: string }[] }>(await run(['status', dir, '--target', 'fly', '--json'], ''))
    expect(offline.deployments[0]!.status).toBe('unknown')
    expect(fake.calls.length).toBe(calls)
  }, 120_000)

  it('rollback puts the previous image back on the same Machines and waits for them; --to takes a recorded version or an image', async () => {
    const from = fake.calls.length
    const out = json<{ version: string; url: string; deployment: FlyRecord }>(await run(['rollback', dir, '--target', 'fly', '--json']))
    expect(out).toMatchObject({ version: '1.0.0', url: 'https://taxifare.fly.dev' })
    expect(out.deployment.details).toMatchObject({ app: 'taxifare', image: first.details.image, rollback: true })
    expect(out.deployment.digest).toBe(first.digest)
    expect(fake.rejected).toEqual([])
    expect(machines().map((m) => [m.config.image, m.state])).toEqual([
      [first.details.image, 'started'],
      [first.details.image, 'started'],
    ])
    const calls = fake.calls.slice(from)
    expect(calls.filter((c) => c.method === 'POST').map((c) => c.path)).toEqual(machines().map((m) => `/v1/apps/taxifare/machines/${m.id}`))
    expect(calls.filter((c) => c.path.endsWith('/wait')).map((w) => w.query.instance_id)).toEqual(machines().map((m) => m.instance_id))

    const to = json<{ version: string; deployment: FlyRecord }>(await run(['rollback', dir, '--target', 'fly', '--to', '1.1.0', '--json']))
    expect(to.deployment.details.image).toBe(second.details.image)
    expect(machines().every((m) => m.config.image === second.details.image)).toBe(true)

    // An image mlx never recorded under that name: --to takes it as the image to run.
    const byImage = json<{ deployment: FlyRecord }>(await run(['rollback', dir, '--target', 'fly', '--to', first.details.image, '--json']))
    expect(byImage.deployment).toMatchObject({ digest: first.digest, details: { app: 'taxifare', image: first.details.image } })
    expect(machines().every((m) => m.config.image === first.details.image)).toBe(true)

    const nothing = await run(['rollback', dir, '--target', 'fly', '--to', '9.9.9'])
    expect(nothing.code).not.toBe(0)
    expect(nothing.stderr).toContain("error[USAGE]: no ready fly deployment matches '9.9.9', and it is not an image reference.")
  }, 120_000)

  it('a Machine that never starts: deploy fails naming the Machine and targets.fly.deployTimeoutSeconds, records failed, and the other Machine keeps the old image', async () => {
    await editYaml((y) => `${y.trimEnd()}\n    deployTimeoutSeconds: 2\n`)
    const serving = machines().map((m) => m.config.image)
    fake.neverStart = true
    try {
      const r = await run(['deploy', dir, '--target', 'fly'])
      expect(r.code).not.toBe(0)
      const [a, b] = machines()
      expect(r.stderr).toMatch(new RegExp(`error\\[DEPLOY_FAILED\\]: Fly machine ${a!.id}: not done within 2s \\(last state: starting\\)`))
      expect(r.stderr).toContain(`fly logs -a taxifare --machine ${a!.id}`)
      expect(r.stderr).toContain('targets.fly.deployTimeoutSeconds')
      // A 2 s budget: each wait call asks Fly for at most that long.
      expect(fake.calls.filter((c) => c.path === `/v1/apps/taxifare/machines/${a!.id}/wait`).at(-1)!.query.timeout).toBe('2')
      expect(b!.config.image).toBe(serving[1]) // the rollout stopped at the first Machine
      const last = (await history()).at(-1)!
      expect(last).toMatchObject({ target: 'fly', status: 'failed' })
      expect(last.details.error).toContain(a!.id)
    } finally {
      fake.neverStart = false
    }
  }, 120_000)

  it('fewer machines: the first is updated and waited for, then the extra one is destroyed (force)', async () => {
    await editYaml((y) => y.replace(/^    machines: 2$/m, '    machines: 1'))
    const [a, b] = machines()
    const from = fake.calls.length
    const r = await run(['deploy', dir, '--target', 'fly'])
    expect(r.code, r.stderr).toBe(0)
    expect(fake.rejected).toEqual([])
    expect(fake.seq(from).slice(-5)).toEqual([
      'GET /v1/apps/taxifare/machines',
      `POST /v1/apps/taxifare/machines/${a!.id}`,
      `GET /v1/apps/taxifare/machines/${a!.id}/wait`,
      `GET /v1/apps/taxifare/machines/${a!.id}`,
      `DELETE /v1/apps/taxifare/machines/${b!.id}`,
    ])
    expect(fake.calls.at(-1)!.query).toEqual({ force: 'true' })
    expect(machines().map((m) => [m.id, m.state])).toEqual([[a!.id, 'started']])
    expect((await history()).at(-1)!.details.machines.map((m) => m.id)).toEqual([a!.id])
  }, 120_000)

  it('never prints or writes the token', async () => {
    const files: string[] = []
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory() && e.name !== 'blobs' && e.name !== 'node_modules') await walk(path.join(d, e.name))
        else if (e.isFile() && /\.(json|yaml|log|txt)$|Dockerfile/.test(e.name)) files.push(await readFile(path.join(d, e.name), 'utf8'))
      }
    }
    await walk(path.join(dir, '.mlx'))
    expect(files.length).toBeGreaterThan(2)
    for (const o of [...outputs, ...files]) expect(o.includes(TOKEN)).toBe(false)
  })
})
