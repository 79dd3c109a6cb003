// The ubiops target with real parts: the real CLI packages the face example; the zip is unpacked
// and deployment.py is imported and driven by python3 exactly as UbiOps does (Deployment(base,
// context), request(data, context) with file fields as local paths); deploy runs its real client
// against a local server speaking the UbiOps v2.1 paths and JSON (test/support/ubiops/fake-api.ts),
// which checks the Token header and bodies and injects a 429, a failing build and 5 versions.
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTargetContext, defaultServices, envCredentials, isMlxError, loadProject, type Artifact, type Logger } from '@mlx/core'
import { ubiopsTarget } from '../packages/targets/ubiops/src/target.js'
import type { UbiopsConfig } from '../packages/targets/ubiops/src/config.js'
import { endpointPlan } from '../packages/targets/ubiops/src/spec.js'
import { listZip } from '../packages/targets/ubiops/src/zip.js'
import { copyExample, mlx, ROOT } from './support/cli.js'
import { FakeUbiops } from './support/ubiops/fake-api.js'

const TOKEN = 'ubiops-test-secret-7f3a9c'
const PROJECT = 'mlx-tests'
const PHOTO = path.join(ROOT, 'examples/face/data/astronaut.jpg')

function python(script: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', ['-c', script, ...args], { env: { ...process.env, ...env }, maxBuffer: 32 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

// Imports deployment.py from the unpacked package and calls it as UbiOps would; prints one JSON line per request.
const DRIVE = String.raw`
import importlib.util, json, os, sys
base, requests = sys.argv[1], json.loads(sys.argv[2])
spec = importlib.util.spec_from_file_location("deployment", os.path.join(base, "deployment.py"))
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
d = module.Deployment(base, {"deployment": "face", "version": "v1", "input_type": "structured", "output_type": "structured", "language": "python3.12", "environment_variables": {}})
out = []
for data in requests:
    try:
        out.append({"ok": d.request(data, {"id": "r1", "request_mode": "direct"})})
    except Exception as e:
        out.append({"error": type(e).__name__, "message": str(e)})
batches = []
for data in (json.loads(sys.argv[3]) if len(sys.argv) > 3 else []):
    try:
        batches.append({"ok": d.requests(data, {"id": "b1", "request_mode": "batch"})})
    except Exception as e:
        batches.append({"error": type(e).__name__, "message": str(e)})
d.close()
print("RESULTS " + json.dumps(out))
print("BATCHES " + json.dumps(batches))
`

function collectingLog(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (m) => lines.push(m),
    warn: (m) => lines.push(`warn: ${m}`),
    debug: () => {},
    step: async (title, work) => {
      lines.push(`step: ${title}`)
      return work()
    },
  }
}

describe('ubiops target', () => {
  let dir: string
  let fake: FakeUbiops
  let zip: string
  let artifact: Artifact
  const temps: string[] = []

  /** A context like the CLI's, with targets.ubiops overridden and the fake's URL and token in the environment. */
  const context = async (cfg: Record<string, unknown> = {}, env: Record<string, string> = {}) => {
    const project = await loadProject(dir)
    const withCfg = { ...project, targets: { ...project.targets, ubiops: { ...project.targets.ubiops, ...cfg } } }
    const log = collectingLog()
    const ctx = createTargetContext<UbiopsConfig>({
      project: withCfg,
      target: ubiopsTarget,
      log,
      flags: {},
      outDir: path.join(dir, '.mlx/ubiops'),
      services: { ...defaultServices(), credentials: envCredentials({ UBIOPS_API_TOKEN: TOKEN, UBIOPS_API_URL: fake.url, UBIOPS_PROJECT: PROJECT, ...env }) },
    })
    return { ctx, log }
  }
  const faceFields = {
    input: [{ name: 'image', data_type: 'file' }],
    output: [
      { name: 'faces', data_type: 'string' },
      { name: 'count', data_type: 'int' },
    ],
  }

  beforeAll(async () => {
    fake = new FakeUbiops({ project: PROJECT, token: TOKEN })
    await fake.start()
    dir = await copyExample('face', (y) => y.replace('  ubiops:\n', '  ubiops:\n    retryBaseMs: 5\n    pollIntervalMs: 5\n'))
    // The handler's own dependencies resolve from the project's node_modules, as after npm install.
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
    // Things that must never ship: a secret next to the handler, VCS data, and what .mlxignore names.
    await writeFile(path.join(dir, 'src/.env'), `UBIOPS_API_TOKEN=${TOKEN}\n`)
    await mkdir(path.join(dir, 'src/.git'), { recursive: true })
    await writeFile(path.join(dir, 'src/.git/HEAD'), 'ref: refs/heads/main\n')
    await writeFile(path.join(dir, 'src/scratch.ipynb'), '{}')
    await writeFile(path.join(dir, '.mlxignore'), '# notebooks stay home\n*.ipynb\n')
  })

  afterAll(async () => {
    await fake?.stop()
    for (const t of [dir, ...temps]) if (t) await rm(t, { recursive: true, force: true })
  })

  it('deploys the face example with the real CLI: local python check, create deployment and v1, upload, build, test request, a 429 honoured, no token anywhere', async () => {
    fake.fail('POST', /\/deployments$/, 429, 1, '0')
    fake.answer = (data) => {
      // The test request's file field points at a file uploaded through the signed URL: the example photo.
      const key = String(data.image).replace('ubiops-file://', '')
      const bytes = fake.files.get(key)
      return bytes && bytes[0] === 0xff && bytes[1] === 0xd8 ? { status: 'completed', result: { faces: '[]', count: 0 } } : { status: 'failed', error_message: `no file ${key}` }
    }
    const r = await mlx(['deploy', dir, '--target', 'ubiops', '--json'], { env: { UBIOPS_API_TOKEN: TOKEN, UBIOPS_API_URL: fake.url, UBIOPS_PROJECT: PROJECT }, timeoutMs: 240_000 })
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { version: string; revision: string; paths: { zip: string }; deployment: { details: Record<string, unknown> } }
    zip = out.paths.zip
    artifact = { target: 'ubiops', version: '1.0.0', paths: { zip }, digest: 'sha256:test', details: { bytes: 1 } }
    expect(out.version).toBe('v1')
    expect(out.deployment.details).toMatchObject({ deployment: 'face', default: true, endpoint: 'predict', retried: 1, testResult: { faces: '[]', count: 0 } })
    // The local check really ran deployment.py on the example before the first API call.
    expect(out.deployment.details.localCheck).toBe('run')
    expect(out.deployment.details.localResult).toMatchObject({ count: expect.any(Number), faces: expect.any(String) })
    const paths = fake.calls.filter((c) => c.method !== 'PUT').map((c) => `${c.method} ${c.path.replace(/\?.*/, '')}`)
    expect(paths).toEqual([
      'GET /v2.1/projects/mlx-tests/deployments/face',
      'POST /v2.1/projects/mlx-tests/deployments', // 429, Retry-After: 0
      'POST /v2.1/projects/mlx-tests/deployments',
      'GET /v2.1/projects/mlx-tests/deployments/face/versions',
      'POST /v2.1/projects/mlx-tests/deployments/face/versions',
      'POST /v2.1/projects/mlx-tests/deployments/face/versions/v1/revisions',
      'GET /v2.1/projects/mlx-tests/deployments/face/versions/v1/revisions/rev-1',
      'GET /v2.1/projects/mlx-tests/deployments/face/versions/v1/revisions/rev-1',
      'GET /v2.1/projects/mlx-tests/deployments/face/versions/v1/revisions/rev-1',
      'GET /v2.1/projects/mlx-tests/deployments/face/versions/v1',
      'POST /v2.1/projects/mlx-tests/buckets/default/files/mlx/face/v1/image.jpg',
      'POST /v2.1/projects/mlx-tests/deployments/face/versions/v1/requests',
    ])
    expect(fake.calls.every((c) => c.method === 'PUT' || c.auth === `Token ${TOKEN}`)).toBe(true)
    const create = fake.calls.find((c) => c.method === 'POST' && c.path.endsWith('/deployments'))!.body
    expect(create).toMatchObject({ name: 'face', input_type: 'structured', output_type: 'structured', input_fields: faceFields.input, output_fields: faceFields.output })
    const version = fake.calls.find((c) => c.method === 'POST' && c.path.endsWith('/versions'))!.body
    expect(version).toMatchObject({ version: 'v1', environment: 'python3-12', instance_type_group_name: '2048 MB + 0.5 vCPU', minimum_instances: 0, maximum_idle_time: 300 })
    expect(fake.deployments.get('face')!.default_version).toBe('v1')
    // The token is never printed or recorded.
    const recorded = await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')
    for (const text of [r.stdout, r.stderr, recorded]) expect(text).not.toContain(TOKEN)
  }, 240_000)

  it('package: one deployment_package/ root with deployment.py, specs, ubiops.yaml (NodeSource), requirements.txt and the bundle; never .git, .env or .mlxignore matches', async () => {
    const names = (await listZip(zip)).map((e) => e.name)
    expect(new Set(names.map((n) => n.split('/')[0]))).toEqual(new Set(['deployment_package']))
    for (const f of ['deployment.py', 'requirements.txt', 'ubiops.yaml', 'mlx_ubiops.json', 'predict_input_spec.json', 'predict_output_spec.json', 'detect_input_spec.json', 'app/server.mjs', 'app/mlx.yaml', 'app/models/ultraface/version-RFB-320.onnx', 'app/models/age_gender/age_gender_model.bin', 'app/node_modules/onnxruntime-node/package.json']) {
      expect(names).toContain(`deployment_package/${f}`)
    }
    expect(names.some((n) => /\/\.env$|\/\.git\/|\.ipynb$|\.mlxignore$/.test(n))).toBe(false)
    expect(names).toContain('deployment_package/app/src/predict.ts')
    const unpacked = await mkdtemp(path.join(os.tmpdir(), 'mlx-ubiops-unzip-'))
    temps.push(unpacked)
    const r = await python(`import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])`, [zip, unpacked])
    expect(r.code, r.stderr).toBe(0)
    const base = path.join(unpacked, 'deployment_package')
    expect(JSON.parse(await readFile(path.join(base, 'predict_input_spec.json'), 'utf8'))).toEqual({ input_type: 'structured', input_fields: faceFields.input })
    expect(JSON.parse(await readFile(path.join(base, 'predict_output_spec.json'), 'utf8'))).toEqual({ output_type: 'structured', output_fields: faceFields.output })
    const yaml = await readFile(path.join(base, 'ubiops.yaml'), 'utf8')
    expect(yaml).toContain('https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key')
    expect(yaml).toContain('deb https://deb.nodesource.com/node_24.x nodistro main')
    expect(yaml).toMatch(/packages:\n\s+- nodejs/)
    expect(await readFile(path.join(base, 'deployment.py'), 'utf8')).not.toMatch(/^import (?!atexit|base64|collections|json|os|shutil|socket|subprocess|sys|threading|time|urllib)/m)
  })

  it('deployment.py, imported by python3 as UbiOps does: the astronaut photo gives one face (also in a batch); a corrupt image, a missing field and a wrong path give clear errors', async () => {
    const unpacked = await mkdtemp(path.join(os.tmpdir(), 'mlx-ubiops-py-'))
    temps.push(unpacked)
    await python(`import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])`, [zip, unpacked])
    const broken = path.join(unpacked, 'broken.jpg')
    await writeFile(broken, (await readFile(PHOTO)).subarray(0, 40_000))
    const requests = [{ image: PHOTO }, { image: broken }, {}, { image: path.join(unpacked, 'nope.jpg') }, { image: PHOTO, extra: 1 }]
    const batches = [[{ image: PHOTO }, { image: PHOTO }], [{ image: PHOTO }, {}]]
    const r = await python(DRIVE, [path.join(unpacked, 'deployment_package'), JSON.stringify(requests), JSON.stringify(batches)], { MLX_NODE: process.execPath })
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(0)
    const results = JSON.parse(/RESULTS (.*)/.exec(r.stdout)![1]!) as { ok?: { faces: string; count: number }; error?: string; message?: string }[]
    const first = results[0]!.ok!
    expect(first.count).toBe(1)
    const faces = JSON.parse(first.faces) as { box: { x: number; y: number; width: number; height: number }; score: number; age: number; gender: string }[]
    expect(faces).toHaveLength(1)
    expect(faces[0]!.box.x).toBeGreaterThan(150)
    expect(faces[0]!.box.x).toBeLessThan(210)
    expect(faces[0]!.score).toBeGreaterThan(0.9)
    expect(faces[0]!.age).toBeGreaterThan(15)
    expect(results[1]).toMatchObject({ error: 'InputError' })
    expect(results[1]!.message).toMatch(/HTTP 422.*image.*not a usable image.*corrupt or truncated/)
    expect(results[2]).toEqual({ error: 'InputError', message: 'input field(s) missing: image' })
    expect(results[3]!.message).toMatch(/input field 'image' must be a file; .*nope\.jpg.* is not a readable file/)
    expect(results[4]!.message).toMatch(/unknown input field\(s\): extra/)
    // A batch (UbiOps' requests()) answers one result per item; a bad item names its index.
    const batchResults = JSON.parse(/BATCHES (.*)/.exec(r.stdout)![1]!) as { ok?: { count: number }[]; error?: string; message?: string }[]
    expect(batchResults[0]!.ok!.map((o) => o.count)).toEqual([1, 1])
    expect(batchResults[1]).toEqual({ error: 'InputError', message: 'item 1 of the batch: input field(s) missing: image' })
    // UbiOps logs what the server prints: the Node server's lines come through, prefixed.
    expect(r.stdout).toMatch(/mlx: ready on http:\/\/127\.0\.0\.1:\d+/)
  }, 120_000)

  it('deployment.py names the fix when node cannot be found', async () => {
    const unpacked = await mkdtemp(path.join(os.tmpdir(), 'mlx-ubiops-nonode-'))
    temps.push(unpacked)
    await python(`import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])`, [zip, unpacked])
    const r = await python(DRIVE, [path.join(unpacked, 'deployment_package'), '[]'], { MLX_NODE: path.join(unpacked, 'no-node') })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/MLX_NODE=.*no-node is not an executable file/)
  })

  it('a project already holding 5 versions: v6 is created after the oldest non-default one (v2) is deleted, and v6 becomes the default', async () => {
    fake.reset()
    fake.seed('face', faceFields, ['v1', 'v2', 'v3', 'v4', 'v5'], 'v1')
    const { ctx, log } = await context({ localCheck: 'structure' })
    const d = await ubiopsTarget.deploy(artifact, ctx)
    expect(d).toMatchObject({ version: 'v6', status: 'ready', details: { deleted: ['v2'], previousDefault: 'v1', default: true } })
    const dep = fake.deployments.get('face')!
    expect(dep.versions.map((v) => v.version)).toEqual(['v1', 'v3', 'v4', 'v5', 'v6'])
    expect(dep.default_version).toBe('v6')
    const order = fake.calls.map((c) => `${c.method} ${c.path}`)
    const del = order.findIndex((c) => c.startsWith('DELETE') && c.endsWith('/versions/v2'))
    expect(del).toBeGreaterThan(-1)
    expect(del).toBeLessThan(order.findIndex((c) => c.startsWith('POST') && c.endsWith('/versions')))
    expect(order.at(-1)).toMatch(/^PATCH .*\/deployments\/face$/)
    expect(fake.calls.at(-1)!.body).toEqual({ default_version: 'v6' })
    expect(log.lines.some((l) => /Deleting version v2 .*oldest that is not the default/.test(l))).toBe(true)
  })

  it('a zip that fails local validation touches nothing on UbiOps, even with 5 versions there', async () => {
    fake.reset()
    fake.seed('face', faceFields, ['v1', 'v2', 'v3', 'v4', 'v5'], 'v5')
    const bad = path.join(await mkdtemp(path.join(os.tmpdir(), 'mlx-ubiops-bad-')), 'face.zip')
    temps.push(path.dirname(bad))
    await copyFile(zip, bad)
    await truncate(bad, 1000)
    const { ctx } = await context({ localCheck: 'structure' })
    const err = await ubiopsTarget.deploy({ ...artifact, paths: { zip: bad } }, ctx).catch((e: unknown) => e)
    expect(isMlxError(err) && err.code).toBe('BUNDLE_FAILED')
    expect(String((err as Error).message)).toMatch(/not a readable zip/)
    expect(fake.calls).toEqual([])
    expect(fake.deployments.get('face')!.versions).toHaveLength(5)
  })

  it('a failing build surfaces error_message; the default version is untouched and nothing is promoted', async () => {
    fake.reset()
    fake.seed('face', faceFields, ['v1'], 'v1')
    fake.buildOutcome = { status: 'failed', error_message: 'E: Unable to locate package nodejs' }
    const { ctx, log } = await context({ localCheck: 'structure' })
    const err = await ubiopsTarget.deploy(artifact, ctx).catch((e: unknown) => e)
    expect(isMlxError(err) && err.code).toBe('DEPLOY_FAILED')
    expect((err as Error).message).toBe('the UbiOps build of face/v2 failed: E: Unable to locate package nodejs')
    expect((err as { hint: string }).hint).toMatch(/default version, v1, was not changed/)
    expect(fake.deployments.get('face')!.default_version).toBe('v1')
    expect(fake.calls.some((c) => c.method === 'PATCH' || c.method === 'DELETE')).toBe(false)
    expect(log.lines.map((l) => l.trim()).filter((l) => l.startsWith('build face/v2:'))).toEqual(['build face/v2: queued', 'build face/v2: building', 'build face/v2: failed'])
  })

  it('429s: Retry-After is honoured with bounded retries; past them the error says rate limit', async () => {
    fake.reset()
    fake.seed('face', faceFields, ['v1'], 'v1')
    fake.fail('POST', /\/versions$/, 429, 2, '0')
    const { ctx, log } = await context({ localCheck: 'structure', testRequest: false })
    const d = await ubiopsTarget.deploy(artifact, ctx)
    expect(d.version).toBe('v2')
    expect(log.lines.filter((l) => /versions: rate limited \(429\); retry \d/.test(l))).toHaveLength(2)
    fake.reset()
    fake.seed('face', faceFields, ['v1'], 'v1')
    fake.fail('GET', /\/versions$/, 429, 10)
    const { ctx: ctx2 } = await context({ localCheck: 'structure', retries: 2 })
    const err = await ubiopsTarget.deploy(artifact, ctx2).catch((e: unknown) => e)
    expect((err as Error).message).toMatch(/GET \/v2\.1\/projects\/mlx-tests\/deployments\/face\/versions: HTTP 429: Too many requests/)
    expect((err as { hint: string }).hint).toMatch(/rate-limiting/)
    expect(fake.calls.filter((c) => c.method === 'GET' && c.path.endsWith('/versions'))).toHaveLength(3)
  })

  it('the retry rules as docs/ubiops.md states them: a plain 500 is retried on a GET and on the PATCH of the default, not on a POST; a 501 never is', async () => {
    fake.reset()
    fake.seed('face', faceFields, ['v1'], 'v1')
    fake.fail('GET', /\/versions$/, 500, 1)
    fake.fail('PATCH', /\/deployments\/face$/, 500, 1)
    const { ctx } = await context({ localCheck: 'structure' })
    const d = await ubiopsTarget.deploy(artifact, ctx)
    expect(d).toMatchObject({ version: 'v2', details: { default: true, retried: 2 } })
    const count = (method: string, p: RegExp) => fake.calls.filter((c) => c.method === method && p.test(c.path.replace(/\?.*/, ''))).length
    expect(count('GET', /\/deployments\/face\/versions$/)).toBe(2)
    expect(count('PATCH', /\/deployments\/face$/)).toBe(2)

    fake.reset()
    fake.seed('face', faceFields, ['v1'], 'v1')
    fake.fail('POST', /\/versions$/, 500, 1)
    const err = await ubiopsTarget.deploy(artifact, ctx).catch((e: unknown) => e)
    expect((err as Error).message).toMatch(/^UbiOps POST \/v2\.1\/projects\/mlx-tests\/deployments\/face\/versions: HTTP 500: injected failure$/)
    expect(count('POST', /\/deployments\/face\/versions$/)).toBe(1)

    fake.reset()
    fake.seed('face', faceFields, ['v1'], 'v1')
    fake.fail('GET', /\/versions$/, 501, 1)
    const err501 = await ubiopsTarget.deploy(artifact, ctx).catch((e: unknown) => e)
    expect((err501 as Error).message).toMatch(/versions: HTTP 501/)
    expect(count('GET', /\/deployments\/face\/versions$/)).toBe(1)
  })

  it('a failed test request leaves the previous default in place; an existing deployment with other fields is refused before any change', async () => {
    fake.reset()
    fake.seed('face', faceFields, ['v1'], 'v1')
    fake.answer = () => ({ status: 'failed', error_message: 'InputError: bad input' })
    const { ctx } = await context({ localCheck: 'structure' })
    const err = await ubiopsTarget.deploy(artifact, ctx).catch((e: unknown) => e)
    expect((err as Error).message).toBe('the test request to face/v2 failed: InputError: bad input')
    expect(fake.deployments.get('face')!.default_version).toBe('v1')

    fake.reset()
    fake.seed('face', { input: [{ name: 'photo', data_type: 'file' }], output: faceFields.output }, ['v1'], 'v1')
    const err2 = await ubiopsTarget.deploy(artifact, ctx).catch((e: unknown) => e)
    expect((err2 as Error).message).toMatch(/has input \[photo:file\].*needs input \[image:file\]/)
    expect(fake.calls.filter((c) => c.method !== 'GET')).toEqual([])
  })

  it('dry-run plan lists the calls (with the version to delete) and never the token; rollback moves the default back', async () => {
    fake.reset()
    fake.seed('face', faceFields, ['v1', 'v2', 'v3', 'v4', 'v5'], 'v4')
    const { ctx } = await context()
    const plan = await ubiopsTarget.plan(artifact, ctx)
    const text = plan.steps.map((s) => `${s.action}: ${s.detail}`).join('\n')
    expect(text).toMatch(/delete version: DELETE .*\/deployments\/face\/versions\/v1 /)
    expect(text).toMatch(/create version: POST .*\/versions \{version: v6/)
    expect(text).toMatch(/upload: POST .*\/versions\/v6\/revisions \(multipart/)
    expect(text).toMatch(/set default: PATCH .*\{default_version: v6\}/)
    expect(text).not.toContain(TOKEN)
    expect(fake.calls.every((c) => c.method === 'GET')).toBe(true)

    const { ctx: rb } = await context({}, {})
    const back = await ubiopsTarget.rollback!({ ref: 'v2' }, rb)
    expect(back).toMatchObject({ version: 'v2', details: { previousDefault: 'v4' } })
    expect(fake.deployments.get('face')!.default_version).toBe('v2')
    const missing = await ubiopsTarget.rollback!({ ref: 'v9' }, rb).catch((e: unknown) => e)
    expect((missing as Error).message).toMatch(/version v9 of face no longer exists/)
  })

  it('credentials and project are required, with hints', async () => {
    const { ctx } = await context({}, { UBIOPS_API_TOKEN: '' })
    const err = await ubiopsTarget.deploy(artifact, ctx).catch((e: unknown) => e)
    expect(isMlxError(err) && err.code).toBe('CREDENTIALS_MISSING')
    const { ctx: c2 } = await context({}, { UBIOPS_PROJECT: '' })
    const err2 = await ubiopsTarget.deploy(artifact, c2).catch((e: unknown) => e)
    expect((err2 as Error).message).toMatch(/no UbiOps project: set targets.ubiops.project/)
  })

  it('specs follow the declared schemas of the other examples; what has no UbiOps type is an error naming the field', async () => {
    const opts = { jsonFields: [], outputField: 'output' }
    const taxi = await loadProject(path.join(ROOT, 'examples/taxifare'))
    const fare = endpointPlan(taxi.endpoints.find((e) => e.name === 'predict')!, taxi, opts)
    expect(fare).toMatchObject({ method: 'GET', body: 'query', output: 'object', output_fields: [{ name: 'fare', data_type: 'double' }] })
    expect(fare.input_fields).toContainEqual({ name: 'passcount', data_type: 'int' })
    expect(fare.input_fields).toContainEqual({ name: 'pickup_datetime', data_type: 'string' })
    const names = await loadProject(path.join(ROOT, 'examples/names'))
    const lang = endpointPlan(names.endpoints.find((e) => e.name === 'get_prediction')!, names, opts)
    expect(lang).toMatchObject({ body: 'row', required: ['name'], output_fields: [{ name: 'predictions', data_type: 'array_string' }, { name: 'probabilities', data_type: 'array_double' }] })
    const titanic = await loadProject(path.join(ROOT, 'examples/titanic'))
    const surv = endpointPlan(titanic.endpoints[0]!, titanic, opts)
    expect(surv).toMatchObject({ output: 'single', output_fields: [{ name: 'output', data_type: 'array_double' }] })
    const classifier = await loadProject(path.join(ROOT, 'examples/classifier'))
    const predict = classifier.endpoints.find((e) => e.name === 'predict')!
    const err = (() => {
      try {
        endpointPlan(predict, classifier, opts)
      } catch (e) {
        return e as Error & { hint: string }
      }
    })()
    expect(err?.message).toMatch(/endpoints\.predict\.input\.schema\.properties\.inputs: 'inputs' is an array of objects/)
    expect(err?.hint).toMatch(/add 'inputs' to targets\.ubiops\.jsonFields/)
    const err2 = (() => {
      try {
        endpointPlan(predict, classifier, { ...opts, jsonFields: ['inputs'] })
      } catch (e) {
        return e as Error
      }
    })()
    expect(err2?.message).toMatch(/output\.schema\.properties\.errors: 'errors' is always null/)
    expect(endpointPlan(predict, classifier, { ...opts, jsonFields: ['inputs', 'errors'] }).input_fields).toEqual([{ name: 'inputs', data_type: 'string' }])
  })
})
