import path from 'node:path'
import { targetConfig, type Artifact, type TargetContext } from '@mlx/core'
import type { Bundle, Project } from '@mlx/core'
import { dockerTarget, packageBuildContext } from './target.js'

/**
 * What an image-based target (cloudrun, railway, helm) uses to get the same image the docker
 * target builds: the docker settings come from targets.docker in mlx.yaml (with its defaults) and
 * the CLI's docker flags (--base, --platform, --tag, --insecure-registry); `config` overrides
 * them, and the image is written under <the target's out dir>/image.
 */
export function imageContext(ctx: TargetContext, opts: { config?: Record<string, unknown>; outDir?: string } = {}): TargetContext {
  const base = targetConfig(dockerTarget, ctx.project)
  return { ...ctx, config: { ...base, ...opts.config }, outDir: opts.outDir ?? path.join(ctx.outDir, 'image') }
}

/** Builds the image (OCI layout + Dockerfile) for another target's artifact; no network unless the base must be pulled. */
export function packageImage(bundle: Bundle, ctx: TargetContext, opts: { config?: Record<string, unknown>; outDir?: string } = {}): Promise<Artifact> {
  return dockerTarget.package(bundle, imageContext(ctx, opts))
}

/** The Dockerfile and build context alone (base unpinned, never read): for a platform that builds the image itself. */
export function packageImageBuildContext(bundle: Bundle, ctx: TargetContext, opts: { config?: Record<string, unknown>; outDir?: string } = {}): Promise<{ dockerfile: string; context: string }> {
  return packageBuildContext(bundle, imageContext(ctx, opts))
}

/**
 * The platform images are built for, so the bundle's native modules match it: --platform, else
 * the target's own `platform` setting, else targets.docker.platform, else linux/amd64.
 */
export function imageBundlePlatform(config: Record<string, unknown>, flags: Readonly<Record<string, unknown>>, project?: Project): string {
  const docker = project?.targets.docker?.platform
  return (typeof flags.platform === 'string' && flags.platform) || (typeof config.platform === 'string' && config.platform) || (typeof docker === 'string' && docker) || 'linux/amd64'
}
