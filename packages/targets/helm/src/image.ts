import { MlxError, type TargetContext } from '@mlx/core'
import { dockerImages, parseImageRef, versionTag } from '@mlx/target-docker'
import type { HelmConfig } from './config.js'
import { PLACEHOLDER_REGISTRY, type ImageValues } from './values.js'

type HelmContext = TargetContext<HelmConfig>

export const refOf = (image: ImageValues) => (image.digest ? `${image.repository}@${image.digest}` : `${image.repository}:${image.tag}`)

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

/** The image the chart names, as package leaves it for plan and deploy. */
export interface ImageChoice {
  image: ImageValues
  /** Where deploy pushes the image mlx built; absent with no registry, or with targets.helm.image. */
  pushTo?: string
}

export interface ChartImage extends ImageChoice {
  /** What values.yaml says about the image. */
  note: string
}

/**
 * The image the chart names at package time. The one mlx builds is named by tag: its digest is
 * what deploy pushes, and the chart is written even when the base image could not be read.
 */
export function chartImage(ctx: HelmContext): ChartImage {
  const { config: cfg, project } = ctx
  if (cfg.image) return { image: givenImage(cfg.image, project.version), note: `# image: targets.helm.image (${cfg.image}); mlx builds no image for it.\n` }
  const pushTo = dockerImages.repository({ project, flags: ctx.flags, credentials: ctx.credentials })
  const image = { repository: pushTo ?? `${PLACEHOLDER_REGISTRY}/${project.name}`, tag: versionTag(project.version) }
  const note = pushTo
    ? `# image: ${image.repository}:${image.tag}; \`mlx deploy --target helm\` pushes it and deploys it by digest.\n`
    : `# image: no registry is configured, so image.repository is a placeholder (${PLACEHOLDER_REGISTRY}).\n# Set targets.docker.registry in mlx.yaml or pass --registry HOST/NAMESPACE; \`mlx deploy\` pushes the image there.\n`
  return { image, pushTo, note }
}

/** The plan's image step. */
export function imageStep(ctx: HelmContext, chart: ImageChoice): string {
  if (ctx.config.image) return `use ${refOf(chart.image)} (targets.helm.image)`
  const built = ctx.image?.built
  if (!built) return `none: the image could not be built (${(ctx.image?.unavailable?.message ?? 'not packaged').split('\n')[0]}); deploy will stop here`
  if (!chart.pushTo) return 'no registry: deploy will stop here (set targets.docker.registry or --registry)'
  return `push ${chart.pushTo} (${built.tags.join(', ')}) and deploy it by digest`
}

/** Checked before the push: the cluster pulls the image, so it needs a registry to pull from. */
export function requireRegistry(ctx: HelmContext, chart: ImageChoice): void {
  if (ctx.config.image || chart.pushTo) return
  throw new MlxError('USAGE', 'the cluster pulls the image from a registry, and none is configured.', {
    hint: 'pass --registry HOST[:PORT]/NAMESPACE (e.g. ghcr.io/acme), set targets.docker.registry in mlx.yaml, or set targets.helm.image to an image that is already pushed.',
  })
}

/** What the cluster runs: targets.helm.image as given, else the image core pushed, by digest. */
export function deployedImage(ctx: HelmContext, chart: ImageChoice): ImageValues {
  if (ctx.config.image) return chart.image
  const pushed = ctx.image?.pushed
  if (!pushed) throw new MlxError('DEPLOY_FAILED', 'no image was pushed for the cluster to pull.', { hint: 'run `mlx deploy --target helm`: it pushes the image before the chart is deployed.' })
  return { repository: pushed.image, tag: versionTag(ctx.project.version), digest: pushed.digest }
}
