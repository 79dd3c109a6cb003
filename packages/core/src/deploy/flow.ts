/**
 * manifest → bundle → artifact → deployment, for every target: what `mlx package`, `mlx deploy`,
 * `mlx rollback` and `mlx status` run. For a target that declares `image`, the image is built
 * here at package time and pushed here before the target's deploy, so no target wires docker.
 */
import path from 'node:path'
import { buildBundle, type Bundle } from '../bundle/bundle.js'
import type { Artifact, Deployment, ImageHandle, Target, TargetContext } from '../contracts.js'
import { isMlxError, MlxError } from '../errors.js'
import { DeployFailedError } from './failure.js'
import type { PluginRegistry } from '../plugins/registry.js'
import type { Project } from '../project.js'
import type { Logger } from '../types.js'
import { DeploymentLog } from '../deployments.js'
import { createTargetContext } from './context.js'
import type { BuiltImage, ImageBuildRequest, ImageUnavailable } from './image.js'
import { secrets } from './redact.js'

export interface FlowOptions {
  readonly target: string
  readonly log: Logger
  readonly flags?: Readonly<Record<string, unknown>>
  readonly env?: string
  /** Artifact folder (default <project>/.mlx/<target>). */
  readonly out?: string
  readonly signal?: AbortSignal
}

export interface BundleSource {
  /** @mlx/core's folder (the bundle carries it). */
  readonly coreDir: string
  /** The lockfile the installed packages came from, for integrity hashes. */
  readonly sourceLock?: string
  /** Turns --platform OS/ARCH into Node's names. */
  readonly parsePlatform: (p: string | undefined) => { os: string; arch: string } | undefined
}

export interface PackageRun {
  readonly target: Target
  readonly ctx: TargetContext
  readonly bundle: Bundle
  readonly artifact: Artifact
}

/** The context for a command that does not package (status, rollback). */
export function contextFor(project: Project, registry: PluginRegistry, opts: FlowOptions & { image?: ImageHandle }): TargetContext {
  const target = registry.target(opts.target)
  return createTargetContext({
    project,
    target,
    log: opts.log,
    flags: opts.flags,
    env: opts.env,
    outDir: path.resolve(opts.out ?? path.join(project.root, '.mlx', target.name)),
    signal: opts.signal,
    image: opts.image,
    services: registry.services(),
  })
}

/** The plugins the bundle must carry: those whose runtimes or ops the endpoints use, and no others. */
function runtimePackages(project: Project, registry: PluginRegistry) {
  const used = new Set(Object.values(project.models).map((m) => m.runtime))
  for (const r of used) registry.runtime(r) // a missing runtime fails here, before any file is written
  const ops = new Set(project.endpoints.flatMap((e) => [...e.preprocess, ...e.postprocess].map((s) => s.op)))
  return registry
    .plugins()
    .filter((p) => p.pkg && (p.plugin.runtimes?.some((r) => used.has(r.name)) || Object.keys({ ...p.plugin.preprocess, ...p.plugin.postprocess }).some((op) => ops.has(op))))
    .map((p) => p.pkg!)
}

/** manifest → bundle → (image) → artifact: `mlx package`, and the first half of `mlx deploy`. */
export async function packageForTarget(project: Project, registry: PluginRegistry, source: BundleSource, opts: FlowOptions): Promise<PackageRun> {
  const target = registry.target(opts.target)
  const flags = opts.flags ?? {}
  const base = contextFor(project, registry, opts)
  const tool = target.image && !target.image.existing?.(base.config) ? registry.imageTool(target.name) : undefined
  const platformFlag = typeof flags.platform === 'string' && flags.platform ? flags.platform : undefined
  const imagePlatform = tool ? (platformFlag ?? target.image!.platform?.(base.config) ?? tool.platform(project, flags)) : undefined
  const packages = runtimePackages(project, registry)
  const bundle = await opts.log.step('Bundling app, models and runtimes', () =>
    buildBundle(project, {
      outDir: path.join(base.outDir, 'bundle'),
      runtimePackages: packages,
      coreDir: source.coreDir,
      platform: source.parsePlatform(platformFlag ?? imagePlatform ?? target.bundlePlatform?.(base)),
      sourceLock: source.sourceLock,
    }),
  )
  let ctx = base
  let image: Artifact['image']
  if (tool) {
    const req: ImageBuildRequest = {
      project,
      outDir: path.join(base.outDir, target.image!.dir ?? 'image'),
      platform: imagePlatform!,
      port: target.image!.port?.(base.config) ?? tool.port(project),
      flags,
      log: base.log,
      signal: base.signal,
      credentials: base.credentials,
    }
    let built: BuiltImage | undefined
    let unavailable: ImageUnavailable | undefined
    try {
      built = await opts.log.step(`Building the image for ${req.platform}`, () => tool.build(bundle, req))
    } catch (err) {
      if (!(isMlxError(err) && err.code === 'BUNDLE_FAILED') || target.image!.optionalAtPackage === false) throw err
      unavailable = { message: err.message, hint: err.hint }
      base.log.warn(`the image was not built (${err.message.split('\n')[0]}); the ${target.name} files name it by tag, and \`mlx deploy\` will need the base image (or --base oci:PATH).`)
    }
    const files = built ? { dockerfile: built.paths.dockerfile, context: built.paths.context } : await tool.buildContext(bundle, req)
    image = { built, unavailable, files }
    ctx = contextFor(project, registry, { ...opts, image: { platform: req.platform, port: req.port, built, unavailable, files } })
  }
  const artifact = await opts.log.step(`Packaging for ${target.name}`, () => target.package(bundle, ctx))
  return { target, ctx, bundle, artifact: image ? { ...artifact, image } : artifact }
}

/**
 * The second half of `mlx deploy`: local checks and the target's preflight, the image pushed
 * (image targets), the target's deploy; every attempt recorded, failed ones too.
 */
export async function deployArtifact(run: PackageRun, registry: PluginRegistry): Promise<Deployment> {
  const { target, artifact } = run
  let ctx = run.ctx
  try {
    if (target.image && !target.image.existing?.(ctx.config)) {
      const built = artifact.image?.built
      if (!built) {
        const why = artifact.image?.unavailable
        throw new MlxError('BUNDLE_FAILED', why?.message ?? `the ${target.name} artifact has no image to push.`, { hint: why?.hint ?? `run \`mlx package --target ${target.name}\` again.` })
      }
      await target.preflight?.(artifact, ctx)
      const dest = (await target.image.destination?.(ctx)) ?? {}
      const pushed = await registry.imageTool(target.name).push(built, { ...dest, project: ctx.project, flags: ctx.flags, log: ctx.log, signal: ctx.signal, credentials: ctx.credentials, redactor: secrets })
      ctx = { ...ctx, image: { ...ctx.image!, pushed } }
    } else {
      await target.preflight?.(artifact, ctx)
    }
    const deployment = await target.deploy(artifact, ctx)
    new DeploymentLog(ctx.project.root).append(secrets.redactValue(deployment))
    return deployment
  } catch (err) {
    // Every attempt is recorded, so status and a re-run know a deploy failed, and which.
    const log = new DeploymentLog(ctx.project.root)
    log.append(ctx.record({ status: 'failed', version: artifact.version, digest: artifact.digest, details: { error: secrets.redact((err as Error).message.split('\n')[0] ?? '') } }))
    if (err instanceof DeployFailedError && err.restored) log.append(secrets.redactValue(err.restored))
    throw err
  }
}

/** `mlx rollback`: the record --to names (else the previous ready one), handed to the target; the result recorded like a deploy. */
export async function rollbackTarget(project: Project, registry: PluginRegistry, opts: FlowOptions & { ref?: string }): Promise<Deployment> {
  const target = registry.target(opts.target)
  if (!target.rollback) {
    throw new MlxError('USAGE', `the ${target.name} target cannot roll back.`, { hint: `redeploy an earlier version with \`mlx deploy --target ${target.name}\` from that commit.` })
  }
  const ctx = contextFor(project, registry, opts)
  const recorded = opts.ref ? ctx.history.find(opts.ref) : ctx.history.previousReady()
  let d: Deployment
  try {
    d = await target.rollback({ ref: opts.ref, recorded }, ctx)
  } catch (err) {
    // A rollback refused before it touched anything is not an attempt worth recording.
    if (isMlxError(err) && err.code === 'USAGE') throw err
    new DeploymentLog(ctx.project.root).append(ctx.record({ status: 'failed', version: recorded?.version ?? opts.ref ?? 'previous', details: { rollback: true, error: secrets.redact((err as Error).message.split('\n')[0] ?? '') } }))
    throw err
  }
  const result = secrets.redactValue({ ...d, details: { ...d.details, rollback: true } })
  new DeploymentLog(ctx.project.root).append(result)
  return result
}
