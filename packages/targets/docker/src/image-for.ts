import path from 'node:path'
import { isMlxError, MlxError, targetConfig, type Artifact, type TargetContext } from '@mlx/core'
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

/** Why the image could not be built at package time; deploy reports it (see requireBuiltImage). */
export interface ImageError {
  readonly message: string
  readonly hint?: string
}

/**
 * packageImage for targets whose own files (a chart, service.yaml, railway.json) do not need the
 * image's bytes: a base image that cannot be read is recorded and warned about instead of thrown,
 * so `mlx package` still writes those files offline. `meanwhile` says what the target writes
 * instead (e.g. "the chart refers to it by tag"). Other errors are thrown as usual.
 */
export async function packageImageIfBaseReadable(
  bundle: Bundle,
  ctx: TargetContext,
  meanwhile: string,
  opts: { config?: Record<string, unknown>; outDir?: string } = {},
): Promise<{ image?: Artifact; imageError?: ImageError }> {
  try {
    return { image: await packageImage(bundle, ctx, opts) }
  } catch (err) {
    if (!(isMlxError(err) && err.code === 'BUNDLE_FAILED')) throw err
    ctx.log.warn(`the image was not built (${err.message.split('\n')[0]}); ${meanwhile}, and \`mlx deploy\` will need the base image (or --base oci:PATH).`)
    return { imageError: { message: err.message, hint: err.hint } }
  }
}

/** Deploy's first step when package recorded an ImageError: nothing can ship without the image. */
export function requireBuiltImage(imageError: ImageError | undefined): void {
  if (imageError) throw new MlxError('BUNDLE_FAILED', imageError.message, { hint: imageError.hint })
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
