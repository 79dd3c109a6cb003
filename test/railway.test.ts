// The railway target end to end with real parts: the classifier example is packaged and its image
// pushed to the shared local OCI registry (docker-registry) by the real CLI; Railway's GraphQL API
// is a local server (support/railway/fake.ts) that checks every operation's name, variables and
// auth header against Railway's schema, looks the deployed image up in that registry by digest, and
// hands out a "domain" that is the classifier really served, so /readyz and /predict go through it.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTargetContext, defaultServices, DeploymentLog, envCredentials, loadProject, silentLogger, sleep, systemClock, targetConfig, type Project } from '@mlx/core'
import { RailwayClient, railwayTarget, operations } from '@mlx/target-railway'
import { settings, type RailwayConfig } from '../packages/targets/railway/src/config.js'
import { locate } from '../packages/targets/railway/src/rollout.js'
import { copyExample, freePort, mlx } from './support/cli.js'
import { FakeRailway } from './support/railway/fake.js'
import { startExample, type Started } from './support/serve-example.js'

const ACCOUNT = 'acct-7c1f0e9b-secret-token'
const PROJECT_TOKEN = 'proj-55aa21-secret-token'

const json = <T>(r: { code: number; stdout: string; stderr: string }): T => {
  if (r.code !== 0) throw new Error(`mlx exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}
const noSecret = (...texts: string[]) => {
  for (const t of texts) {
    expect(t).not.toContain(ACCOUNT)
    expect(t).not.toContain(PROJECT_TOKEN)
  }
}

describe('railway target (GraphQL API stand-in, real registry, real served classifier)', () => {
  let fake: FakeRailway
  let served: Started
  let dir: string
  let registry: string
  const env = () => ({ RAILWAY_API_TOKEN: ACCOUNT, RAILWAY_TOKEN: '', GITHUB_REPOSITORY_OWNER: '' })
  const flags = () => ['--registry', `${registry}/mlx`, '--base', inject('baseImage')]

  beforeAll(async () => {
    if (inject('registryMissing')) throw new Error(inject('registryMissing'))
    registry = inject('registry')
    served = await startExample(path.resolve('examples/classifier'))
    fake = new FakeRailway({ accountToken: ACCOUNT, domain: new URL(served.url).host, registry })
    const api = await fake.start()
    dir = await copyExample('classifier', (y) =>
      y.replace(
        /^targets:\n[\s\S]*$/m,
        `env:\n  LOG_LEVEL: info\n\ntargets:\n  railway:\n    apiUrl: ${api}\n    secrets: [HF_TOKEN]\n    pollIntervalMs: 20\n    retryBaseMs: 10\n    healthTimeoutSeconds: 20\n    logLines: 10\n`,
      ),
    )
  })
  afterAll(async () => {
    await fake?.stop()
    await served?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('deploy --dry-run packages railway.json, Procfile and a Dockerfile next to the app (the Procfile command serves it) and lists the steps without calling Railway', async () => {
    const r = await mlx(['deploy', dir, '--target', 'railway', '--dry-run', ...flags()], { env: env() })
    expect(r.code, r.stderr).toBe(0)
    expect(fake.calls).toHaveLength(0) // neither package nor plan touch Railway
    expect(r.stdout).toMatch(/push: image 127\.0\.0\.1:\d+\/mlx\/classifier@sha256:[a-f0-9]{64}/)
    expect(r.stdout).toContain("project 'classifier' (created if missing)")
    expect(r.stdout).toContain('variableCollectionUpsert LOG_LEVEL, PORT, HF_TOKEN (HF_TOKEN as references)')
    expect(r.stdout).toContain('serviceInstanceDeployV2')
    noSecret(r.stdout, r.stderr)

    const app = path.join(dir, '.mlx/railway/app')
    const railwayJson = JSON.parse(await readFile(path.join(app, 'railway.json'), 'utf8'))
    expect(railwayJson.$schema).toBe('https://railway.com/railway.schema.json')
    expect(railwayJson.build).toEqual({ builder: 'DOCKERFILE', dockerfilePath: 'Dockerfile' })
    expect(railwayJson.deploy).toEqual({ startCommand: 'node server.mjs', healthcheckPath: '/readyz', healthcheckTimeout: 300, restartPolicyType: 'ON_FAILURE', restartPolicyMaxRetries: 10 })
    expect(await readFile(path.join(app, 'Procfile'), 'utf8')).toBe('web: node server.mjs\n')
    expect(await readFile(path.join(app, 'Dockerfile'), 'utf8')).toMatch(/CMD \["node", "server.mjs"\]/)
    expect(existsSync(path.join(dir, '.mlx/railway/image/oci/index.json'))).toBe(true)

    // What `railway up` runs: the Procfile's command in the app folder, with Railway's PORT.
    const port = await freePort()
    const [cmd, ...args] = 'node server.mjs'.split(' ')
    const child = spawn(cmd!, args, { cwd: app, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' })
    try {
      let status = 0
      for (let i = 0; i < 300 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/readyz`).then((res) => res.status, () => 0)
        if (status !== 200) await new Promise((res) => setTimeout(res, 100))
      }
      expect(status).toBe(200)
    } finally {
      child.kill('SIGTERM')
    }
  })

  let first: { url: string; digest: string; revision: string }
  it('deploy creates project and service, sets image, variables and healthcheck, waits for SUCCESS, makes a domain and answers through it (one 429 on the way)', async () => {
    fake.failNext('ServiceInstanceUpdate', { status: 429, retryAfter: '0' })
    const r = await mlx(['deploy', dir, '--target', 'railway', '--json', ...flags()], { env: env() })
    const out = json<{ url: string; digest: string; revision: string; deployment: { details: Record<string, unknown> } }>(r)
    noSecret(r.stdout, r.stderr)
    expect(fake.rejected).toEqual([])

    const ops = fake.ops()
    // Railway is asked first (preflight: a bad token fails before the push, and nothing is created
    // there), then the deploy finds and creates the project, configures it, and deploys once.
    expect(ops.slice(0, 3)).toEqual(['Projects', 'Projects', 'ProjectCreate'])
    const after = ops.filter((o) => o !== 'Deployment')
    expect(after.slice(3)).toEqual(['ServiceCreate', 'ServiceInstanceUpdate', 'ServiceInstanceUpdate', 'VariableCollectionUpsert', 'ServiceInstanceDeployV2', 'Domains', 'ServiceDomainCreate'])
    expect(fake.calls.every((c) => c.auth === 'account' && c.headers.authorization === `Bearer ${ACCOUNT}` && c.headers['project-access-token'] === undefined)).toBe(true)

    const call = (op: string) => fake.calls.filter((c) => c.op === op).at(-1)!.variables
    expect(call('ProjectCreate').input).toEqual({ name: 'classifier', description: expect.stringContaining('Titanic'), defaultEnvironmentName: 'production' })
    const project = fake.projects.find((p) => p.name === 'classifier')!
    expect(call('ServiceCreate').input).toEqual({ projectId: project.id, environmentId: project.environments[0]!.id, name: 'classifier' })
    const update = call('ServiceInstanceUpdate')
    expect(update.input).toEqual({ source: { image: `${registry}/mlx/classifier@${out.digest}` }, healthcheckPath: '/readyz', healthcheckTimeout: 300, restartPolicyType: 'ON_FAILURE', restartPolicyMaxRetries: 10 })
    // Secrets go as references: the value never leaves Railway (and mlx never had it).
    expect(call('VariableCollectionUpsert').input).toMatchObject({ variables: { LOG_LEVEL: 'info', PORT: '8080', HF_TOKEN: '${{ shared.HF_TOKEN }}' }, skipDeploys: true })
    expect(call('ServiceDomainCreate').input).toMatchObject({ targetPort: 8080 })

    // The registry really holds what Railway was told to run; the fake pulled it by digest.
    const dep = fake.deployments.at(-1)!
    expect(dep.status).toBe('SUCCESS')
    expect(out.revision).toBe(dep.id)
    expect(out.url).toBe(served.url)
    expect(out.deployment.details).toMatchObject({ projectId: project.id, service: 'classifier', environment: 'production', deploymentId: dep.id, apiRetries: 1 })
    const predict = await fetch(`${out.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: await readFile(path.join(dir, 'data/sample_request.json')) })
    expect(await predict.json()).toEqual({ errors: null, version: '1.0.0', predictions: [1, 0, 0] })
    const recorded = await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')
    noSecret(recorded)
    first = out
  })

  it('a deploy that CRASHES fails with the deploy log tail, and the running deployment keeps serving', async () => {
    fake.calls.length = 0
    fake.outcomes.push('CRASHED')
    const r = await mlx(['deploy', dir, '--target', 'railway', ...flags()], { env: env() })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error\[DEPLOY_FAILED\]: Railway deployment dep-\d+ crashed\. Last deploy log lines:/)
    expect(r.stderr).toContain('[error] Error: model/classifier.onnx: protobuf parsing failed')
    expect(r.stderr).toContain('hint: the previous deployment (if any) keeps serving')
    noSecret(r.stdout, r.stderr)
    expect(fake.ops()).not.toContain('ProjectCreate')
    expect(fake.ops()).not.toContain('ServiceCreate')
    expect(fake.ops()).not.toContain('ServiceDomainCreate')
    expect(fake.deployments.find((d) => d.id === first.revision)!.status).toBe('SUCCESS')
    const log = new DeploymentLog(dir).list('railway')
    expect(log.at(-1)).toMatchObject({ status: 'failed' })
  })

  it('rollback after a newer deploy uses deploymentRollback on the previous good deployment; status checks it live', async () => {
    const second = json<{ revision: string }>(await mlx(['deploy', dir, '--target', 'railway', '--json', ...flags()], { env: env() }))
    expect(fake.deployments.find((d) => d.id === first.revision)!.status).toBe('REMOVED')
    fake.calls.length = 0
    const r = await mlx(['rollback', dir, '--target', 'railway', '--json'], { env: env() })
    const out = json<{ revision: string; version: string; url: string; deployment: { details: Record<string, unknown> } }>(r)
    noSecret(r.stdout, r.stderr)
    const rb = fake.calls.filter((c) => c.op === 'DeploymentRollback')
    expect(rb).toHaveLength(1)
    expect(rb[0]!.variables).toEqual({ id: first.revision })
    expect(out.deployment.details).toMatchObject({ rolledBackTo: first.revision, rollback: true })
    expect(out.revision).not.toBe(second.revision)
    expect(fake.deployments.find((d) => d.id === out.revision)).toMatchObject({ status: 'SUCCESS', image: `${registry}/mlx/classifier@${first.digest}` })
    expect(out.version).toBe('1.0.0')
    expect(out.url).toBe(served.url)
    expect(fake.ops()).not.toContain('ServiceDomainCreate') // the domain is kept

    const st = json<{ deployments: { target: string; status: string; revision: string }[] }>(await mlx(['status', dir, '--target', 'railway', '--json'], { env: env() }))
    expect(st.deployments[0]).toMatchObject({ target: 'railway', status: 'ready', revision: out.revision })
    expect(fake.calls.at(-1)).toMatchObject({ op: 'Deployment', variables: { id: out.revision } })
  })

  it('leaves no token in what it wrote', async () => {
    const files: string[] = []
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name)
        if (e.isDirectory()) {
          if (e.name !== 'node_modules' && e.name !== 'blobs') await walk(p)
        } else if (/\.(json|mjs|yaml|txt)$|Procfile|Dockerfile/.test(e.name)) files.push(p)
      }
    }
    await walk(path.join(dir, '.mlx'))
    expect(files.length).toBeGreaterThan(3)
    for (const f of files) noSecret(await readFile(f, 'utf8'))
  })
})

describe('railway GraphQL client and project lookup (against the stand-in)', () => {
  let fake: FakeRailway
  let classifier: Project
  beforeAll(async () => {
    fake = new FakeRailway({ accountToken: ACCOUNT, projectToken: { token: PROJECT_TOKEN, projectName: 'shop', environmentName: 'staging' }, domain: 'shop.up.railway.app' })
    await fake.start()
    classifier = await loadProject(path.resolve('examples/classifier'))
  })
  afterAll(() => fake.stop())
  /** The client as a deploy makes it: on the context's HTTP client, whose waits `waits` collects. */
  const client = (value: string, kind: 'project' | 'account' = 'account', opts: { retries?: number; waits?: number[] } = {}) => {
    const clock = { ...systemClock, sleep: (ms: number, signal?: AbortSignal) => (opts.waits?.push(ms), sleep(ms, signal)) }
    const ctx = createTargetContext<RailwayConfig>({ project: classifier, target: railwayTarget, log: silentLogger, config: { retries: opts.retries ?? 4, retryBaseMs: 5 }, services: { ...defaultServices(), clock } })
    return new RailwayClient(ctx, { url: fake.url, token: { kind, value, source: kind === 'project' ? 'RAILWAY_TOKEN' : 'RAILWAY_API_TOKEN' } })
  }

  it('waits out 429s (Retry-After honoured) and gives up with a rate-limit hint after the retries', async () => {
    const waits: number[] = []
    fake.failNext('Projects', { status: 429, retryAfter: '0' }, 2)
    const c = client(ACCOUNT, 'account', { waits })
    expect(await operations.listProjects(c)).toEqual([expect.objectContaining({ name: 'shop' })])
    expect(waits).toEqual([0, 0])
    expect(c.retried).toBe(2)

    fake.failNext('Projects', { status: 429 }, 3)
    const err = await operations.listProjects(client(ACCOUNT, 'account', { retries: 2 })).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'DEPLOY_FAILED', message: expect.stringMatching(/^Railway Projects: /), hint: expect.stringContaining('rate-limited') })
  })

  it('reports GraphQL errors with the operation name, and never echoes the token', async () => {
    fake.failNext('Deployment', { graphqlError: 'Problem processing request' })
    await expect(operations.getDeployment(client(ACCOUNT), 'dep-x')).rejects.toMatchObject({ message: 'Railway Deployment: Problem processing request' })
    fake.failNext('Deployment', { graphqlError: `token ${ACCOUNT} is revoked` })
    const err = (await operations.getDeployment(client(ACCOUNT), 'dep-x').catch((e: unknown) => e)) as Error
    expect(err.message).toBe('Railway Deployment: token *** is revoked')
    const bad = (await operations.listProjects(client('wrong-token')).catch((e: unknown) => e)) as { message: string; hint: string }
    expect(bad.message).toBe('Railway Projects: Not Authorized')
    expect(bad.hint).toContain('RAILWAY_API_TOKEN')
  })

  it('a project token (Project-Access-Token header) deploys into its own project and environment, and cannot create projects', async () => {
    fake.calls.length = 0
    const c = client(PROJECT_TOKEN, 'project')
    const project = await loadProject(path.resolve('examples/classifier'))
    const s = settings({ project, config: { environment: 'production', secrets: [] }, credentials: envCredentials({}) })
    const warned: string[] = []
    const place = await locate(c, s, { log: { ...silentLogger, warn: (m: string) => warned.push(m) }, signal: new AbortController().signal }, { create: true })
    expect(place).toMatchObject({ projectName: 'shop', environmentName: 'staging', serviceId: undefined, serviceName: 'classifier' })
    expect(warned[0]).toContain("scoped to environment 'staging'")
    expect(fake.ops()).toEqual(['ProjectToken', 'Project'])
    expect(fake.calls.every((x) => x.auth === 'project' && x.headers.authorization === undefined)).toBe(true)
    const err = (await operations.createProject(c, { name: 'x', defaultEnvironmentName: 'production' }).catch((e: unknown) => e)) as { hint: string }
    expect(err.hint).toContain('RAILWAY_API_TOKEN')
  })

  it('refuses to hand Railway an expiring GITHUB_TOKEN for a private image, before pushing anything', async () => {
    const dir = await copyExample('classifier', (y) => y.replace(/^targets:\n[\s\S]*$/m, `targets:\n  railway:\n    apiUrl: ${fake.url}\n    privateImage: true\n`))
    try {
      const project = await loadProject(dir)
      const ctx = createTargetContext<RailwayConfig>({
        project,
        target: railwayTarget,
        outDir: path.join(dir, '.mlx/railway'),
        log: silentLogger,
        flags: { registry: 'ghcr.io/acme' },
        services: { ...defaultServices(), credentials: envCredentials({ RAILWAY_API_TOKEN: ACCOUNT, GITHUB_TOKEN: 'ghs_short_lived' }) },
      })
      const artifact = { target: 'railway', version: '1.0.0', digest: `sha256:${'0'.repeat(64)}`, paths: { layout: path.join(dir, 'nowhere') } }
      // Core runs preflight before it pushes anything.
      const err = (await railwayTarget.preflight!(artifact, ctx).catch((e: unknown) => e)) as { code: string; message: string; hint: string }
      expect(err.code).toBe('CREDENTIALS_MISSING')
      expect(err.message).toContain('GITHUB_TOKEN, which expires')
      expect(err.hint).toContain('GHCR_TOKEN')
      expect(err.message + err.hint).not.toContain('ghs_short_lived')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('an unknown secret reference form is refused by the config schema', async () => {
    const project = await loadProject(path.resolve('examples/classifier'))
    const bad = { ...project, targets: { railway: { secrets: { HF_TOKEN: 'hf_plaintext_value' } } } }
    expect(() => targetConfig(railwayTarget, bad)).toThrow(/targets\.railway\.secrets/)
    const good = { ...project, targets: { railway: { secrets: { DB: '${{ Postgres.DATABASE_URL }}' } } } }
    expect(settings({ project, config: targetConfig(railwayTarget, good), credentials: envCredentials({}) }).secrets).toEqual({ DB: '${{ Postgres.DATABASE_URL }}' })
  })
})

describe('railway package without a reachable base image', () => {
  it('still writes app/ for `railway up` (Dockerfile FROM the unpinned base, the bundle, railway.json, Procfile); deploy then stops on the base before any Railway call', async () => {
    // A registry port nothing listens on: the base image cannot be read, as with no network.
    const dir = await copyExample('classifier', (y) => `${y}  docker:\n    retries: 0\n`)
    try {
      const base = '127.0.0.1:9/library/node:20'
      const pkg = await mlx(['package', dir, '--target', 'railway', '--base', base])
      expect(pkg.code, pkg.stderr).toBe(0)
      expect(pkg.stderr).toMatch(/the image was not built .*127\.0\.0\.1:9.*mlx deploy` will need the base image/)
      const app = path.join(dir, '.mlx/railway/app')
      const dockerfile = await readFile(path.join(app, 'Dockerfile'), 'utf8')
      expect(dockerfile).toContain(`ARG BASE=${base}\n`)
      expect(dockerfile).toContain('FROM ${BASE} AS layers')
      expect(existsSync(path.join(app, 'server.mjs'))).toBe(true)
      expect(existsSync(path.join(app, 'mlx.yaml'))).toBe(true)
      expect(JSON.parse(await readFile(path.join(app, 'railway.json'), 'utf8'))).toMatchObject({ build: { builder: 'DOCKERFILE' }, deploy: { startCommand: 'node server.mjs' } })
      expect(await readFile(path.join(app, 'Procfile'), 'utf8')).toMatch(/^web: node server\.mjs/)
      expect(existsSync(path.join(dir, '.mlx/railway/image/context'))).toBe(false) // moved, not copied

      // A token that would be refused if it were ever sent: the base stops deploy first.
      const dep = await mlx(['deploy', dir, '--target', 'railway', '--base', base, '--registry', '127.0.0.1:9/mlx'], { env: { RAILWAY_API_TOKEN: 'never-sent', RAILWAY_API_URL: 'http://127.0.0.1:9/graphql/v2' } })
      expect(dep.code).toBe(1)
      expect(dep.stderr).toMatch(/error\[BUNDLE_FAILED\]: could not build the image: .*127\.0\.0\.1:9/)
      expect(dep.stderr + dep.stdout).not.toContain('never-sent')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
