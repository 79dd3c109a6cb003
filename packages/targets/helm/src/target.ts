import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { curlExamples, isMlxError, MlxError, targetConfig, type Artifact, type Deployment, type PlanStep, type Project, type Target, type TargetContext } from '@mlx/core'
import { dockerTarget, imageBundlePlatform, packageImageIfBaseReadable, parseDestination, parseImageRef, pushArtifact, requireBuiltImage, versionTag, type ImageError } from '@mlx/target-docker'
import { stringify } from 'yaml'
import { applyObjects, hintFor, pruneObjects, RolloutFailed, waitForRollout, watchPods, type ApplyOptions } from './apply.js'
import { chartMeta, writeChart } from './chart.js'
import { Cluster } from './cluster.js'
import { configFor, configSchema, envFor, releaseName, type HelmConfig } from './config.js'
import { findHelm, parseRelease, rollbackArgs, runHelm, showCommand, statusArgs, upgradeArgs } from './helm-cli.js'
import { newReleaseDir, pruneReleaseDirs, readManifests } from './releases.js'
import { rolloutState } from './rollout.js'
import { manifestsYaml, names, renderManifests, type ChartMeta, type KubeObject } from './render.js'
import { chartValues, mergeValues, PLACEHOLDER_REGISTRY, valuesOverlay, type ImageValues, type Values } from './values.js'

/** What package leaves for deploy in the artifact's details. */
interface HelmArtifactDetails {
  chart: ChartMeta
  release: string
  namespace: string
  env?: string
  /** chart values for the deploy's environment (values.yaml + values.<env>.yaml), before the pushed digest. */
  values: Values
  valueFiles: string[]
  image: ImageValues
  /** The image built for the chart (docker's artifact), pushed by deploy; absent with targets.helm.image. */
  imageArtifact?: Artifact
  /** Why the image could not be built at package time (its base unreachable): deploy stops on it. */
  imageError?: ImageError
  registry?: string
}

const dockerSettings = (ctx: TargetContext) => {
  const d = targetConfig(dockerTarget, ctx.project) as { registry?: string; port: number; user: string }
  const flag = typeof ctx.flags.registry === 'string' && ctx.flags.registry ? ctx.flags.registry : undefined
  const owner = ctx.credentials.get('GITHUB_REPOSITORY_OWNER')
  return { port: d.port, user: d.user, registry: flag ?? d.registry ?? (owner ? `ghcr.io/${owner.toLowerCase()}` : undefined) }
}

/** targets.helm.image: REPO[:TAG] or REPO@sha256:… of an image that already exists. */
function givenImage(ref: string, version: string): ImageValues {
  try {
    const r = parseImageRef(ref)
    const repository = `${r.registry}/${r.repository}`
    return { repository, tag: r.tag ?? versionTag(version), ...(r.digest ? { digest: r.digest } : {}) }
  } catch (err) {
    throw new MlxError('TARGET_CONFIG_INVALID', `targets.helm.image: '${ref}' is not an image reference: ${(err as Error).message}`, { hint: 'use REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:…' })
  }
}

function resolveMode(cfg: HelmConfig): { mode: 'helm' | 'apply'; helm?: string } {
  const helm = findHelm(cfg.helmBinary)
  if (cfg.mode === 'helm' && !helm) {
    throw new MlxError('USAGE', `targets.helm.mode is 'helm' but no helm executable was found (looked for '${cfg.helmBinary}'${cfg.helmBinary.includes('/') ? '' : ' on PATH'}).`, {
      hint: 'install helm 3.13+/4 (https://helm.sh/docs/intro/install/), set targets.helm.helmBinary, or use mode: apply to apply the rendered manifests without helm.',
    })
  }
  if (cfg.mode === 'apply' || !helm) return { mode: 'apply' }
  return { mode: 'helm', helm }
}

const accessUrl = (values: Values): string | undefined => {
  const ing = (values as { ingress: { enabled: boolean; tls: unknown[]; hosts: { host: string; paths: { path: string }[] }[] } }).ingress
  if (!ing.enabled || !ing.hosts[0]) return undefined
  const h = ing.hosts[0]
  return `${ing.tls.length ? 'https' : 'http'}://${h.host}${(h.paths[0]?.path ?? '/').replace(/\/$/, '')}`
}

/** How to reach the service from this machine, as ctx.log lines (the CLI prints curls only for http URLs). */
function printAccess(ctx: TargetContext, project: Project, values: Values, fullname: string, namespace: string, url: string | undefined) {
  const port = (values as { service: { port: number } }).service.port
  if (url) {
    ctx.log.info(`  reach it at ${url} (once DNS for the ingress host points at the ingress controller)`)
    return
  }
  ctx.log.info(`  reach it from this machine:`)
  ctx.log.info(`    kubectl port-forward svc/${fullname} 8080:${port} -n ${namespace}`)
  ctx.log.info(`  then, in another terminal:`)
  for (const c of curlExamples(project, 'http://127.0.0.1:8080')) ctx.log.info(`    ${c}`)
  ctx.log.info(`    open http://127.0.0.1:8080/docs`)
}

function applyOptions(cfg: HelmConfig, namespace: string, ctx: TargetContext): ApplyOptions {
  return { namespace, createNamespace: cfg.createNamespace, timeoutMs: cfg.timeoutSeconds * 1000, pollMs: cfg.pollIntervalMs, logLines: cfg.logLines, log: ctx.log, signal: ctx.signal }
}

const cluster = (cfg: HelmConfig, ctx: TargetContext) => Cluster.fromDefault({ context: cfg.context, retries: cfg.retries, retryBaseMs: cfg.retryBaseMs, log: ctx.log, signal: ctx.signal })

/** Ready helm deployments of this release, oldest first. */
const readyHistory = (ctx: TargetContext, release: string, namespace: string) =>
  ctx.history.list('helm').filter((d) => d.status === 'ready' && d.env === ctx.env && d.details?.release === release && d.details?.namespace === namespace)

/**
 * A Helm chart for the image the docker target builds, with a values file per environment and
 * the rendered manifests beside it. Deploy runs `helm upgrade --install` when helm is installed,
 * or applies the same manifests itself (server-side apply) and waits for the rollout.
 */
export const helmTarget: Target = {
  name: 'helm',
  description: 'Helm chart (plus plain manifests) for the image; deployed with helm, or applied to the cluster directly.',
  configSchema,
  bundlePlatform: imageBundlePlatform,

  async package(bundle, ctx): Promise<Artifact> {
    const project = ctx.project
    const chart = chartMeta(project)
    const cfg = configFor(helmTarget, project, ctx.env)
    const docker = dockerSettings(ctx)

    let image: ImageValues
    let imageArtifact: Artifact | undefined
    let imageNote = ''
    let imageError: HelmArtifactDetails['imageError']
    if (cfg.image) {
      image = givenImage(cfg.image, project.version)
      imageNote = `# image: targets.helm.image (${cfg.image}); mlx builds no image for it.\n`
    } else {
      // The chart and manifests refer to the image by tag, so they are written even without it.
      const built = await packageImageIfBaseReadable(bundle, ctx, 'the chart refers to it by tag')
      imageArtifact = built.image
      imageError = built.imageError
      const dest = docker.registry ? (() => { try { return parseDestination(docker.registry!, project.name) } catch { return undefined } })() : undefined
      image = { repository: dest ? `${dest.registry}/${dest.repository}` : `${PLACEHOLDER_REGISTRY}/${project.name}`, tag: versionTag(project.version) }
      imageNote = dest
        ? `# image: ${image.repository}:${image.tag}; \`mlx deploy --target helm\` pushes it and deploys it by digest.\n`
        : `# image: no registry is configured, so image.repository is a placeholder (${PLACEHOLDER_REGISTRY}).\n# Set targets.docker.registry in mlx.yaml or pass --registry HOST/NAMESPACE; \`mlx deploy\` pushes the image there.\n`
    }

    const valuesOf = (env: string | undefined) => chartValues({ cfg: configFor(helmTarget, project, env), image, env: envFor(project, env), containerPort: docker.port, user: docker.user })
    const base = valuesOf(undefined)
    const overlays = Object.fromEntries(project.environments.map((e) => [e, valuesOverlay(base, valuesOf(e))]))
    const chartDir = path.join(ctx.outDir, chart.name)
    const files = await writeChart(chartDir, project, chart, base, overlays, imageNote)

    // Plain manifests per environment for people without helm: kubectl apply -f manifests/<env>.yaml
    const manifestsDir = path.join(ctx.outDir, 'manifests')
    await mkdir(manifestsDir, { recursive: true })
    for (const env of [undefined, ...project.environments]) {
      const c = configFor(helmTarget, project, env)
      const values = mergeValues(base, env ? overlays[env] : undefined)
      const objs = renderManifests(values, chart, { name: releaseName(c, project), namespace: c.namespace })
      const header = `# ${project.name} ${project.version}${env ? `, environment ${env}` : ''}: the chart rendered by mlx (= helm template ${releaseName(c, project)} ${chart.name}${env ? ` -f values.${env}.yaml` : ''} --namespace ${c.namespace} --skip-tests).\n# kubectl apply --server-side -f ${env ?? 'default'}.yaml\n`
      await writeFile(path.join(manifestsDir, `${env ?? 'default'}.yaml`), manifestsYaml(objs, chart.name, header))
    }

    const env = ctx.env
    const details: HelmArtifactDetails = {
      chart,
      release: releaseName(cfg, project),
      namespace: cfg.namespace,
      env,
      values: mergeValues(base, env ? overlays[env] : undefined),
      valueFiles: env ? [files.values[env]!] : [],
      image,
      imageArtifact,
      imageError,
      registry: cfg.image ? undefined : docker.registry,
    }
    ctx.log.info(`  chart  ${chartDir} (${chart.name} ${chart.version}; values for ${['default', ...project.environments].join(', ')})`)
    return {
      target: 'helm',
      version: project.version,
      digest: image.digest ?? imageArtifact?.digest,
      paths: {
        chart: chartDir,
        values: env ? files.values[env]! : files.values.default!,
        manifests: path.join(manifestsDir, `${env ?? 'default'}.yaml`),
        ...(imageArtifact?.paths.layout ? { layout: imageArtifact.paths.layout } : {}),
      },
      details: details as unknown as Record<string, unknown>,
    }
  },

  async plan(artifact, ctx) {
    const d = artifact.details as unknown as HelmArtifactDetails
    const cfg = configFor(helmTarget, ctx.project, ctx.env)
    const { mode, helm } = resolveMode(cfg)
    const steps: PlanStep[] = []
    const ref = d.imageError
      ? `none: the image could not be built (${d.imageError.message.split('\n')[0]}); deploy will stop here`
      : d.imageArtifact
      ? (d.registry ? `push ${d.image.repository} (${(d.imageArtifact.details?.tags as string[] | undefined)?.join(', ')}) and deploy it by digest` : 'no registry: deploy will stop here (set targets.docker.registry or --registry)')
      : `use ${d.image.digest ? `${d.image.repository}@${d.image.digest}` : `${d.image.repository}:${d.image.tag}`} (targets.helm.image)`
    steps.push({ action: 'image', detail: ref })
    if (mode === 'helm') {
      const args = upgradeArgs({ release: d.release, chart: artifact.paths.chart!, valueFiles: [...d.valueFiles, '<release>/values.image.yaml'], namespace: d.namespace, createNamespace: cfg.createNamespace, timeoutSeconds: cfg.timeoutSeconds, historyMax: cfg.keepReleases, context: cfg.context })
      steps.push({ action: 'helm', detail: showCommand(helm!, args) })
    } else {
      const objs = renderManifests(d.values, d.chart, { name: d.release, namespace: d.namespace })
      if (cfg.createNamespace && d.namespace !== 'default') steps.push({ action: 'apply', detail: `Namespace/${d.namespace}` })
      for (const o of objs) steps.push({ action: 'apply', detail: `${o.kind}/${o.metadata.name} in ${d.namespace} (server-side apply, field manager mlx)` })
      steps.push({ action: 'wait', detail: `rollout of deployment/${names(d.values, d.chart, { name: d.release, namespace: d.namespace }).fullname}, up to ${cfg.timeoutSeconds}s` })
      const prev = readyHistory(ctx, d.release, d.namespace).at(-1)
      steps.push({ action: 'on failure', detail: prev ? `re-apply release ${prev.revision} (${prev.version})` : 'nothing to restore (first deploy): the failed objects stay for inspection' })
    }
    return { target: 'helm', steps }
  },

  async deploy(artifact, ctx): Promise<Deployment> {
    const d = artifact.details as unknown as HelmArtifactDetails
    const project = ctx.project
    const cfg = configFor(helmTarget, project, ctx.env)
    const { mode, helm } = resolveMode(cfg)

    let image = d.image
    requireBuiltImage(d.imageError)
    if (d.imageArtifact) {
      if (!d.registry) {
        throw new MlxError('USAGE', 'the cluster pulls the image from a registry, and none is configured.', {
          hint: 'pass --registry HOST[:PORT]/NAMESPACE (e.g. ghcr.io/acme), set targets.docker.registry in mlx.yaml, or set targets.helm.image to an image that is already pushed.',
        })
      }
      const pushed = await pushArtifact(d.imageArtifact, ctx, { registry: d.registry })
      image = { repository: pushed.image, tag: versionTag(project.version), digest: pushed.digest }
    }
    const imageValues = { image: { repository: image.repository, tag: image.tag, digest: image.digest ?? '' } }
    const values = mergeValues(d.values, imageValues)
    const meta = { name: d.release, namespace: d.namespace }
    const n = names(values, d.chart, meta)
    const objects = renderManifests(values, d.chart, meta)

    const releases = path.join(ctx.outDir, 'releases')
    const rel = await newReleaseDir(releases)
    const manifestsFile = path.join(rel.dir, 'manifests.yaml')
    const imageValuesFile = path.join(rel.dir, 'values.image.yaml')
    await writeFile(manifestsFile, manifestsYaml(objects, d.chart.name))
    await writeFile(imageValuesFile, `# The image this release runs (overrides values.yaml).\n${stringify(imageValues)}`)
    const url = accessUrl(values)
    const record = (revision: string, extra: Record<string, unknown>): Deployment => ({
      target: 'helm',
      env: ctx.env,
      url: url ?? `svc/${n.fullname}.${d.namespace}`,
      version: artifact.version,
      digest: image.digest,
      revision,
      time: new Date().toISOString(),
      status: 'ready',
      details: { mode, release: d.release, namespace: d.namespace, context: cfg.context, chart: artifact.paths.chart, manifests: manifestsFile, image: image.digest ? `${image.repository}@${image.digest}` : `${image.repository}:${image.tag}`, objects: objects.map((o) => `${o.kind}/${o.metadata.name}`), ...extra },
    })

    let deployment: Deployment
    if (mode === 'helm') {
      const args = upgradeArgs({ release: d.release, chart: artifact.paths.chart!, valueFiles: [...d.valueFiles, imageValuesFile], namespace: d.namespace, createNamespace: cfg.createNamespace, timeoutSeconds: cfg.timeoutSeconds, historyMax: cfg.keepReleases, context: cfg.context })
      ctx.log.info(`  ${showCommand(helm!, args)}`)
      // While helm waits, mlx watches the new pods itself: when helm gives up it rolls back and
      // their reasons are gone, and helm only says "not ready".
      let pods: ReturnType<typeof watchPods> | undefined
      try {
        pods = watchPods(cluster(cfg, ctx), objects.find((o) => o.kind === 'Deployment')!, applyOptions(cfg, d.namespace, ctx))
      } catch {
        pods = undefined // no kubeconfig this client can read: helm will say so
      }
      let stdout: string
      try {
        ;({ stdout } = await ctx.log.step(`helm upgrade --install ${d.release} (namespace ${d.namespace}, waiting up to ${cfg.timeoutSeconds}s)`, () => runHelm(helm!, args, ctx.signal)))
      } catch (err) {
        const report = await pods?.stop()
        if (report && isMlxError(err)) throw new MlxError('DEPLOY_FAILED', `${err.message}\n${report.text}`, { hint: `${hintFor(report.problems)} ${err.hint ?? ''}`.trim(), cause: err })
        throw err
      }
      await pods?.stop()
      const rel = parseRelease(stdout)
      deployment = record(rel ? String(rel.version) : 'unknown', { helmStatus: rel?.info?.status })
    } else {
      const kube = cluster(cfg, ctx)
      const opts = applyOptions(cfg, d.namespace, ctx)
      const previous = readyHistory(ctx, d.release, d.namespace).at(-1)
      const prevObjects = previous?.details?.manifests ? await readManifests(String(previous.details.manifests)).catch(() => undefined) : undefined
      const deploymentObj = objects.find((o) => o.kind === 'Deployment')!
      try {
        await ctx.log.step(`Applying ${objects.length} objects to ${kube.info.server} (namespace ${d.namespace})`, () => applyObjects(kube, objects, opts))
        await ctx.log.step(`Waiting for deployment/${n.fullname} to roll out (up to ${cfg.timeoutSeconds}s)`, () => waitForRollout(kube, deploymentObj, opts))
      } catch (err) {
        throw await restoreAfterFailure(err, kube, objects, previous, prevObjects, opts, ctx)
      }
      if (prevObjects) await pruneObjects(kube, prevObjects, objects, ctx.log)
      deployment = record(String(rel.number), {})
    }
    await pruneReleaseDirs(releases, cfg.keepReleases, ctx.history.list('helm').map((x) => String(x.details?.manifests ?? '')).concat(manifestsFile))
    printAccess(ctx, project, values, n.fullname, d.namespace, url)
    return deployment
  },

  async status(ctx) {
    const cfg = configFor(helmTarget, ctx.project, ctx.env)
    const last = readyHistory(ctx, releaseName(cfg, ctx.project), cfg.namespace).at(-1)
    if (!last) return undefined
    const ns = String(last.details?.namespace)
    try {
      if (last.details?.mode === 'helm') {
        const helm = findHelm(cfg.helmBinary)
        if (!helm) return { ...last, status: 'unknown' }
        const { stdout } = await runHelm(helm, statusArgs({ release: String(last.details.release), namespace: ns, context: cfg.context }), ctx.signal)
        const rel = parseRelease(stdout)
        return { ...last, revision: rel ? String(rel.version) : last.revision, status: rel?.info?.status === 'deployed' ? 'ready' : rel?.info?.status === 'failed' ? 'failed' : 'unknown' }
      }
      const objs = await readManifests(String(last.details?.manifests))
      const dep = objs.find((o) => o.kind === 'Deployment')
      if (!dep) return { ...last, status: 'unknown' }
      const live = await cluster({ ...cfg, retries: 1 }, ctx).deployment(dep.metadata.name, ns)
      return { ...last, status: rolloutState(live).done ? 'ready' : 'failed' }
    } catch {
      return { ...last, status: 'unknown' }
    }
  },

  async rollback(to, ctx) {
    const cfg = configFor(helmTarget, ctx.project, ctx.env)
    const release = releaseName(cfg, ctx.project)
    const history = readyHistory(ctx, release, cfg.namespace)
    const current = history.at(-1)
    const flagTo = typeof ctx.flags.to === 'string' ? ctx.flags.to : undefined
    const mode = (current?.details?.mode as 'helm' | 'apply' | undefined) ?? resolveMode(cfg).mode

    if (mode === 'helm') {
      const helm = resolveMode({ ...cfg, mode: 'helm' }).helm!
      // helm keeps its own history: --to may name a helm revision mlx never recorded.
      const revision = to?.revision ?? (flagTo && /^\d+$/.test(flagTo) ? flagTo : undefined)
      if (flagTo && !revision) throw new MlxError('USAGE', `no ready helm release matches '${flagTo}'.`, { hint: `\`helm history ${release} -n ${cfg.namespace}\` lists the revisions; pass one as --to.` })
      const args = rollbackArgs({ release, revision, namespace: cfg.namespace, context: cfg.context, timeoutSeconds: cfg.timeoutSeconds })
      ctx.log.info(`  ${showCommand(helm, args)}`)
      await ctx.log.step(`helm rollback ${release}${revision ? ` to revision ${revision}` : ''}`, () => runHelm(helm, args, ctx.signal))
      const rel = parseRelease((await runHelm(helm, statusArgs({ release, namespace: cfg.namespace, context: cfg.context }), ctx.signal)).stdout)
      const back = to ?? history.find((h) => h.revision === revision) ?? history.at(-2)
      return { ...(back ?? current!), target: 'helm', env: ctx.env, revision: rel ? String(rel.version) : 'unknown', time: new Date().toISOString(), status: 'ready', details: { ...(back ?? current)?.details, mode: 'helm', rolledBackTo: revision ?? 'previous' } }
    }

    if (!to && flagTo) throw new MlxError('USAGE', `no ready helm release of ${release} in ${cfg.namespace} matches '${flagTo}'.`, { hint: '`mlx status --target helm --history` lists the recorded revisions, versions and digests.' })
    const target = to ?? [...history].reverse().find((h) => h.revision !== current?.revision && h.details?.manifests !== current?.details?.manifests)
    if (!target?.details?.manifests) throw new MlxError('DEPLOY_FAILED', `no earlier ready release of ${release} in ${cfg.namespace} to roll back to.`, { hint: '`mlx status --target helm --history` lists what was deployed.' })
    const objects = await readManifests(String(target.details.manifests)).catch((err: unknown) => {
      throw new MlxError('DEPLOY_FAILED', `the manifests of release ${target.revision} are gone (${String(target.details?.manifests)}): ${(err as Error).message}`, { hint: 'deploy that version again with `mlx deploy --target helm` from its commit.' })
    })
    const kube = cluster(cfg, ctx)
    const opts = applyOptions(cfg, cfg.namespace, ctx)
    const currentObjects = current?.details?.manifests ? await readManifests(String(current.details.manifests)).catch(() => undefined) : undefined
    await ctx.log.step(`Re-applying release ${target.revision} (${target.version})`, () => applyObjects(kube, objects, opts))
    await ctx.log.step('Waiting for the rollout', () => waitForRollout(kube, objects.find((o) => o.kind === 'Deployment')!, opts)).catch((err: unknown) => {
      throw err instanceof RolloutFailed ? new MlxError('DEPLOY_FAILED', err.message, { hint: hintFor(err.problems) }) : err
    })
    if (currentObjects) await pruneObjects(kube, currentObjects, objects, ctx.log)
    const rel = await newReleaseDir(path.join(ctx.outDir, 'releases'))
    const manifestsFile = path.join(rel.dir, 'manifests.yaml')
    await writeFile(manifestsFile, manifestsYaml(objects, String(objects[0]?.metadata.labels?.['app.kubernetes.io/name'] ?? ctx.project.name)))
    return { ...target, revision: String(rel.number), time: new Date().toISOString(), status: 'ready', details: { ...target.details, manifests: manifestsFile, rolledBackTo: target.revision } }
  },
}

/**
 * A failed apply or rollout: put the previous ready release's manifests back (and remove what
 * only the failed one had), wait for it, and explain both. The first deploy has nothing to go
 * back to, so its objects stay for `kubectl describe`.
 */
async function restoreAfterFailure(err: unknown, kube: Cluster, objects: KubeObject[], previous: Deployment | undefined, prevObjects: KubeObject[] | undefined, opts: ApplyOptions, ctx: TargetContext): Promise<Error> {
  if (!(err instanceof RolloutFailed) && !(err instanceof MlxError)) return err as Error
  const message = err.message
  const hint = err instanceof RolloutFailed ? hintFor(err.problems) : (err.hint ?? '')
  if (!previous || !prevObjects) {
    return new MlxError('DEPLOY_FAILED', `${message}\nThere was no earlier ready release to restore; the new objects were left in place for inspection.`, { hint, cause: err })
  }
  try {
    await ctx.log.step(`Restoring release ${previous.revision} (${previous.version})`, async () => {
      await applyObjects(kube, prevObjects, { ...opts, createNamespace: false })
      await pruneObjects(kube, objects, prevObjects, ctx.log)
      await waitForRollout(kube, prevObjects.find((o) => o.kind === 'Deployment')!, opts)
    })
  } catch (restoreErr) {
    return new MlxError('DEPLOY_FAILED', `${message}\nRestoring release ${previous.revision} (${previous.version}) failed too: ${(restoreErr as Error).message.split('\n')[0]}`, {
      hint: `${hint} Then re-apply it by hand: kubectl apply --server-side -f ${String(previous.details?.manifests)}`,
      cause: err,
    })
  }
  return new MlxError('DEPLOY_FAILED', `${message}\nRelease ${previous.revision} (${previous.version}) was applied again and is serving.`, { hint, cause: err })
}
