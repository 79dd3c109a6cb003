import path from 'node:path'
import {
  buildBundle,
  DeploymentLog,
  envCredentials,
  targetConfig,
  type Artifact,
  type Bundle,
  type Logger,
  type PluginRegistry,
  type Project,
  type Target,
  type TargetContext,
} from '@mlx/core'
import { CORE_DIR, findLockfile, parsePlatform } from './context.js'

export interface PackageRun {
  readonly target: Target
  readonly ctx: TargetContext
  readonly bundle: Bundle
  readonly artifact: Artifact
}

/** manifest → bundle → artifact: shared by `mlx package` and `mlx deploy`. */
export async function packageProject(
  project: Project,
  registry: PluginRegistry,
  opts: { target: string; out?: string; env?: string; log: Logger; flags: Record<string, unknown>; signal?: AbortSignal },
): Promise<PackageRun> {
  const target = registry.target(opts.target)
  const outDir = path.resolve(opts.out ?? path.join(project.root, '.mlx', target.name))
  const used = new Set(Object.values(project.models).map((m) => m.runtime))
  for (const r of used) registry.runtime(r) // a missing runtime fails here, before any file is written
  // The bundle carries the plugins whose runtimes or ops the endpoints use, and no others.
  const ops = new Set(project.endpoints.flatMap((e) => [...e.preprocess, ...e.postprocess].map((s) => s.op)))
  const runtimePackages = registry
    .plugins()
    .filter(
      (p) =>
        p.pkg &&
        (p.plugin.runtimes?.some((r) => used.has(r.name)) ||
          Object.keys({ ...p.plugin.preprocess, ...p.plugin.postprocess }).some((op) => ops.has(op))),
    )
    .map((p) => p.pkg!)
  const ctx = targetContext(project, target, { ...opts, outDir })
  const bundle = await opts.log.step('Bundling app, models and runtimes', () =>
    buildBundle(project, {
      outDir: path.join(outDir, 'bundle'),
      runtimePackages,
      coreDir: CORE_DIR,
      platform: parsePlatform((opts.flags.platform as string | undefined) ?? target.bundlePlatform?.(ctx.config, opts.flags, project)),
      sourceLock: findLockfile(CORE_DIR),
    }),
  )
  const artifact = await opts.log.step(`Packaging for ${target.name}`, () => target.package(bundle, ctx))
  return { target, ctx, bundle, artifact }
}

/** The context a target's package/deploy/status/rollback runs in; config is validated here. */
export function targetContext(
  project: Project,
  target: Target,
  opts: { outDir?: string; env?: string; log: Logger; flags: Record<string, unknown>; signal?: AbortSignal },
): TargetContext {
  return {
    project,
    config: targetConfig(target, project),
    env: opts.env,
    outDir: opts.outDir ?? path.join(project.root, '.mlx', target.name),
    log: opts.log,
    signal: opts.signal ?? new AbortController().signal,
    credentials: envCredentials(),
    flags: opts.flags,
    history: new DeploymentLog(project.root),
  }
}
