// The cloudrun target end to end with the real CLI and real clients: @google-cloud/run over REST
// (fallback: true) and google-auth-library's Application Default Credentials (the metadata-server
// step, found through GCE_METADATA_HOST) against test/support/cloudrun/fake-run.ts, which speaks
// the documented v2 REST paths, LRO JSON and IAM calls and checks what it gets; the image is pushed
// for real to the shared docker-registry standing in for Artifact Registry.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { copyExample, freePort, mlx, type Run } from './support/cli.js'
import { startFakeCloud, type FakeCloud } from './support/cloudrun/fake-run.js'

const json = <T>(r: Run): T => {
  if (r.code !== 0) throw new Error(`mlx exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

interface DeployOut {
  url: string
  revision: string
  digest: string
  deployment: { revision: string; url: string; digest: string; details: { image: string; public: boolean; service: string } }
}

describe('cloudrun target: Artifact Registry push + Cloud Run v2 service, against a local Google API', () => {
  let fake: FakeCloud
  let dir: string
  let home: string
  let registry: string
  const SERVICE = 'projects/mlx-test-project/locations/europe-west1/services/taxifare'
  const outputs: string[] = []

  /** The environment a user on GCE would have: ADC from the metadata server, nothing else set. */
  const adcEnv = () => ({ GCE_METADATA_HOST: fake.host, HOME: home, CLOUDSDK_CONFIG: path.join(home, 'gcloud'), GOOGLE_APPLICATION_CREDENTIALS: '', GOOGLE_CLOUD_PROJECT: '', CLOUDSDK_CORE_PROJECT: '' })
  const run = async (args: string[], env: Record<string, string> = adcEnv()) => {
    const r = await mlx([...args, '--base', inject('baseImage')].filter((a) => !(args[0] === 'rollback' && (a === '--base' || a === inject('baseImage')))), { env })
    outputs.push(r.stdout, r.stderr)
    return r
  }

  beforeAll(async () => {
    if (inject('registryMissing')) throw new Error(inject('registryMissing'))
    registry = inject('registry')
    fake = await startFakeCloud({ registry })
    home = await mkdtemp(path.join(os.tmpdir(), 'mlx-cloudrun-home-'))
    // Artifact Registry's path shape (HOST/PROJECT/REPOSITORY), on the local registry.
    dir = await copyExample('taxifare', (y) =>
      [
        y.trimEnd(),
        `    apiEndpoint: http://${fake.host}`,
        `    registry: ${registry}/mlx-test-project/mlx`,
        '    retryBaseMs: 5',
        '    env: { LOG_FORMAT: json }',
        "    secrets: { API_KEY: 'taxi-api-key:3' }",
        'environments:',
        '  big:',
        '    targets:',
        '      cloudrun:',
        '        memory: 1Gi',
        '        minInstances: 1',
        '',
      ].join('\n'),
    )
  }, 60_000)

  afterAll(async () => {
    await fake?.close()
    for (const d of [dir, home]) if (d) await rm(d, { recursive: true, force: true })
  })

  it('without credentials: deploy fails naming Application Default Credentials and the fixes; the package step already wrote service.yaml (Knative) and service.json (v2), image by digest', async () => {
    // Nothing configured: no GOOGLE_APPLICATION_CREDENTIALS, no gcloud file, no metadata server.
    const noAdc = { ...adcEnv(), GCE_METADATA_HOST: `127.0.0.1:${await freePort()}` }
    const r = await run(['deploy', dir, '--target', 'cloudrun'], noAdc)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('error[CREDENTIALS_MISSING]')
    expect(r.stderr).toContain('Application Default Credentials')
    expect(r.stderr).toContain('gcloud auth application-default login')
    expect(r.stderr).toContain('GOOGLE_APPLICATION_CREDENTIALS')
    expect(fake.runCalls()).toEqual([])

    // `mlx package --target cloudrun` is this same step (flow.ts packageProject), without the network.
    const digest = /image\s+(sha256:[a-f0-9]{64})/.exec(r.stderr)![1]!
    const out = { digest, paths: { service: path.join(dir, '.mlx/cloudrun/service.yaml'), spec: path.join(dir, '.mlx/cloudrun/service.json') } }
    const image = `${registry}/mlx-test-project/mlx/taxifare@${out.digest}`

    const yamlText = await readFile(out.paths.service!, 'utf8')
    expect(yamlText).toContain('# gcloud run services replace service.yaml --region europe-west1')
    const ksvc = parseYaml(yamlText) as { apiVersion: string; kind: string; metadata: { name: string; annotations: Record<string, string> }; spec: { template: { metadata: { annotations: Record<string, string> }; spec: { containerConcurrency: number; containers: Record<string, unknown>[] } }; traffic: unknown[] } }
    expect(ksvc.apiVersion).toBe('serving.knative.dev/v1')
    expect(ksvc.kind).toBe('Service')
    expect(ksvc.metadata.name).toBe('taxifare')
    expect(ksvc.metadata.annotations['run.googleapis.com/ingress']).toBe('all')
    expect(ksvc.spec.template.metadata.annotations).toMatchObject({ 'autoscaling.knative.dev/minScale': '0', 'autoscaling.knative.dev/maxScale': '5' })
    expect(ksvc.spec.template.spec.containerConcurrency).toBe(80)
    expect(ksvc.spec.template.spec.containers[0]).toMatchObject({
      image,
      ports: [{ name: 'http1', containerPort: 8080 }],
      resources: { limits: { cpu: '1', memory: '512Mi' } },
      startupProbe: { httpGet: { path: '/readyz', port: 8080 } },
      livenessProbe: { httpGet: { path: '/healthz', port: 8080 } },
      env: [{ name: 'LOG_FORMAT', value: 'json' }, { name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'taxi-api-key', key: '3' } } }],
    })
    expect(ksvc.spec.traffic).toEqual([{ latestRevision: true, percent: 100 }])

    const svc = JSON.parse(await readFile(out.paths.spec!, 'utf8')) as Record<string, any>
    expect(svc.name).toBe(SERVICE.replace('mlx-test-project', 'PROJECT_ID')) // the project comes from ADC at deploy time
    expect(svc.template.containers[0].image).toBe(image)
    expect(svc.template.containers[0].env[1]).toEqual({ name: 'API_KEY', valueSource: { secretKeyRef: { secret: 'taxi-api-key', version: '3' } } })
    expect(svc.template.scaling).toEqual({ minInstanceCount: 0, maxInstanceCount: 5 })
    expect(svc.traffic).toEqual([{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 }])
    const history = JSON.parse(await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')) as { deployments: { status: string }[] }
    expect(history.deployments.at(-1)?.status).toBe('failed')
  })

  let first: DeployOut
  it('deploy: pushes to the registry with the ADC token, creates the service, waits for ready, makes it public, prints URL, revision and curls', async () => {
    const from = fake.requests.length
    const r = await run(['deploy', dir, '--target', 'cloudrun'])
    expect(r.code, r.stderr).toBe(0)
    const url = fake.services.get(SERVICE)!.uri
    expect(r.stdout).toContain(`is live on cloudrun: ${url}`)
    expect(r.stdout).toContain(`curl '${url}/predict?pickup_datetime=`)
    expect(r.stderr).toMatch(/revision taxifare-00001-\w+ serves 100% of traffic/)

    const calls = fake.runCalls(from)
    expect(calls.every((c) => c.authorized)).toBe(true)
    const seq = calls.map((c) => `${c.method} ${c.path.replace(/op-\d+/, 'op')}`)
    // Reads of the service first (NOT_FOUND: so create), then the create, its LRO, the read-back, IAM.
    while (seq[1] === `GET /v2/${SERVICE}`) seq.shift()
    expect(seq).toEqual([
      `GET /v2/${SERVICE}`,
      `POST /v2/projects/mlx-test-project/locations/europe-west1/services`,
      'GET /v2/projects/mlx-test-project/locations/europe-west1/operations/op',
      'GET /v2/projects/mlx-test-project/locations/europe-west1/operations/op',
      `GET /v2/${SERVICE}`,
      `GET /v2/${SERVICE}:getIamPolicy`,
      `POST /v2/${SERVICE}:setIamPolicy`,
    ])
    const create = calls.find((c) => c.method === 'POST')!
    expect(create.query.serviceId).toBe('taxifare')
    const body = create.body as Record<string, any>
    const c = body.template.containers[0]
    // Image by digest in the Artifact Registry path; the revision (fake) checked it was pushed.
    expect(c.image).toMatch(new RegExp(`^${registry}/mlx-test-project/mlx/taxifare@sha256:[a-f0-9]{64}$`))
    expect(c.ports).toEqual([{ name: 'http1', containerPort: 8080 }])
    expect(c.startupProbe.httpGet.path).toBe('/readyz')
    expect(c.livenessProbe.httpGet.path).toBe('/healthz')
    expect(c.resources.limits).toEqual({ cpu: '1', memory: '512Mi' })
    expect(c.env).toEqual([{ name: 'LOG_FORMAT', value: 'json' }, { name: 'API_KEY', valueSource: { secretKeyRef: { secret: 'taxi-api-key', version: '3' } } }])
    expect(body.template.scaling).toEqual({ minInstanceCount: 0, maxInstanceCount: 5 })
    expect(body.template.maxInstanceRequestConcurrency).toBe(80)
    expect(body.template.labels).toMatchObject({ 'managed-by': 'mlx', 'mlx-version': '1-0-0' })
    expect(body.traffic).toEqual([{ type: 1, percent: 100 }]) // TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, numeric enums over REST
    expect(calls.find((c) => c.path.endsWith(':setIamPolicy'))!.body).toMatchObject({ policy: { bindings: [{ role: 'roles/run.invoker', members: ['allUsers'] }] } })

    // Artifact Registry login: user oauth2accesstoken + the ADC token (the registry takes any; the
    // token was fetched from the metadata server with the cloud-platform scope).
    expect(fake.requests.some((q) => q.path === '/computeMetadata/v1/instance/service-accounts/default/token')).toBe(true)
    const manifest = await fetch(`http://${registry}/v2/mlx-test-project/mlx/taxifare/manifests/1.0.0`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
    expect(manifest.status).toBe(200)

    const history = JSON.parse(await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')) as { deployments: DeployOut['deployment'][] }
    const d = history.deployments.at(-1)!
    expect(d.url).toBe(url)
    expect(d.revision).toBe(fake.serving(SERVICE))
    expect(d.details.public).toBe(true)
    expect(d.details.image).toBe(c.image)
    first = { url, revision: d.revision, digest: d.digest, deployment: d }
  })

  it('an update under --env (memory 1Gi, one warm instance) PATCHes with the etag, makes a new revision and leaves the IAM policy alone', async () => {
    const from = fake.requests.length
    const r = await run(['deploy', dir, '--target', 'cloudrun', '--env', 'big', '--json'])
    const out = json<DeployOut>(r)
    expect(out.revision).toMatch(/^taxifare-00002-/)
    expect(out.url).toBe(first.url)
    expect(fake.serving(SERVICE)).toBe(out.revision)
    const calls = fake.runCalls(from)
    const patch = calls.find((c) => c.method === 'PATCH')!
    expect(patch.path).toBe(`/v2/${SERVICE}`)
    expect((patch.body as any).etag).toBeTruthy() // optimistic concurrency
    expect((patch.body as any).template.containers[0].resources.limits.memory).toBe('1Gi')
    expect(calls.some((c) => c.path.endsWith(':setIamPolicy'))).toBe(false) // already public: policy untouched
  })

  it('a revision that fails to start: the condition message is printed and the previous revision keeps serving', async () => {
    const before = fake.serving(SERVICE)
    fake.failNextRevision('The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable.')
    const r = await run(['deploy', dir, '--target', 'cloudrun'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('error[DEPLOY_FAILED]')
    expect(r.stderr).toMatch(/did not make revision taxifare-00003-\w+ ready: .*failed to start and listen on the port/)
    expect(r.stderr).toContain(`Revision ${before} keeps serving; traffic was not moved.`)
    expect(r.stderr).toContain('gcloud run revisions logs read taxifare-00003-')
    expect(fake.serving(SERVICE)).toBe(before)
  })

  it('rollback moves traffic to the previous ready revision (skipping the failed one), --to picks one, bad names are refused', async () => {
    const r = await run(['rollback', dir, '--target', 'cloudrun', '--json'])
    const out = json<{ revision: string; url: string; version: string }>(r)
    expect(out.revision).toBe(first.revision)
    expect(out.version).toBe('1.0.0')
    expect(fake.serving(SERVICE)).toBe(first.revision)
    const patch = fake.runCalls().filter((c) => c.method === 'PATCH').at(-1)!
    expect((patch.body as any).traffic).toEqual([{ type: 2, revision: first.revision, percent: 100 }])

    const failed = [...fake.services.get(SERVICE)!.revisions].find((x) => !x.ready)!.name.split('/').pop()!
    const notReady = await run(['rollback', dir, '--target', 'cloudrun', '--to', failed])
    expect(notReady.code).not.toBe(0)
    expect(notReady.stderr).toContain(`revision ${failed} is not ready`)
    const missing = await run(['rollback', dir, '--target', 'cloudrun', '--to', 'taxifare-09999-zzz'])
    expect(missing.stderr).toContain('revision taxifare-09999-zzz does not exist')
    expect(fake.serving(SERVICE)).toBe(first.revision)

    const second = fake.services.get(SERVICE)!.revisions[1]!.name.split('/').pop()!
    const to = json<{ revision: string }>(await run(['rollback', dir, '--target', 'cloudrun', '--to', second, '--json']))
    expect(to.revision).toBe(second)
    expect(fake.serving(SERVICE)).toBe(second)
  })

  it('deploy after a rollback keeps the pinned revision serving until the new one is ready, then moves traffic; 429s are retried', async () => {
    const pinned = fake.serving(SERVICE)
    fake.throttle(2)
    const from = fake.requests.length
    const r = await run(['deploy', dir, '--target', 'cloudrun'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/throttled or unavailable \(RESOURCE_EXHAUSTED\); retry 1 in/) // the context's retry line
    const history = JSON.parse(await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')) as { deployments: DeployOut['deployment'][] }
    const out = history.deployments.at(-1)!
    // the last attempt failed, so the same template gets a fresh revision name
    expect(out.revision).toMatch(/^taxifare-mlx-[a-z0-9]+$/)
    expect(fake.serving(SERVICE)).toBe(out.revision)
    const patches = fake.runCalls(from).filter((c) => c.method === 'PATCH').map((c) => (c.body as any).traffic)
    expect(patches).toEqual([[{ type: 2, revision: pinned, percent: 100 }], [{ type: 1, percent: 100 }]])
  })

  it('never prints or writes an access token', async () => {
    expect(fake.tokens.length).toBeGreaterThan(0)
    const files: string[] = []
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory() && e.name !== 'blobs' && e.name !== 'node_modules') await walk(path.join(d, e.name))
        else if (e.isFile() && /\.(json|yaml|log|txt)$|Dockerfile/.test(e.name)) files.push(await readFile(path.join(d, e.name), 'utf8'))
      }
    }
    await walk(path.join(dir, '.mlx'))
    for (const t of fake.tokens) {
      for (const o of [...outputs, ...files]) expect(o.includes(t)).toBe(false)
    }
  })
})

describe('cloudrun package without a reachable base image', () => {
  it('still writes service.yaml and service.json (image by tag); deploy then stops on the base, naming it, before any Google call', async () => {
    // A registry port nothing listens on: the base image cannot be read, as with no network.
    const dir = await copyExample('taxifare', (y) => `${y}  docker:\n    retries: 0\n`)
    try {
      const base = '127.0.0.1:9/library/node:20'
      const pkg = await mlx(['package', dir, '--target', 'cloudrun', '--base', base])
      expect(pkg.code, pkg.stderr).toBe(0)
      expect(pkg.stderr).toMatch(/the image was not built .*127\.0\.0\.1:9.*mlx deploy` will need the base image/)
      // PROJECT_ID is the placeholder project (ADC names it at deploy time), lower-cased as image names are.
      const byTag = 'europe-west1-docker.pkg.dev/project_id/mlx/taxifare:1.0.0'
      const ksvc = parseYaml(await readFile(path.join(dir, '.mlx/cloudrun/service.yaml'), 'utf8')) as { spec: { template: { spec: { containers: { image: string }[] } } } }
      expect(ksvc.spec.template.spec.containers[0]!.image).toBe(byTag)
      const svc = JSON.parse(await readFile(path.join(dir, '.mlx/cloudrun/service.json'), 'utf8')) as { template: { containers: { image: string }[] } }
      expect(svc.template.containers[0]!.image).toBe(byTag)

      // No ADC is configured either: the base is the first thing deploy reports.
      const dep = await mlx(['deploy', dir, '--target', 'cloudrun', '--base', base], { env: { GOOGLE_APPLICATION_CREDENTIALS: path.join(dir, 'none.json') } })
      expect(dep.code).toBe(1)
      expect(dep.stderr).toMatch(/error\[BUNDLE_FAILED\]: could not build the image: .*127\.0\.0\.1:9/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
