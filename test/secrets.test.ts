// Nothing leaks, nothing hangs: every target deployed with the real CLI against a hostile local
// API (test/support/hostile/server.ts) with canary secrets in the environment and in credentials
// files. The API echoes each request back in its errors (headers as JSON and as lines, the bare
// token, the body); afterwards everything the deploys wrote is searched for the canary: stdout,
// stderr, --json, --verbose, --dry-run, and every file under the project's .mlx/ (records,
// artifacts, charts, zips unpacked, OCI blobs inflated). Then the same deploys against an API
// that accepts connections and never answers, one whose answer stalls, and one that resets
// them: each ends within its settings, with an error naming the platform, the call and the
// setting to raise.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { copyExample, freePort, mlx, type Run } from './support/cli.js'
import { canaries, fileCount, leaksOf } from './support/hostile/scan.js'
import { startHostile, startSilent, type HostileApi, type Seen } from './support/hostile/server.js'
import { startFakeCloud } from './support/cloudrun/fake-run.js'
import { FakeFly } from './support/fly/fake-machines.js'
import { FakeKube } from './support/kube/server.js'
import { startRegistryLogin } from './support/fly/registry-login.js'
import { FakeRailway } from './support/railway/fake.js'
import { FakeUbiops } from './support/ubiops/fake-api.js'
// @ts-expect-error: a plain .mjs script without types
import { ensureHelm } from '../scripts/lib/helm-binary.mjs'

const temps: string[] = []
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true })
})

/** A copy of the taxifare example whose only targets are `targets` (JSON is YAML). */
async function project(targets: Record<string, Record<string, unknown>>): Promise<string> {
  const dir = await copyExample('taxifare', (y) => y.replace(/^targets:[\s\S]*$/m, `targets: ${JSON.stringify(targets)}\n`))
  temps.push(dir)
  return dir
}

async function tempDir(name: string): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), `mlx-secrets-${name}-`))
  temps.push(d)
  return d
}

/** At most this many CLI processes at once: each packages (CPU-bound), and the tests run concurrently. */
const cliSlots = (() => {
  let free = 4
  const waiting: (() => void)[] = []
  return async <T,>(work: () => Promise<T>): Promise<T> => {
    if (free === 0) await new Promise<void>((r) => waiting.push(r))
    else free--
    try {
      return await work()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else free++
    }
  }
})()

const cli = (args: string[], env: Record<string, string>, timeoutMs = 300_000) => cliSlots(() => mlx(args, { env, timeoutMs }))

interface Way {
  readonly dir: string
  /** After `deploy DIR`: the target and its flags. */
  readonly args: readonly string[]
  readonly env: Record<string, string>
}

/**
 * The three ways a user sees a deploy, at once: the dry run's plan (with --verbose), the verbose
 * log with stacks, and --json. Each way has its own project copy (they run concurrently).
 */
async function threeWays(ways: { dry: Way; verbose: Way; json: Way }): Promise<{ runs: Record<'dry' | 'verbose' | 'json', Run>; dirs: string[] }> {
  const extra = { dry: ['--dry-run', '--verbose'], verbose: ['--verbose'], json: ['--json'] }
  const done = await Promise.all((['dry', 'verbose', 'json'] as const).map(async (k) => [k, await cli(['deploy', ways[k].dir, ...ways[k].args, ...extra[k]], ways[k].env)] as const))
  const dirs = [...new Set(Object.values(ways).map((w) => path.join(w.dir, '.mlx')))]
  for (const d of dirs) expect(await fileCount(d), `${d} holds the artifact`).toBeGreaterThan(3)
  return { runs: Object.fromEntries(done) as Record<'dry' | 'verbose' | 'json', Run>, dirs }
}

/** The shared registry and base image (test/support/global-setup.ts), for the image targets. */
function sharedRegistry(): { registry: string; base: string } {
  if (inject('registryMissing')) throw new Error(inject('registryMissing'))
  return { registry: inject('registry'), base: inject('baseImage') }
}

const operationOf = (req: Seen) => {
  try {
    return (JSON.parse(req.body) as { operationName?: string }).operationName
  } catch {
    return undefined
  }
}

/**
 * A registry that asks for credentials and echoes them: the ping gets a challenge (Bearer with a
 * token service here, which hands out `issued`, or Basic), blobs are missing, and every upload is
 * refused with the request repeated back.
 */
function hostileRegistry(scheme: 'bearer' | 'basic', issued: string) {
  let host = ''
  const api = startHostile((req) => {
    if (req.url.startsWith('/token')) return req.headers.authorization ? { status: 200, json: { token: issued, expires_in: 300 } } : { status: 401, json: {} }
    if (!req.headers.authorization) {
      const challenge = scheme === 'bearer' ? `Bearer realm="http://${host}/token",service="hostile"` : 'Basic realm="hostile"'
      return { status: 401, headers: { 'www-authenticate': challenge }, json: { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] } }
    }
    if (req.method === 'HEAD') return { status: 404 }
    return { echo: 403 }
  })
  return api.then((a) => ((host = a.host), a))
}

const texts = (runs: Record<string, Run>) => Object.fromEntries(Object.entries(runs).flatMap(([k, r]) => [[`${k} stdout`, r.stdout], [`${k} stderr`, r.stderr]]))

/** The canary really went out (else a clean scan proves nothing). */
const sent = (api: { seen: Seen[] }, value: string) => api.seen.some((s) => JSON.stringify(s.headers).includes(value) || s.body.includes(value))

/** Runs `deploy`, timing from the API's first connection to the CLI's exit. */
async function timedDeploy(args: string[], env: Record<string, string>, firstAt: () => number | undefined, timeoutMs = 300_000) {
  const r = await cli(args, env, timeoutMs)
  const end = Date.now()
  const start = firstAt()
  return { ...r, heldMs: start === undefined ? undefined : end - start }
}


type Fault = 'silent' | 'stall' | 'reset'

/** A server for each fault: one that accepts and never reads, one whose answer stalls after the headers, one that resets. */
async function faultServer(fault: Fault, tls = false): Promise<{ url: string; host: string; firstAt: () => number | undefined; stop: () => Promise<void> }> {
  if (fault === 'silent') {
    // With TLS the handshake itself is what never gets an answer.
    const s = await startSilent()
    return { url: `${tls ? 'https' : 'http'}://${s.host}`, host: s.host, firstAt: () => s.firstAt, stop: () => s.stop() }
  }
  const s = await startHostile(() => fault, { tls })
  return { url: s.url, host: s.host, firstAt: () => s.firstAt, stop: () => s.stop() }
}

interface FaultCase {
  readonly target: string
  /** targets: for an API at `url`, with these per-call settings. */
  readonly targets: (url: string, calls: { requestTimeoutSeconds: number; retries: number; retryBaseMs: number }) => Record<string, Record<string, unknown>>
  readonly env: (url: string, host: string) => Record<string, string> | Promise<Record<string, string>>
  readonly flags?: (url: string, host: string) => string[]
  /** The shortest per-call timeout the target accepts. */
  readonly requestTimeoutSeconds: number
  /** How the first call is named in the error (platform and call). */
  readonly call: RegExp
  /** The setting the timeout error says to raise. */
  readonly setting: string
  /** Attempts the first call makes (default 2: the first and one retry). */
  readonly attempts?: number
  /** The timeout the error names, when the client's deadline is not the setting itself (default requestTimeoutSeconds). */
  readonly shownSeconds?: number
  /** Named in the test, when a target has faults at more than one API. */
  readonly at?: string
  /** The API speaks HTTPS (the kubernetes client sends no token over plain HTTP). */
  readonly tls?: boolean
  /**
   * Faults to try (default all three). A target on core's HTTP client may skip 'stall': the
   * client's body deadline is tested once in packages/core/src/deploy/http.test.ts.
   */
  readonly faults?: readonly Fault[]
}

/**
 * The three faults against the first call of a deploy, concurrently (one project copy each):
 * a timeout ends each attempt at requestTimeoutSeconds, one retry, then an error naming the
 * platform, the call and the setting; a reset is retried and then named as such.
 */
function faultTests(fc: FaultCase) {
  const calls = { requestTimeoutSeconds: fc.requestTimeoutSeconds, retries: 1, retryBaseMs: 10 }
  const names = { silent: 'accepts and never reads', stall: 'stalls mid-answer', reset: 'resets' }
  it(`${fc.at ?? `a ${fc.target} API`} that ${(fc.faults ?? (['silent', 'stall', 'reset'] as const)).map((f) => names[f]).join(', or ')}: each deploy ends within requestTimeoutSeconds per attempt, naming the call and the setting`, async () => {
    const faults = fc.faults ?? ['silent', 'stall', 'reset']
    const results = await Promise.all(
      faults.map(async (fault) => {
        const server = await faultServer(fault, fc.tls)
        try {
          const dir = await project(fc.targets(server.url, calls))
          const r = await timedDeploy(['deploy', dir, '--target', fc.target, ...(fc.flags?.(server.url, server.host) ?? [])], await fc.env(server.url, server.host), server.firstAt)
          return { fault, ...r }
        } finally {
          await server.stop()
        }
      }),
    )
    const shown = fc.shownSeconds ?? fc.requestTimeoutSeconds
    const limitMs = (fc.attempts ?? 2) * shown * 1000
    for (const r of results) {
      const what = `${r.fault}: ${r.stderr}`
      expect(r.code, what).toBe(1)
      expect(r.heldMs, what).toBeDefined()
      expect(r.stderr, what).toMatch(fc.call)
      if (r.fault === 'reset') {
        expect(r.stderr, what).toMatch(/the connection was reset|the connection was closed|socket hang up/i)
        expect(r.heldMs!, what).toBeLessThan(limitMs)
      } else {
        expect(r.stderr, what).toMatch(new RegExp(`no answer within ${shown}s`))
        expect(r.stderr, what).toContain(fc.setting)
        // Each attempt gets requestTimeoutSeconds, and nothing longer. An attempt's clock starts at
        // the call, a little before its connection reaches the server: up to a second of it.
        expect(r.heldMs!, what).toBeGreaterThanOrEqual(limitMs - 1000 * (fc.attempts ?? 2))
        expect(r.heldMs!, what).toBeLessThan(limitMs + 15_000)
      }
    }
  }, 400_000)
}

describe.concurrent('ubiops: a UbiOps API that echoes the token, never answers, stalls or resets', () => {
  const c = canaries()
  const TOKEN = c.make('ubiops-token')
  let echo: HostileApi
  const env = (url: string) => ({ UBIOPS_API_TOKEN: `Token ${TOKEN}`, UBIOPS_API_URL: `${url}/v2.1`, UBIOPS_PROJECT: 'hostile' })

  beforeAll(async () => {
    echo = await startHostile(() => ({ echo: 403 }))
  })
  afterAll(() => echo?.stop())

  it('an API echoing the Token header and body in its 403s: the token is nowhere in stdout, stderr, --json, --verbose, --dry-run or .mlx/', async () => {
    const way = async (): Promise<Way> => ({ dir: await project({ ubiops: { localCheck: 'structure', retryBaseMs: 10, requestTimeoutSeconds: 10 } }), args: ['--target', 'ubiops'], env: env(echo.url) })
    const { runs, dirs } = await threeWays({ dry: await way(), verbose: await way(), json: await way() })
    expect(runs.dry.code, runs.dry.stderr).toBe(0)
    expect(runs.dry.stdout).toMatch(/note: could not read the current state \(UbiOps GET .*HTTP 403/)
    expect(runs.verbose.code).toBe(1)
    expect(runs.verbose.stderr).toMatch(/error\[CREDENTIALS_MISSING\]: UbiOps GET \/v2\.1\/projects\/hostile\/deployments\/taxifare: HTTP 403/)
    expect(JSON.parse(runs.json.stdout).error.code).toBe('CREDENTIALS_MISSING')
    expect(sent(echo, TOKEN)).toBe(true)
    expect(await leaksOf(c.core, texts(runs), dirs)).toEqual([])
  }, 400_000)

  faultTests({
    target: 'ubiops',
    targets: (_url, calls) => ({ ubiops: { localCheck: 'structure', ...calls } }),
    env: (url) => env(url),
    requestTimeoutSeconds: 10,
    faults: ['silent', 'reset'],
    call: /UbiOps GET \/v2\.1\/projects\/hostile\/deployments\/taxifare/,
    setting: 'targets.ubiops.requestTimeoutSeconds',
  })

  it('a build poll the API accepts and never answers ends the wait at buildTimeoutSeconds, not after requestTimeoutSeconds and its retries', async () => {
    const fake = new FakeUbiops({ project: 'hostile', token: TOKEN })
    const origin = new URL(await fake.start()).origin
    let hungAt: number | undefined
    let polls = 0
    // The first poll is answered (queued), the second is accepted and never answered.
    const api = await startHostile((req) => {
      if (req.method === 'GET' && /\/revisions\/rev-\d+$/.test(req.url) && ++polls > 1) {
        hungAt ??= Date.now()
        return 'hang'
      }
      return { proxy: origin }
    })
    try {
      const wait = await project({ ubiops: { localCheck: 'structure', testRequest: false, pollIntervalMs: 50, buildTimeoutSeconds: 3, requestTimeoutSeconds: 60 } })
      const r = await timedDeploy(['deploy', wait, '--target', 'ubiops'], env(api.url), () => hungAt)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/error\[DEPLOY_FAILED\]: build taxifare\/v1: not done within 3s \(last state: queued\); UbiOps GET \/v2\.1\/projects\/hostile\/deployments\/taxifare\/versions\/v1\/revisions\/rev-1 was still unanswered\./)
      expect(r.stderr).toContain('raise targets.ubiops.buildTimeoutSeconds')
      // The deadline (3 s from the first poll, and a second of grace) ended it, not the call's 60 s.
      expect(r.heldMs!).toBeLessThan(15_000)
    } finally {
      await api.stop()
      await fake.stop()
    }
  }, 400_000)
})

describe.concurrent('railway: a GraphQL API that echoes the token and the pull credentials, never answers, stalls or resets', () => {
  const c = canaries()
  const TOKEN = c.make('railway-token')
  const PULL_PASSWORD = c.make('pull-password')
  let shared: { registry: string; base: string }
  const env = (api: string) => ({ RAILWAY_API_TOKEN: TOKEN, RAILWAY_TOKEN: '', RAILWAY_API_URL: api, GITHUB_REPOSITORY_OWNER: '', MLX_REGISTRY_USER: 'puller', MLX_REGISTRY_PASSWORD: PULL_PASSWORD })
  const flags = () => ['--registry', `${shared.registry}/mlx`, '--base', shared.base]

  beforeAll(() => {
    shared = sharedRegistry()
  })

  it('Railway echoing the Bearer token and the mutation carrying the registry password: neither is in any output or under .mlx/', async () => {
    // Everything works up to the mutation that carries the pull credentials; that one is echoed
    // back. A fake each, since the deploys run at once.
    const apis = await Promise.all(
      [0, 1, 2].map(async () => {
        const fake = new FakeRailway({ accountToken: TOKEN, domain: '127.0.0.1:9', registry: shared.registry })
        const upstream = new URL(await fake.start()).origin
        const api = await startHostile((req) => (operationOf(req) === 'ServiceInstanceUpdate' ? { echo: 400 } : { proxy: upstream }))
        return { api, stop: () => Promise.all([api.stop(), fake.stop()]) }
      }),
    )
    try {
      const way = async (i: number): Promise<Way> => ({ dir: await project({ railway: { privateImage: true, retryBaseMs: 10, pollIntervalMs: 20 } }), args: ['--target', 'railway', ...flags()], env: env(`${apis[i]!.api.url}/graphql/v2`) })
      const { runs, dirs } = await threeWays({ dry: await way(0), verbose: await way(1), json: await way(2) })
      expect(runs.dry.code, runs.dry.stderr).toBe(0)
      expect(runs.verbose.code, runs.verbose.stderr).toBe(1)
      expect(runs.verbose.stderr).toMatch(/error\[DEPLOY_FAILED\]: Railway ServiceInstanceUpdate: request refused/)
      expect(JSON.parse(runs.json.stdout).error.message).toMatch(/^Railway ServiceInstanceUpdate: /)
      expect(sent(apis[1]!.api, TOKEN)).toBe(true)
      expect(sent(apis[1]!.api, PULL_PASSWORD)).toBe(true)
      expect(await leaksOf(c.core, texts(runs), dirs)).toEqual([])
    } finally {
      await Promise.all(apis.map((a) => a.stop()))
    }
  }, 400_000)

  faultTests({
    target: 'railway',
    targets: (url, calls) => ({ railway: { apiUrl: `${url}/graphql/v2`, ...calls } }),
    env: (url) => env(`${url}/graphql/v2`),
    flags: () => flags(),
    requestTimeoutSeconds: 2,
    faults: ['silent', 'reset'],
    call: /Railway Projects/,
    setting: 'targets.railway.requestTimeoutSeconds',
  })

  it('a deployment poll Railway accepts and never answers ends the wait at deployTimeoutSeconds, not after requestTimeoutSeconds and its retries', async () => {
    const fake = new FakeRailway({ accountToken: TOKEN, domain: '127.0.0.1:9', registry: shared.registry })
    const upstream = new URL(await fake.start()).origin
    let hungAt: number | undefined
    let polls = 0
    const api = await startHostile((req) => {
      if (operationOf(req) === 'Deployment' && ++polls > 1) {
        hungAt ??= Date.now()
        return 'hang'
      }
      return { proxy: upstream }
    })
    try {
      const dir = await project({ railway: { retryBaseMs: 10, pollIntervalMs: 20, deployTimeoutSeconds: 10, requestTimeoutSeconds: 120 } })
      const r = await timedDeploy(['deploy', dir, '--target', 'railway', ...flags()], env(`${api.url}/graphql/v2`), () => hungAt)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/error\[DEPLOY_FAILED\]: .*not done within 10s.*Railway Deployment was still unanswered\./)
      expect(r.stderr).toContain('targets.railway.deployTimeoutSeconds')
      expect(r.heldMs!).toBeLessThan(30_000)
    } finally {
      await api.stop()
      await fake.stop()
    }
  }, 400_000)
})

describe.concurrent('docker: a registry that echoes the credentials from a docker config file and the token it issued, never answers, stalls or resets', () => {
  const c = canaries()
  const PASSWORD = c.make('registry-password')
  const ISSUED = c.make('issued-token')
  let shared: { registry: string; base: string }
  beforeAll(() => {
    shared = sharedRegistry()
  })
  const env = (dockerConfig: string) => ({ DOCKER_CONFIG: dockerConfig, MLX_REGISTRY_USER: '', MLX_REGISTRY_PASSWORD: '', GITHUB_TOKEN: '', GHCR_TOKEN: '', REGISTRY_AUTH_FILE: path.join(dockerConfig, 'none.json'), XDG_RUNTIME_DIR: dockerConfig, XDG_CONFIG_HOME: dockerConfig })

  it('the push to registries echoing Basic auth and a bearer token: the password, the pair and the token are nowhere in any output or under .mlx/ (the OCI layout included)', async () => {
    const bearer = await hostileRegistry('bearer', ISSUED)
    const basic = await hostileRegistry('basic', ISSUED)
    const config = await tempDir('docker-config')
    const auth = Buffer.from(`robot:${PASSWORD}`).toString('base64')
    await writeFile(path.join(config, 'config.json'), JSON.stringify({ auths: { [bearer.host]: { auth }, [basic.host]: { auth } } }))
    try {
      const way = async (host: string): Promise<Way> => ({ dir: await project({ docker: { base: shared.base, retries: 0 } }), args: ['--target', 'docker', '--registry', `${host}/mlx`], env: env(config) })
      const { runs, dirs } = await threeWays({ dry: await way(bearer.host), verbose: await way(bearer.host), json: await way(basic.host) })
      expect(runs.dry.code, runs.dry.stderr).toBe(0)
      expect(runs.verbose.code, runs.verbose.stderr).toBe(1)
      expect(runs.verbose.stderr).toMatch(/error\[DEPLOY_FAILED\]: pushing 127\.0\.0\.1:\d+\/mlx\/taxifare failed: .*answered 403 DENIED: request refused/)
      expect(JSON.parse(runs.json.stdout).error.message).toMatch(/answered 403 DENIED: request refused/)
      // Where the credentials came from is said (a path is not a secret); what they are is not.
      expect(runs.verbose.stderr).toContain(`credentials from ${path.join(config, 'config.json')}`)
      expect(sent(bearer, ISSUED)).toBe(true)
      expect(sent(basic, auth)).toBe(true)
      expect(await leaksOf(c.core, texts(runs), dirs)).toEqual([])
    } finally {
      await bearer.stop()
      await basic.stop()
    }
  }, 400_000)

  it('a registry password in the --registry URL: not in any output either', async () => {
    const dir = await project({ docker: { base: shared.base, retries: 0 } })
    const r = await cli(['deploy', dir, '--target', 'docker', '--registry', `https://robot:${PASSWORD}@127.0.0.1:9/mlx`], env(await tempDir('docker-none')))
    expect(r.code).not.toBe(0)
    // The flag is repeated back in the error, with the password masked.
    expect(r.stderr).toContain("--registry: 'https://robot:***@127.0.0.1:9/mlx' is not HOST[:PORT]/NAMESPACE")
    expect(await leaksOf(c.core, { stdout: r.stdout, stderr: r.stderr }, [path.join(dir, '.mlx')])).toEqual([])
  }, 400_000)

  faultTests({
    target: 'docker',
    targets: (_url, calls) => ({ docker: { base: inject('baseImage'), requestTimeoutSeconds: calls.requestTimeoutSeconds, retries: calls.retries } }),
    env: () => ({ MLX_REGISTRY_USER: '', MLX_REGISTRY_PASSWORD: '' }),
    flags: (_url, host) => ['--registry', `${host}/mlx`],
    requestTimeoutSeconds: 2,
    // The ping (GET /v2/) is one attempt: it only finds out whether the registry answers and how it wants credentials.
    attempts: 1,
    call: /pushing 127\.0\.0\.1:\d+\/mlx\/taxifare failed: (cannot reach http:\/\/127\.0\.0\.1:\d+\/v2\/|HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/mlx\/taxifare\/blobs\/sha256:\w+ failed)/,
    setting: 'targets.docker.requestTimeoutSeconds',
  })
})

describe.concurrent('fly: a Machines API and a registry login that echo the FlyV1 token, never answer, stall or reset', () => {
  const c = canaries()
  const BARE = `fm2_${c.make('fly-token')}`
  const TOKEN = `FlyV1 ${BARE}`
  let shared: { registry: string; base: string }
  beforeAll(() => {
    shared = sharedRegistry()
  })
  // An app of its own: its image lands in the suite's shared registry, where test/fly.test.ts
  // checks that nothing was pushed for taxifare.
  const APP = 'taxifare-hostile'
  const fly = (api: string, registry: string, extra: Record<string, unknown> = {}) => ({ fly: { apiUrl: api, registry, app: APP, retryBaseMs: 10, ...extra } })
  const flags = () => ['--base', shared.base]

  it('the registry login and the Machines API echoing the token: it is nowhere in any output or under .mlx/', async () => {
    const start = async () => {
      const login = await startRegistryLogin(shared.registry, BARE)
      const fake = new FakeFly({ token: BARE, orgs: ['personal'], registry: shared.registry, registryHost: login.host })
      return { login, fake, upstream: await fake.start() }
    }
    // Preflight (the app) works; the registry then echoes the Basic pair it was sent.
    const toRegistry = await start()
    const echoRegistry = await hostileRegistry('basic', 'unused')
    // Preflight and the push work; the first call of the deploy itself echoes.
    const toApi = await start()
    const echoApi = await startHostile((req) => (/ip_assignments/.test(req.url) ? { echo: 403 } : { proxy: toApi.upstream }))
    try {
      const env = { FLY_API_TOKEN: TOKEN }
      const way = async (api: string, registry: string): Promise<Way> => ({ dir: await project(fly(api, registry)), args: ['--target', 'fly', ...flags()], env })
      const { runs, dirs } = await threeWays({ dry: await way(echoApi.url, toApi.login.host), verbose: await way(toRegistry.upstream, echoRegistry.host), json: await way(echoApi.url, toApi.login.host) })
      expect(runs.dry.code, runs.dry.stderr).toBe(0)
      expect(runs.verbose.code, runs.verbose.stderr).toBe(1)
      expect(runs.verbose.stderr).toMatch(/pushing 127\.0\.0\.1:\d+\/taxifare-hostile failed: .*answered 403 DENIED: request refused/)
      expect(JSON.parse(runs.json.stdout).error.message).toMatch(/^Fly GET \/v1\/apps\/taxifare-hostile\/ip_assignments: HTTP 403/)
      expect(sent(echoRegistry, Buffer.from(`x:${BARE}`).toString('base64'))).toBe(true)
      expect(sent(echoApi, TOKEN)).toBe(true)
      expect(await leaksOf(c.core, texts(runs), dirs)).toEqual([])
    } finally {
      await Promise.all([echoApi.stop(), echoRegistry.stop(), toApi.fake.stop(), toRegistry.fake.stop(), toApi.login.close(), toRegistry.login.close()])
    }
  }, 400_000)

  faultTests({
    target: 'fly',
    targets: (url, calls) => ({ fly: { apiUrl: url, registry: inject('registry'), app: APP, ...calls } }),
    env: () => ({ FLY_API_TOKEN: TOKEN }),
    flags: () => flags(),
    requestTimeoutSeconds: 2,
    faults: ['silent', 'reset'],
    call: /Fly GET \/v1\/apps\/taxifare/,
    setting: 'targets.fly.requestTimeoutSeconds',
  })

  it('a Machine wait Fly accepts and never answers ends at deployTimeoutSeconds, not after its long-poll timeout and retries', async () => {
    const login = await startRegistryLogin(shared.registry, BARE)
    const fake = new FakeFly({ token: BARE, orgs: ['personal'], registry: shared.registry, registryHost: login.host })
    const upstream = await fake.start()
    let hungAt: number | undefined
    const api = await startHostile((req) => {
      if (/\/wait\?/.test(req.url)) {
        hungAt ??= Date.now()
        return 'hang'
      }
      return { proxy: upstream }
    })
    try {
      const dir = await project(fly(api.url, login.host, { deployTimeoutSeconds: 3, requestTimeoutSeconds: 120 }))
      const r = await timedDeploy(['deploy', dir, '--target', 'fly', ...flags()], { FLY_API_TOKEN: TOKEN }, () => hungAt)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/error\[DEPLOY_FAILED\]: Fly machine \w+: not done within 3s; Fly GET \/v1\/apps\/taxifare-hostile\/machines\/\w+\/wait was still unanswered\./)
      expect(r.stderr).toContain('targets.fly.deployTimeoutSeconds')
      expect(r.heldMs!).toBeLessThan(15_000)
    } finally {
      await api.stop()
      await fake.stop()
      await login.close()
    }
  }, 400_000)
})

describe.concurrent('cloudrun: a workload-identity credentials file whose token endpoint echoes, a Run API that echoes the access token, both never answering, stalling or resetting', () => {
  const c = canaries()
  const SUBJECT = c.make('subject-token')
  const CLIENT_SECRET = c.make('client-secret')
  const ACCESS = c.make('access-token')
  let shared: { registry: string; base: string }
  let home: string
  beforeAll(async () => {
    shared = sharedRegistry()
    home = await tempDir('cloudrun-home')
    await writeFile(path.join(home, 'subject-token'), `${SUBJECT}\n`)
  })

  /** An external_account file (workload identity federation): its token_url is any URL, so the STS can be local. */
  async function credentialsFile(tokenUrl: string): Promise<string> {
    const file = path.join(home, `adc-${Math.random().toString(36).slice(2)}.json`)
    await writeFile(
      file,
      JSON.stringify({
        type: 'external_account',
        audience: '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/mlx/providers/hostile',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: tokenUrl,
        credential_source: { file: path.join(home, 'subject-token') },
        client_id: 'mlx-client',
        client_secret: CLIENT_SECRET,
      }),
    )
    return file
  }
  const env = (file: string) => ({ GOOGLE_APPLICATION_CREDENTIALS: file, HOME: home, CLOUDSDK_CONFIG: path.join(home, 'gcloud'), GCE_METADATA_HOST: '127.0.0.1:9', GOOGLE_CLOUD_PROJECT: '', CLOUDSDK_CORE_PROJECT: '' })
  const cloudrun = (apiEndpoint: string, extra: Record<string, unknown> = {}) => ({
    cloudrun: { project: 'hostile-project', region: 'europe-west1', apiEndpoint, registry: `${shared.registry}/hostile-project/mlx`, retryBaseMs: 10, ...extra },
  })
  const sts = () => startHostile(() => ({ status: 200, json: { access_token: ACCESS, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 } }))
  const flags = () => ['--base', shared.base]

  it('the token endpoint echoing the subject token and the client secret, the Run API echoing the access token: none of them in any output or under .mlx/', async () => {
    const echoSts = await startHostile(() => ({ echo: 400 }))
    const goodSts = await sts()
    const runApi = await startHostile(() => ({ echo: 403 }))
    try {
      const refused = await credentialsFile(`${echoSts.url}/v1/token`)
      const accepted = await credentialsFile(`${goodSts.url}/v1/token`)
      const way = async (file: string): Promise<Way> => ({ dir: await project(cloudrun(runApi.url)), args: ['--target', 'cloudrun', ...flags()], env: env(file) })
      const { runs, dirs } = await threeWays({ dry: await way(accepted), verbose: await way(refused), json: await way(accepted) })
      expect(runs.dry.code, runs.dry.stderr).toBe(0)
      expect(runs.dry.stdout).toMatch(/cannot read projects\/hostile-project\/locations\/europe-west1\/services\/taxifare: .*request refused/)
      expect(runs.verbose.code, runs.verbose.stderr).toBe(1)
      expect(runs.verbose.stderr).toMatch(/error\[CREDENTIALS_MISSING\]: the Google token endpoint http:\/\/127\.0\.0\.1:\d+\/v1\/token refused the credentials from GOOGLE_APPLICATION_CREDENTIALS=/)
      expect(JSON.parse(runs.json.stdout).error.message).toMatch(/^reading projects\/hostile-project\/locations\/europe-west1\/services\/taxifare: .*request refused/)
      expect(sent(echoSts, SUBJECT)).toBe(true)
      expect(sent(echoSts, Buffer.from(`mlx-client:${CLIENT_SECRET}`).toString('base64'))).toBe(true)
      expect(sent(runApi, ACCESS)).toBe(true)
      expect(await leaksOf(c.core, texts(runs), dirs)).toEqual([])
    } finally {
      await Promise.all([echoSts.stop(), goodSts.stop(), runApi.stop()])
    }
  }, 400_000)

  it('a credentials file whose token endpoint refuses connections: the error says the endpoint could not be reached, not that there are no credentials', async () => {
    const file = await credentialsFile(`http://127.0.0.1:${await freePort()}/v1/token`)
    const dir = await project(cloudrun('http://127.0.0.1:9', { retries: 1 }))
    const r = await cli(['deploy', dir, '--target', 'cloudrun', ...flags()], env(file))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error\[DEPLOY_FAILED\]: Google Cloud credentials were found \(GOOGLE_APPLICATION_CREDENTIALS=.*adc-\w+\.json\), but their token endpoint http:\/\/127\.0\.0\.1:\d+\/v1\/token could not be reached: connection refused \(ECONNREFUSED\)\./)
    expect(r.stderr).not.toContain('no Google Cloud credentials')
    // Before the push: nothing went to the registry.
    expect(r.stderr).not.toMatch(/Pushing/)
  }, 400_000)

  faultTests({
    target: 'cloudrun',
    at: 'a token endpoint',
    targets: (_url, calls) => cloudrun('http://127.0.0.1:9', calls),
    env: async (url) => env(await credentialsFile(`${url}/v1/token`)),
    flags: () => flags(),
    requestTimeoutSeconds: 2,
    // google-auth-library sets no timeout: the context's backstop, a second past the setting, ends each attempt.
    shownSeconds: 3,
    call: /Google Cloud credentials were found \(GOOGLE_APPLICATION_CREDENTIALS=.*\), but their token endpoint http:\/\/127\.0\.0\.1:\d+\/v1\/token could not be reached/,
    setting: 'targets.cloudrun.requestTimeoutSeconds',
  })

  describe('with a token endpoint that works', () => {
    let goodSts: HostileApi
    beforeAll(async () => {
      goodSts = await sts()
    })
    afterAll(() => goodSts?.stop())

    faultTests({
      target: 'cloudrun',
      at: 'a Cloud Run Admin API',
      targets: (url, calls) => cloudrun(url, calls),
      env: async () => env(await credentialsFile(`${goodSts.url}/v1/token`)),
      flags: () => flags(),
      requestTimeoutSeconds: 2,
      shownSeconds: 3,
      // gax's errors other than 429/503 are final, as the API's own are: one attempt.
      attempts: 1,
      call: /GET projects\/hostile-project\/locations\/europe-west1\/services\/taxifare|reading projects\/hostile-project\/locations\/europe-west1\/services\/taxifare/,
      setting: 'targets.cloudrun.requestTimeoutSeconds',
    })
  })

  it('a service read-back Cloud Run accepts and never answers ends the wait at readyTimeoutSeconds, not after requestTimeoutSeconds', async () => {
    const fake = await startFakeCloud({ registry: shared.registry })
    let created = false
    let hungAt: number | undefined
    const api = await startHostile((req) => {
      if (req.method === 'POST' && /\/services\?/.test(req.url)) created = true
      if (created && req.method === 'GET' && /\/services\/taxifare\?/.test(req.url)) {
        hungAt ??= Date.now()
        return 'hang'
      }
      return { proxy: `http://${fake.host}` }
    })
    try {
      const dir = await project({ cloudrun: { region: 'europe-west1', apiEndpoint: api.url, registry: `${shared.registry}/mlx-test-project/mlx`, retryBaseMs: 10, readyTimeoutSeconds: 10, requestTimeoutSeconds: 120 } })
      const r = await timedDeploy(['deploy', dir, '--target', 'cloudrun', ...flags()], { ...env(''), GOOGLE_APPLICATION_CREDENTIALS: '', GCE_METADATA_HOST: fake.host }, () => hungAt)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/error\[DEPLOY_FAILED\]: creating taxifare: not done within 10s; GET projects\/mlx-test-project\/locations\/europe-west1\/services\/taxifare was still unanswered\./)
      expect(r.stderr).toContain('targets.cloudrun.readyTimeoutSeconds')
      expect(r.heldMs!).toBeLessThan(25_000)
    } finally {
      await api.stop()
      await fake.close()
    }
  }, 400_000)
})

describe.concurrent('helm: a Kubernetes API that echoes the kubeconfig token, never answers, stalls or resets', () => {
  const c = canaries()
  const TOKEN = c.make('kube-token')
  // An image that exists already: no build, no push; the chart and the cluster calls are what is tried.
  const IMAGE = `127.0.0.1:5000/mlx/taxifare@sha256:${'ab'.repeat(32)}`
  let helm: string
  beforeAll(async () => {
    ;({ helm } = (await ensureHelm()) as { helm: string })
  })
  async function kubeconfig(server: string, cert?: string): Promise<string> {
    const file = path.join(await tempDir('kubeconfig'), 'config')
    const ca = cert ? `\n    certificate-authority-data: ${Buffer.from(cert).toString('base64')}` : server.startsWith('https:') ? '\n    insecure-skip-tls-verify: true' : ''
    await writeFile(file, `apiVersion: v1\nkind: Config\nclusters:\n- name: hostile\n  cluster:\n    server: ${server}${ca}\ncontexts:\n- name: hostile\n  context:\n    cluster: hostile\n    user: deployer\ncurrent-context: hostile\nusers:\n- name: deployer\n  user:\n    token: ${TOKEN}\n`)
    return file
  }
  const helmTargets = (extra: Record<string, unknown>) => ({ helm: { image: IMAGE, retryBaseMs: 10, pollIntervalMs: 20, ...extra } })

  it('a cluster echoing the bearer token of the kubeconfig, to mlx\'s own client and to the helm binary: it is nowhere in any output or under .mlx/', async () => {
    const api = await startHostile(() => ({ echo: 403 }), { tls: true })
    try {
      const env = { KUBECONFIG: await kubeconfig(api.url, api.cert) }
      const way = async (extra: Record<string, unknown>): Promise<Way> => ({ dir: await project(helmTargets(extra)), args: ['--target', 'helm'], env })
      const { runs, dirs } = await threeWays({ dry: await way({ mode: 'apply' }), verbose: await way({ mode: 'apply' }), json: await way({ mode: 'helm', helmBinary: helm, timeoutSeconds: 5 }) })
      expect(runs.dry.code, runs.dry.stderr).toBe(0)
      expect(runs.verbose.code, runs.verbose.stderr).toBe(1)
      expect(runs.verbose.stderr).toMatch(/error\[DEPLOY_FAILED\]: applying ServiceAccount\/[\w-]+: forbidden \(HTTP 403\): request refused/)
      expect(JSON.parse(runs.json.stdout).error.message).toMatch(/`helm upgrade` failed/)
      expect(sent(api, TOKEN)).toBe(true)
      // helm itself was asked too (its user agent), not only mlx's client.
      expect(api.seen.some((q) => /^helm\//i.test(q.headers['user-agent'] ?? '') && q.headers.authorization === `Bearer ${TOKEN}`)).toBe(true)
      expect(await leaksOf(c.core, texts(runs), dirs)).toEqual([])
    } finally {
      await api.stop()
    }
  }, 400_000)

  faultTests({
    target: 'helm',
    targets: (_url, calls) => helmTargets({ mode: 'apply', ...calls }),
    env: async (url) => ({ KUBECONFIG: await kubeconfig(url) }),
    tls: true,
    requestTimeoutSeconds: 2,
    call: /applying ServiceAccount\/[\w-]+: /,
    setting: 'targets.helm.requestTimeoutSeconds',
  })

  it('helm mode against a cluster that accepts and never answers: the helm process is stopped at 2 × timeoutSeconds + 2 × requestTimeoutSeconds', async () => {
    const silent = await startSilent()
    try {
      const dir = await project(helmTargets({ mode: 'helm', helmBinary: helm, timeoutSeconds: 2, requestTimeoutSeconds: 1, retries: 0 }))
      const r = await timedDeploy(['deploy', dir, '--target', 'helm'], { KUBECONFIG: await kubeconfig(silent.url) }, () => silent.firstAt)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/error\[DEPLOY_FAILED\]: `helm upgrade` did not finish within 6s and was stopped/)
      expect(r.stderr).toContain('raise targets.helm.timeoutSeconds')
      expect(r.heldMs!).toBeLessThan(15_000)
    } finally {
      await silent.stop()
    }
  }, 400_000)

  it('a rollout poll the cluster accepts and never answers ends the wait at timeoutSeconds, not after requestTimeoutSeconds and its retries', async () => {
    const kube = await new FakeKube(TOKEN).start()
    let polls = 0
    let hungAt: number | undefined
    const api = await startHostile(
      (req) => {
        if (req.method === 'GET' && /\/apis\/apps\/v1\/namespaces\/default\/deployments\/[\w-]+$/.test(req.url) && ++polls > 1) {
          hungAt ??= Date.now()
          return 'hang'
        }
        return { proxy: kube.url }
      },
      { tls: true },
    )
    kube.behaviour = () => ({ kind: 'never' })
    try {
      const dir = await project(helmTargets({ mode: 'apply', timeoutSeconds: 2, requestTimeoutSeconds: 60 }))
      const r = await timedDeploy(['deploy', dir, '--target', 'helm'], { KUBECONFIG: await kubeconfig(api.url, api.cert) }, () => hungAt)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/error\[DEPLOY_FAILED\]: deployment\/[\w-]+: not done within 2s \(last state: .*\); reading deployment\/[\w-]+ was still unanswered\./)
      expect(r.stderr).toContain('targets.helm.timeoutSeconds')
      expect(r.heldMs!).toBeLessThan(15_000)
    } finally {
      await api.stop()
      await kube.stop()
    }
  }, 400_000)
})
