import { done, MlxError, pending, type Artifact, type Deployment, type PlanStep, type TargetContext } from '@mlx/core'
import { clientFor, type UbiopsDeployment, type UbiopsVersion } from './api.js'
import { chosenEndpoint, settings, type Settings, type UbiopsConfig } from './config.js'
import type { UbiopsDetails } from './package.js'
import { endpointPlan, exampleRequest, type EndpointPlan, type Field } from './spec.js'
import { checkStructure, exampleInput, findPython, runLocally, type ExampleInput } from './validate.js'

const SUCCESS = new Set(['success', 'available', 'completed'])
const FAILURE = new Set(['failed', 'cancelled'])

/** v1, v2, ...: one more than the highest v{i} there is (or was: UbiOps names need not be reused). */
export function nextVersion(versions: readonly UbiopsVersion[]): string {
  const used = versions.map((v) => /^v(\d+)$/.exec(v.version)).filter((m): m is RegExpExecArray => !!m).map((m) => Number(m[1]))
  return `v${used.length ? Math.max(...used) + 1 : 1}`
}

/** The oldest version that is not the default (creation date, else version number, else list order). */
export function oldestRemovable(versions: readonly UbiopsVersion[], defaultVersion: string | null | undefined): UbiopsVersion | undefined {
  const num = (v: UbiopsVersion) => Number(/^v(\d+)$/.exec(v.version)?.[1] ?? Number.MAX_SAFE_INTEGER)
  return versions
    .map((v, i) => ({ v, i }))
    .filter(({ v }) => v.version !== defaultVersion)
    .sort((a, b) => (a.v.creation_date ?? '').localeCompare(b.v.creation_date ?? '') || num(a.v) - num(b.v) || a.i - b.i)[0]?.v
}

const sameFields = (a: readonly Field[] | undefined, b: readonly Field[]) =>
  JSON.stringify((a ?? []).map((f) => [f.name, f.data_type])) === JSON.stringify(b.map((f) => [f.name, f.data_type]))

const describeFields = (fs: readonly Field[] | undefined) => (fs ?? []).map((f) => `${f.name}:${f.data_type}`).join(', ') || 'none'

function endpointFor(ctx: TargetContext<UbiopsConfig>, s: Settings): { plan: EndpointPlan; example?: Record<string, unknown> } {
  const ep = chosenEndpoint(ctx.project, s.cfg)
  const plan = endpointPlan(ep, ctx.project, { jsonFields: s.cfg.jsonFields, outputField: s.cfg.outputField })
  return { plan, example: exampleRequest(ep, plan) }
}

function versionBody(s: Settings, name: string): Record<string, unknown> {
  const c = s.cfg
  return {
    version: name,
    environment: c.environment,
    instance_type_group_name: c.instanceTypeGroup,
    minimum_instances: c.minimumInstances,
    maximum_instances: c.maximumInstances,
    maximum_idle_time: c.maximumIdleTime,
    instance_processes: c.instanceProcesses,
    request_retention_mode: c.requestRetentionMode,
    labels: c.labels,
    description: `mlx ${s.deployment}`,
  }
}

/** What deploy would do. Read-only GETs make it exact when a token is set; otherwise it says what it would look up. */
export async function planDeploy(artifact: Artifact<UbiopsDetails>, ctx: TargetContext<UbiopsConfig>): Promise<PlanStep[]> {
  const s = settings(ctx)
  const { plan } = endpointFor(ctx, s)
  const project = s.project ?? '<UBIOPS_PROJECT>'
  const base = `${s.apiUrl}/projects/${project}/deployments`
  const steps: PlanStep[] = [{ action: 'check', detail: `${artifact.paths.zip}: layout and specs${s.cfg.localCheck === 'run' ? ', then python3 imports deployment.py and answers the example' : ''} (before any call)` }]
  let dep: UbiopsDeployment | undefined
  let versions: UbiopsVersion[] | undefined
  let looked = false
  if (s.project && ctx.credentials.get('UBIOPS_API_TOKEN')) {
    try {
      const client = clientFor(ctx, s)
      dep = await client.getDeployment(s.deployment)
      versions = dep ? await client.listVersions(s.deployment) : []
      looked = true
    } catch (err) {
      steps.push({ action: 'note', detail: `could not read the current state (${(err as Error).message}); the steps below are the general ones` })
    }
  }
  if (!looked || !dep) {
    steps.push({ action: looked ? 'create deployment' : 'create deployment (if missing)', detail: `POST ${base} {name: ${s.deployment}, input_fields: [${describeFields(plan.input_fields)}], output_fields: [${describeFields(plan.output_fields)}]}` })
  }
  const name = s.cfg.version ?? (versions ? nextVersion(versions) : 'v{next}')
  const exists = versions?.some((v) => v.version === name)
  if (versions && !exists) {
    const left = [...versions]
    while (left.length >= s.cfg.maxVersions) {
      const old = oldestRemovable(left, dep?.default_version)
      if (!old) break
      left.splice(left.indexOf(old), 1)
      steps.push({ action: 'delete version', detail: `DELETE ${base}/${s.deployment}/versions/${old.version} (${s.cfg.maxVersions} versions exist; the oldest that is not the default)` })
    }
  } else if (!versions) {
    steps.push({ action: 'delete version (if needed)', detail: `when ${s.cfg.maxVersions} versions exist, DELETE the oldest that is not the default` })
  }
  if (!exists) steps.push({ action: 'create version', detail: `POST ${base}/${s.deployment}/versions {version: ${name}, environment: ${s.cfg.environment}, instance_type_group_name: ${s.cfg.instanceTypeGroup}}` })
  steps.push(
    { action: 'upload', detail: `POST ${base}/${s.deployment}/versions/${name}/revisions (multipart file=${artifact.paths.zip})` },
    { action: 'wait for build', detail: `GET ${base}/${s.deployment}/versions/${name}/revisions/{id} every ${s.cfg.pollIntervalMs / 1000}s until success or failed` },
  )
  if (s.cfg.testRequest) steps.push({ action: 'test request', detail: `POST ${base}/${s.deployment}/versions/${name}/requests with the ${plan.endpoint} example` })
  if (s.cfg.promote && dep?.default_version !== name) steps.push({ action: 'set default', detail: `PATCH ${base}/${s.deployment} {default_version: ${name}}` })
  return steps
}

/** What was checked before the first API call, for the deployment record. */
async function localCheck(artifact: Artifact<UbiopsDetails>, ctx: TargetContext<UbiopsConfig>, s: Settings, plan: EndpointPlan, example: ExampleInput | undefined, version: string): Promise<{ check: string; result?: unknown }> {
  await ctx.log.step('Checking the zip (layout, specs)', () => checkStructure(artifact.paths.zip!, plan.endpoint, { input: plan.input_fields, output: plan.output_fields }))
  if (s.cfg.localCheck !== 'run') return { check: 'structure' }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    ctx.log.warn(`the zip is for x86-64 Linux and this is ${process.platform}/${process.arch}: deployment.py was not run locally, only the zip's structure was checked.`)
    return { check: 'structure (not x86-64 Linux)' }
  }
  const python = await findPython()
  if (!python) {
    ctx.log.warn('python3 was not found (set MLX_PYTHON): deployment.py was not run locally, only the zip\'s structure was checked.')
    return { check: 'structure (no python3)' }
  }
  const { result } = await ctx.log.step(`Running deployment.py locally on the ${plan.endpoint} example (${python})`, () =>
    runLocally(artifact, example, { python, deployment: s.deployment, version, log: ctx.log, signal: ctx.signal }),
  )
  if (result !== undefined) ctx.log.info(`local answer: ${JSON.stringify(result).slice(0, 400)}`)
  return { check: 'run', result }
}

const magicExt = (b: Buffer) =>
  b[0] === 0xff && b[1] === 0xd8 ? 'jpg' : b.subarray(0, 4).toString('hex') === '89504e47' ? 'png' : b.subarray(8, 12).toString() === 'WEBP' ? 'webp' : 'bin'

export async function deployZip(artifact: Artifact<UbiopsDetails>, ctx: TargetContext<UbiopsConfig>): Promise<Deployment> {
  const s = settings(ctx)
  const cfg = s.cfg
  const client = clientFor(ctx, s) // credentials and project first: fail before any work
  const { plan, example } = endpointFor(ctx, s)
  const exIn = example ? exampleInput(example, plan.input_fields) : undefined
  const d = s.deployment

  // 1. Nothing on UbiOps is touched before the zip is known to work.
  const checked = await localCheck(artifact, ctx, s, plan, exIn, cfg.version ?? 'next')

  // 2. The deployment owns the fields; an existing one must agree with this endpoint.
  let dep = await client.getDeployment(d)
  if (!dep) {
    dep = await ctx.log.step(`Creating deployment ${d}`, () =>
      client.createDeployment({
        name: d,
        description: (ctx.project.description ?? `${ctx.project.name} (mlx)`).trim().slice(0, 400),
        input_type: 'structured',
        output_type: 'structured',
        input_fields: plan.input_fields,
        output_fields: plan.output_fields,
        labels: cfg.labels,
      }),
    )
  } else if (!sameFields(dep.input_fields, plan.input_fields) || !sameFields(dep.output_fields, plan.output_fields)) {
    throw new MlxError('DEPLOY_FAILED', `UbiOps deployment ${d} has input [${describeFields(dep.input_fields)}] and output [${describeFields(dep.output_fields)}], but endpoint ${plan.endpoint} needs input [${describeFields(plan.input_fields)}] and output [${describeFields(plan.output_fields)}]. Versions share their deployment's fields, so this zip cannot become a version of it.`, {
      hint: `deploy to a new deployment (targets.ubiops.deployment: ${d}-2), or change the fields of ${d} in UbiOps first. Nothing was changed.`,
    })
  }
  const previousDefault = dep.default_version ?? undefined
  const untouched = `The default version${previousDefault ? `, ${previousDefault},` : ''} was not changed`

  // 3. The version: the given one gets a new revision; otherwise the next v{i}, making room if 5 exist.
  let versions = await client.listVersions(d)
  const name = cfg.version ?? nextVersion(versions)
  const deleted: string[] = []
  if (!versions.some((v) => v.version === name)) {
    while (versions.length >= cfg.maxVersions) {
      const old = oldestRemovable(versions, previousDefault)
      if (!old) {
        throw new MlxError('DEPLOY_FAILED', `deployment ${d} already has ${versions.length} versions and none can be deleted (only the default is left).`, { hint: 'raise targets.ubiops.maxVersions (UbiOps allows 5), or delete a version in UbiOps.' })
      }
      await ctx.log.step(`Deleting version ${old.version} of ${d} (${versions.length} of ${cfg.maxVersions} exist; it is the oldest that is not the default)`, () => client.deleteVersion(d, old.version))
      deleted.push(old.version)
      versions = versions.filter((v) => v !== old)
    }
    await ctx.log.step(`Creating version ${d}/${name}`, () => client.createVersion(d, versionBody(s, name)))
  } else {
    ctx.log.info(`Version ${d}/${name} exists: uploading a new revision of it`)
  }

  // 4. Upload and build.
  const upload = await ctx.log.step(`Uploading ${artifact.paths.zip} (${((artifact.details?.bytes ?? 0) / 1024 ** 2).toFixed(1)} MB)`, () => client.uploadRevision(d, name, artifact.paths.zip!))
  const revision = upload.revision
  const waiting = { timeoutMs: cfg.buildTimeoutSeconds * 1000, intervalMs: cfg.pollIntervalMs, setting: 'targets.ubiops.buildTimeoutSeconds' }
  const rev = await ctx.log.step(`Building ${d}/${name} revision ${revision}`, () =>
    ctx.waitUntil(
      `build ${d}/${name}`,
      async () => {
        const r = await client.getRevision(d, name, revision)
        if (!SUCCESS.has(r.status) && !FAILURE.has(r.status)) return pending(r.status)
        // waitUntil prints the states on the way; the one it ended in belongs in the log too.
        ctx.log.info(`  build ${d}/${name}: ${r.status}`)
        return done(r)
      },
      { ...waiting, hint: `it may still finish: look at the version's logs in UbiOps; raise targets.ubiops.buildTimeoutSeconds. ${untouched}.` },
    ),
  )
  if (FAILURE.has(rev.status)) {
    throw new MlxError('DEPLOY_FAILED', `the UbiOps build of ${d}/${name} ${rev.status}: ${rev.error_message ?? '(no error message)'}`, {
      hint: `the build logs are in UbiOps (Deployments → ${d} → ${name} → Logs). ${untouched} and still serves requests.`,
    })
  }
  // The version is available once its instance can start; a fresh build usually is at once.
  await ctx.log.step(`Waiting for ${d}/${name} to be available`, () =>
    ctx.waitUntil(
      `version ${d}/${name}`,
      async () => {
        const v = await client.getVersion(d, name)
        if (!v.status || SUCCESS.has(v.status)) return done(undefined)
        if (FAILURE.has(v.status)) throw new MlxError('DEPLOY_FAILED', `version ${d}/${name} is ${v.status} after its build.`, { hint: `see the version's logs in UbiOps. ${untouched}.` })
        return pending(v.status)
      },
      { ...waiting, hint: `see the version's logs in UbiOps; raise targets.ubiops.buildTimeoutSeconds. ${untouched}.` },
    ),
  )

  // 5. The example through UbiOps itself, on this version, before it serves anyone.
  let result: unknown
  if (cfg.testRequest && exIn) {
    const data: Record<string, unknown> = { ...exIn.data }
    for (const [field, value] of Object.entries(exIn.files)) {
      const put = async (b64: string, i: number) => {
        const bytes = Buffer.from(b64.replace(/^data:[^,]*,/, ''), 'base64')
        return client.uploadFile(cfg.bucket, `mlx/${d}/${name}/${field}${Array.isArray(value) ? `-${i}` : ''}.${magicExt(bytes)}`, bytes)
      }
      data[field] = Array.isArray(value) ? await Promise.all(value.map(put)) : await put(value, 0)
    }
    const answer = await ctx.log.step(`Test request to ${d}/${name} with the ${plan.endpoint} example`, () => client.versionRequest(d, name, data, cfg.requestTimeoutSeconds))
    if (answer.status !== 'completed') {
      throw new MlxError('DEPLOY_FAILED', `the test request to ${d}/${name} ${answer.status}: ${answer.error_message ?? '(no error message)'}`, {
        hint: `the version is built but did not answer the example; it was not made the default${previousDefault ? ` (${previousDefault} still is)` : ''}. See its logs in UbiOps.`,
      })
    }
    result = answer.result
    ctx.log.info(`UbiOps answered: ${JSON.stringify(result).slice(0, 1000)}`)
  } else if (cfg.testRequest) {
    ctx.log.warn(`endpoint ${plan.endpoint} has no reference example, so no test request was made.`)
  }

  // 6. Only now does it take traffic.
  let isDefault = previousDefault === name || previousDefault === undefined
  if (cfg.promote && !isDefault) {
    await ctx.log.step(`Making ${name} the default version of ${d}`, () => client.updateDeployment(d, { default_version: name }))
    isDefault = true
  }
  const requestUrl = `${s.apiUrl}/projects/${s.project}/deployments/${d}/${isDefault ? '' : `versions/${name}/`}requests`
  ctx.log.info(`requests: curl -X POST '${requestUrl}' -H "Authorization: $UBIOPS_API_TOKEN" -H 'Content-Type: application/json' -d '${JSON.stringify(Object.fromEntries(plan.input_fields.map((f) => [f.name, f.data_type === 'file' ? 'ubiops-file://default/<file>' : `<${f.data_type}>`])))}'`)
  return ctx.record({
    version: name,
    revision,
    digest: artifact.digest,
    details: {
      project: s.project,
      deployment: d,
      endpoint: plan.endpoint,
      requestUrl,
      default: isDefault,
      previousDefault,
      deleted,
      retried: client.retried,
      appVersion: artifact.version,
      localCheck: checked.check,
      ...(checked.result !== undefined ? { localResult: checked.result } : {}),
      ...(result !== undefined ? { testResult: result } : {}),
    },
  })
}
