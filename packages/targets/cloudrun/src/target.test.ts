// The parts of the cloudrun target that need no image: the specs it writes, the plan (dry-run)
// against a live service, API retries. The real @google-cloud/run client and google-auth-library
// talk to test/support/cloudrun/fake-run.ts; test/cloudrun.test.ts runs the whole CLI flow.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTargetContext, defaultServices, loadProject, silentLogger, type Artifact, type Clock, type ImageHandle, type Project, type TargetServices } from '@mlx/core'
import { startFakeCloud, type FakeCloud } from '../../../../test/support/cloudrun/fake-run.js'
import { applicationDefault } from './auth.js'
import { CloudRunApi } from './api.js'
import { endpointOptions, serviceIdFor, type CloudRunConfig } from './config.js'
import { knativeService, secretRef, serviceSpec } from './spec.js'
import { cloudrunTarget } from './target.js'
import { stringify as toYaml } from 'yaml'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..')
const DIGEST = `sha256:${'ab'.repeat(32)}`

// The image core would have built at package time: the plan names it by this digest.
const image: ImageHandle = {
  platform: 'linux/amd64',
  port: 8080,
  built: { digest: DIGEST, platform: 'linux/amd64', port: 8080, tags: ['1.0.0'], paths: { layout: '/nonexistent/oci', dockerfile: '/nonexistent/Dockerfile', context: '/nonexistent/context' }, details: {} },
  files: { dockerfile: '/nonexistent/Dockerfile', context: '/nonexistent/context' },
}

function context(project: Project, cfg: Record<string, unknown>, services?: TargetServices) {
  const withCfg = { ...project, targets: { cloudrun: cfg } } as Project
  return createTargetContext<CloudRunConfig>({ project: withCfg, target: cloudrunTarget, log: silentLogger, outDir: '/nonexistent', image, services })
}
const artifact: Artifact<{ modelDigest: string; service: string; region: string }> = { target: 'cloudrun', version: '1.0.0', digest: DIGEST, paths: {}, details: { modelDigest: DIGEST, service: 'taxifare', region: 'europe-west1' } }

describe('cloudrun specs', () => {
  let project: Project
  beforeAll(async () => {
    project = await loadProject(path.join(ROOT, 'examples/taxifare'))
  })

  it('the v2 Service and its Knative twin carry the same settings; secrets are references only', () => {
    const cfg = context(project, { region: 'europe-west1', cpu: '2', memory: '2Gi', concurrency: 10, ingress: 'internal', env: { A: 'x:y', B: 'true' }, secrets: { TOKEN: 'projects/p/secrets/tok/versions/2', KEY: { secret: 'k' } } }).config
    const spec = serviceSpec({ cfg, image: `r/i@${DIGEST}`, projectName: 'Taxi Fare', version: '1.0.0+b1', modelDigest: DIGEST })
    expect(spec.ingress).toBe('INGRESS_TRAFFIC_INTERNAL_ONLY')
    expect(spec.template.scaling).toEqual({ minInstanceCount: 0 }) // no max: Cloud Run's default
    expect(spec.template.labels).toMatchObject({ 'mlx-project': 'taxi-fare', 'mlx-version': '1-0-0-b1', 'mlx-model': 'ab'.repeat(6) })
    expect(spec.template.containers[0]!.env).toEqual([
      { name: 'A', value: 'x:y' },
      { name: 'B', value: 'true' },
      { name: 'TOKEN', valueSource: { secretKeyRef: { secret: 'projects/p/secrets/tok', version: '2' } } },
      { name: 'KEY', valueSource: { secretKeyRef: { secret: 'k', version: 'latest' } } },
    ])
    const yaml = parseYaml(toYaml(knativeService(spec, 'taxifare', cfg))) as any
    expect(yaml.metadata.annotations['run.googleapis.com/ingress']).toBe('internal')
    expect(yaml.spec.template.spec.containerConcurrency).toBe(10)
    expect(yaml.spec.template.spec.containers[0].env.slice(0, 2)).toEqual([{ name: 'A', value: 'x:y' }, { name: 'B', value: 'true' }]) // quoted where YAML would retype
    expect(yaml.spec.template.spec.containers[0].resources).toEqual({ limits: { cpu: '2', memory: '2Gi' } })
    expect(yaml.spec.template.metadata.annotations['autoscaling.knative.dev/maxScale']).toBeUndefined()
  })

  it('names, secret references and API endpoints are parsed as a user writes them', () => {
    expect(serviceIdFor('My_Model 2')).toBe('my-model-2')
    expect(serviceIdFor('3d-net')).toBe('d-net')
    expect(secretRef('db-pass:7')).toEqual({ secret: 'db-pass', version: '7' })
    expect(secretRef('db-pass')).toEqual({ secret: 'db-pass', version: 'latest' })
    expect(endpointOptions('https://europe-west1-run.googleapis.com')).toEqual({ apiEndpoint: 'europe-west1-run.googleapis.com', port: 443, protocol: 'https' })
    expect(endpointOptions('http://127.0.0.1:8123')).toEqual({ apiEndpoint: '127.0.0.1', port: 8123, protocol: 'http' })
    expect(() => endpointOptions('ftp://x')).toThrow(/must be http/)
    expect(() => context(project, { region: 'europe-west1', secrets: { BAD: 'has spaces' } })).toThrow(/targets\.cloudrun\.secrets/)
  })
})

describe('cloudrun plan and API client against a local Cloud Run', () => {
  let fake: FakeCloud
  let project: Project
  const saved = { ...process.env }
  const NAME = 'projects/mlx-test-project/locations/europe-west1/services/taxifare'

  beforeAll(async () => {
    fake = await startFakeCloud({ registry: '127.0.0.1:9' })
    project = await loadProject(path.join(ROOT, 'examples/taxifare'))
  })
  afterAll(async () => {
    process.env = saved
    await fake.close()
  })

  it('without credentials the plan says so and still lists the steps', async () => {
    // A credentials file that is not there is an ADC failure google-auth-library reports at once.
    process.env.GOOGLE_APPLICATION_CREDENTIALS = '/nonexistent/adc.json'
    const plan = await cloudrunTarget.plan(artifact, context(project, { region: 'europe-west1', apiEndpoint: `http://${fake.host}` }))
    expect(plan.steps[0]!.detail).toMatch(/^cannot compare with the live service: no Google Cloud credentials: Application Default Credentials could not be loaded/)
    expect(plan.steps.map((s) => s.action)).toEqual(['note', 'push', 'create-or-update', 'wait', 'iam'])
    expect(plan.steps[1]!.detail).toContain('europe-west1-docker.pkg.dev/project_id/mlx/taxifare') // repository names are lowercase
    expect(fake.runCalls()).toEqual([])
  })

  it('with credentials: "would create", then a field-level diff against the live service', async () => {
    process.env = { ...saved, GCE_METADATA_HOST: fake.host, GOOGLE_APPLICATION_CREDENTIALS: '', GOOGLE_CLOUD_PROJECT: '', HOME: '/nonexistent' }
    const base = { region: 'europe-west1', apiEndpoint: `http://${fake.host}` }
    const create = await cloudrunTarget.plan(artifact, context(project, base))
    expect(create.steps.find((s) => s.action === 'create')?.detail).toBe(`service ${NAME} does not exist: would create it (traffic 100% to the new revision)`)

    const adc = await applicationDefault(undefined)
    expect(adc.project).toBe('mlx-test-project')
    const api = new CloudRunApi(context(project, { ...base, retries: 0, retryBaseMs: 0 }), adc.auth)
    const spec = serviceSpec({ cfg: context(project, base).config, image: `europe-west1-docker.pkg.dev/mlx-test-project/mlx/taxifare@${DIGEST}`, projectName: 'taxifare', version: '1.0.0', modelDigest: DIGEST })
    await (await api.createService('projects/mlx-test-project/locations/europe-west1', 'taxifare', spec))().catch(() => {})
    await api.close()

    const plan = await cloudrunTarget.plan(artifact, context(project, { ...base, memory: '1Gi', env: { MODE: 'fast' } }))
    const changes = plan.steps.filter((s) => s.action === 'change').map((s) => s.detail)
    expect(changes).toEqual(['template.containers[0].resources.limits.memory: 512Mi → 1Gi', 'env.MODE: (unset) → fast'])
    expect(plan.steps.find((s) => s.action === 'update')?.detail).toMatch(/: 2 field\(s\) change$/)
  })

  it('429 RESOURCE_EXHAUSTED is retried with backoff, a bounded number of times', async () => {
    const adc = await applicationDefault(undefined)
    const retries: number[] = []
    // The context's clock: its sleeps are the backoff waits of the retry loop.
    const clock: Clock = { now: () => Date.now(), sleep: async (ms) => void retries.push(ms) }
    const api = new CloudRunApi(context(project, { region: 'europe-west1', apiEndpoint: `http://${fake.host}`, retries: 3, retryBaseMs: 1 }, { ...defaultServices(), clock }), adc.auth)
    fake.throttle(2)
    expect((await api.getService(NAME))?.name).toBe(NAME)
    expect(retries).toEqual([1, 2]) // doubling from retryBaseMs (gax's REST errors do not expose Retry-After)
    fake.throttle(10)
    await expect(api.getService(NAME)).rejects.toMatchObject({ message: expect.stringContaining('Quota exceeded') })
    expect(retries).toEqual([1, 2, 1, 2, 4])
    fake.throttle(0)
    await api.close()
  })
})
