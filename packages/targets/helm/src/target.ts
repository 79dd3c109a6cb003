import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { defineTarget, MlxError, type Artifact, type Deployment, type PlanStep } from '@mlx/core'
import { dockerConfig } from '@mlx/target-docker'
import { stringify } from 'yaml'
import { accessUrl, printAccess } from './access.js'
import { applyObjects, applyOptions, hintFor, pruneObjects, RolloutFailed, waitForRollout } from './apply.js'
import { applyRelease } from './apply-release.js'
import { chartMeta, writeChart } from './chart.js'
import { clusterFor } from './cluster.js'
import { configFor, configSchema, envFor, releaseName } from './config.js'
import { findHelm, parseRelease, resolveMode, rollbackArgs, runHelm, showCommand, statusArgs, upgradeArgs } from './helm-cli.js'
import { helmLimit, helmUpgrade, statusLimit } from './helm-upgrade.js'
import { chartImage, deployedImage, imageStep, refOf, requireRegistry, type ImageChoice } from './image.js'
import { lastReadyRelease, manifestsOf, readManifests } from './releases.js'
import { manifestsYaml, names, renderManifests, type ChartMeta } from './render.js'
import { rolloutState } from './rollout.js'
import { checkAuth, checkSecretNames } from './secrets.js'
import { chartValues, mergeValues, valuesOverlay, type Values } from './values.js'

/** What package leaves for deploy in the artifact's details. */
export interface HelmDetails extends ImageChoice {
  chart: ChartMeta
  release: string
  namespace: string
  env?: string
  /** chart values for the deploy's environment (values.yaml + values.<env>.yaml), before the pushed digest. */
  values: Values
  valueFiles: string[]
}

/**
 * A Helm chart for the image core builds, with a values file per environment and the rendered
 * manifests beside it. Deploy runs `helm upgrade --install` when helm is installed, or applies the
 * same manifests itself (server-side apply) and waits for the rollout.
 */
export const helmTarget = defineTarget({
  name: 'helm',
  description: 'Helm chart (plus plain manifests) for the image; deployed with helm, or applied to the cluster directly.',
  configSchema,
  // The image's port and platform are targets.docker's; the chart's containerPort is ctx.image.port.
  image: { existing: (cfg) => cfg.image },

  async package(_bundle, ctx): Promise<Artifact<HelmDetails>> {
    const { project, config: cfg, env } = ctx
    const chart = chartMeta(project)
    const { note, ...image } = chartImage(ctx)
    const docker = dockerConfig(project)

    // A variable is a value or a secret reference, in every environment the chart has values for.
    for (const e of [undefined, ...project.environments]) checkSecretNames(project, e, configFor(helmTarget, project, e))
    const valuesOf = (e: string | undefined) => chartValues({ cfg: configFor(helmTarget, project, e), image: image.image, env: envFor(project, e), containerPort: ctx.image?.port ?? docker.port, user: docker.user })
    const base = valuesOf(undefined)
    const overlays = Object.fromEntries(project.environments.map((e) => [e, valuesOverlay(base, valuesOf(e))]))
    const values = mergeValues(base, env ? overlays[env] : undefined)
    // server.auth: the key from a Secret, the probes' paths public. Before any file is written,
    // so `mlx package` and `mlx deploy` (which packages first) both stop here.
    checkAuth(project, cfg, values)
    const chartDir = path.join(ctx.outDir, chart.name)
    const files = await writeChart(chartDir, project, chart, base, overlays, note)

    // Plain manifests per environment for people without helm: kubectl apply -f manifests/<env>.yaml
    const manifestsDir = path.join(ctx.outDir, 'manifests')
    await mkdir(manifestsDir, { recursive: true })
    for (const e of [undefined, ...project.environments]) {
      const c = configFor(helmTarget, project, e)
      const objs = renderManifests(mergeValues(base, e ? overlays[e] : undefined), chart, { name: releaseName(c, project), namespace: c.namespace })
      const header = `# ${project.name} ${project.version}${e ? `, environment ${e}` : ''}: the chart rendered by mlx (= helm template ${releaseName(c, project)} ${chart.name}${e ? ` -f values.${e}.yaml` : ''} --namespace ${c.namespace} --skip-tests).\n# kubectl apply --server-side -f ${e ?? 'default'}.yaml\n`
      await writeFile(path.join(manifestsDir, `${e ?? 'default'}.yaml`), manifestsYaml(objs, chart.name, header))
    }

    const built = ctx.image?.built
    const details: HelmDetails = {
      ...image,
      chart,
      release: releaseName(cfg, project),
      namespace: cfg.namespace,
      env,
      values,
      valueFiles: env ? [files.values[env]!] : [],
    }
    ctx.log.info(`  chart  ${chartDir} (${chart.name} ${chart.version}; values for ${['default', ...project.environments].join(', ')})`)
    return {
      target: 'helm',
      version: project.version,
      digest: image.image.digest ?? (cfg.image ? undefined : built?.digest),
      paths: {
        chart: chartDir,
        values: env ? files.values[env]! : files.values.default!,
        manifests: path.join(manifestsDir, `${env ?? 'default'}.yaml`),
        ...(built && !cfg.image ? { layout: built.paths.layout } : {}),
      },
      details,
    }
  },

  async plan(artifact, ctx) {
    const d = artifact.details!
    const cfg = ctx.config
    const { mode, helm } = resolveMode(cfg)
    const steps: PlanStep[] = [{ action: 'image', detail: imageStep(ctx, d) }]
    if (mode === 'helm') {
      const args = upgradeArgs({ release: d.release, chart: artifact.paths.chart!, valueFiles: [...d.valueFiles, '<release>/values.image.yaml'], namespace: d.namespace, createNamespace: cfg.createNamespace, timeoutSeconds: cfg.timeoutSeconds, historyMax: cfg.keepReleases, context: cfg.context })
      steps.push({ action: 'helm', detail: showCommand(helm!, args) })
    } else {
      const meta = { name: d.release, namespace: d.namespace }
      if (cfg.createNamespace && d.namespace !== 'default') steps.push({ action: 'apply', detail: `Namespace/${d.namespace}` })
      for (const o of renderManifests(d.values, d.chart, meta)) steps.push({ action: 'apply', detail: `${o.kind}/${o.metadata.name} in ${d.namespace} (server-side apply, field manager mlx)` })
      steps.push({ action: 'wait', detail: `rollout of deployment/${names(d.values, d.chart, meta).fullname}, up to ${cfg.timeoutSeconds}s` })
      const prev = lastReadyRelease(ctx.history, d.release, d.namespace)
      steps.push({ action: 'on failure', detail: prev ? `re-apply release ${prev.revision} (${prev.version})` : 'nothing to restore (first deploy): the failed objects stay for inspection' })
    }
    return { target: 'helm', steps }
  },

  // Before the image is pushed: a deploy that cannot run should not leave an image behind.
  async preflight(artifact, ctx) {
    resolveMode(ctx.config)
    requireRegistry(ctx, artifact.details!)
  },

  async deploy(artifact, ctx) {
    const d = artifact.details!
    const cfg = ctx.config
    const { mode, helm } = resolveMode(cfg)
    const image = deployedImage(ctx, d)
    const imageValues = { image: { repository: image.repository, tag: image.tag, digest: image.digest ?? '' } }
    const values = mergeValues(d.values, imageValues)
    const meta = { name: d.release, namespace: d.namespace }
    const n = names(values, d.chart, meta)
    const objects = renderManifests(values, d.chart, meta)
    const deploymentObj = objects.find((o) => o.kind === 'Deployment')!

    const releases = ctx.releases()
    const rel = await releases.create()
    const manifestsFile = path.join(rel.dir, 'manifests.yaml')
    const imageValuesFile = path.join(rel.dir, 'values.image.yaml')
    await writeFile(manifestsFile, manifestsYaml(objects, d.chart.name))
    await writeFile(imageValuesFile, `# The image this release runs (overrides values.yaml).\n${stringify(imageValues)}`)
    const url = accessUrl(values)
    const record = (revision: string, extra: Record<string, unknown>) =>
      ctx.record({
        url: url ?? `svc/${n.fullname}.${d.namespace}`,
        version: artifact.version,
        digest: image.digest,
        revision,
        details: { mode, release: d.release, namespace: d.namespace, context: cfg.context, chart: artifact.paths.chart, manifests: manifestsFile, image: refOf(image), objects: objects.map((o) => `${o.kind}/${o.metadata.name}`), ...extra },
      })

    let deployment: Deployment
    if (mode === 'helm') {
      const args = upgradeArgs({ release: d.release, chart: artifact.paths.chart!, valueFiles: [...d.valueFiles, imageValuesFile], namespace: d.namespace, createNamespace: cfg.createNamespace, timeoutSeconds: cfg.timeoutSeconds, historyMax: cfg.keepReleases, context: cfg.context })
      const released = await helmUpgrade(ctx, helm!, args, deploymentObj, meta)
      deployment = record(released ? String(released.version) : 'unknown', { helmStatus: released?.info?.status })
    } else {
      const previous = lastReadyRelease(ctx.history, d.release, d.namespace)
      const prevFile = manifestsOf(previous)
      const prevObjects = prevFile ? await readManifests(prevFile).catch(() => undefined) : undefined
      await applyRelease(clusterFor(ctx), objects, { record: previous, objects: prevObjects }, applyOptions(ctx, d.namespace))
      deployment = record(rel.id, {})
    }
    // The newest few, and any a record still points at (a rollback reads it back).
    await releases.prune(cfg.keepReleases, [...ctx.history.all().map(manifestsOf), manifestsFile])
    printAccess(ctx.log, ctx.project, values, n.fullname, d.namespace, url)
    return deployment
  },

  async status(ctx) {
    const last = ctx.history.lastReady()
    if (!last) return undefined
    const ns = String(last.details?.namespace)
    try {
      if (last.details?.mode === 'helm') {
        const helm = findHelm(ctx.config.helmBinary)
        if (!helm) return { ...last, status: 'unknown' }
        const { stdout } = await runHelm(helm, statusArgs({ release: String(last.details.release), namespace: ns, context: ctx.config.context }), ctx.signal, statusLimit(ctx))
        const rel = parseRelease(stdout)
        return { ...last, revision: rel ? String(rel.version) : last.revision, status: rel?.info?.status === 'deployed' ? 'ready' : rel?.info?.status === 'failed' ? 'failed' : 'unknown' }
      }
      const dep = (await readManifests(String(manifestsOf(last)))).find((o) => o.kind === 'Deployment')
      if (!dep) return { ...last, status: 'unknown' }
      // One retry: status answers quickly, and says 'unknown' when the cluster does not.
      const live = await clusterFor(ctx, 1).deployment(dep.metadata.name, ns)
      return { ...last, status: rolloutState(live).done ? 'ready' : 'failed' }
    } catch {
      return { ...last, status: 'unknown' }
    }
  },

  async rollback(to, ctx) {
    const cfg = ctx.config
    const release = releaseName(cfg, ctx.project)
    const current = lastReadyRelease(ctx.history, release, cfg.namespace)
    const recordedMode = current?.details?.mode
    const mode = recordedMode === 'helm' || recordedMode === 'apply' ? recordedMode : resolveMode(cfg).mode

    if (mode === 'helm') {
      const helm = resolveMode({ ...cfg, mode: 'helm' }).helm!
      // helm keeps its own history: --to may name a helm revision mlx never recorded, and without
      // --to helm goes back to its own previous revision.
      const revision = to.ref === undefined ? undefined : (to.recorded?.revision ?? (/^\d+$/.test(to.ref) ? to.ref : undefined))
      if (to.ref !== undefined && !revision) throw new MlxError('USAGE', `no ready helm release matches '${to.ref}'.`, { hint: `\`helm history ${release} -n ${cfg.namespace}\` lists the revisions; pass one as --to.` })
      const args = rollbackArgs({ release, revision, namespace: cfg.namespace, context: cfg.context, timeoutSeconds: cfg.timeoutSeconds })
      ctx.log.info(`  ${showCommand(helm, args)}`)
      await ctx.log.step(`helm rollback ${release}${revision ? ` to revision ${revision}` : ''}`, () => runHelm(helm, args, ctx.signal, helmLimit(ctx)))
      const rel = parseRelease((await runHelm(helm, statusArgs({ release, namespace: cfg.namespace, context: cfg.context }), ctx.signal, statusLimit(ctx))).stdout)
      const back = to.recorded ?? ctx.history.previousReady() ?? current
      return ctx.record({ url: back?.url, version: back?.version ?? ctx.project.version, digest: back?.digest, revision: rel ? String(rel.version) : 'unknown', details: { ...back?.details, mode: 'helm', rolledBackTo: revision ?? 'previous' } })
    }

    if (to.ref !== undefined && !to.recorded) throw new MlxError('USAGE', `no ready helm release of ${release} in ${cfg.namespace} matches '${to.ref}'.`, { hint: '`mlx status --target helm --history` lists the recorded revisions, versions and digests.' })
    const target = to.recorded
    const file = manifestsOf(target)
    if (!target || !file) throw new MlxError('DEPLOY_FAILED', `no earlier ready release of ${release} in ${cfg.namespace} to roll back to.`, { hint: '`mlx status --target helm --history` lists what was deployed.' })
    const objects = await readManifests(file).catch((err: unknown) => {
      throw new MlxError('DEPLOY_FAILED', `the manifests of release ${target.revision} are gone (${file}): ${(err as Error).message}`, { hint: 'deploy that version again with `mlx deploy --target helm` from its commit.' })
    })
    const kube = clusterFor(ctx)
    const opts = applyOptions(ctx, cfg.namespace)
    const currentFile = manifestsOf(current)
    const currentObjects = currentFile ? await readManifests(currentFile).catch(() => undefined) : undefined
    await ctx.log.step(`Re-applying release ${target.revision} (${target.version})`, () => applyObjects(kube, objects, opts))
    await ctx.log.step('Waiting for the rollout', () => waitForRollout(kube, objects.find((o) => o.kind === 'Deployment')!, opts)).catch((err: unknown) => {
      throw err instanceof RolloutFailed ? new MlxError('DEPLOY_FAILED', err.message, { hint: hintFor(err.problems) }) : err
    })
    if (currentObjects) await pruneObjects(kube, currentObjects, objects, ctx.log)
    const rel = await ctx.releases().create()
    const manifestsFile = path.join(rel.dir, 'manifests.yaml')
    await writeFile(manifestsFile, manifestsYaml(objects, String(objects[0]?.metadata.labels?.['app.kubernetes.io/name'] ?? ctx.project.name)))
    return ctx.record({ url: target.url, version: target.version, digest: target.digest, revision: rel.id, details: { ...target.details, manifests: manifestsFile, rolledBackTo: target.revision } })
  },
})
