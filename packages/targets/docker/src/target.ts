import { defineTarget } from '@mlx/core'
import { findCredentials } from './auth.js'
import { configSchema, destination, imageSettings } from './config.js'
import { formatBytes } from './image.js'
import { dockerImages, type ImageDetails } from './image-tool.js'
import { RegistryClient } from './registry.js'

/** What the docker artifact records: the builder's facts and the repository it goes to. */
export interface DockerDetails extends ImageDetails {
  image?: string
  tags: readonly string[]
  platform: string
}

/**
 * The image itself is the artifact: core builds it (an OCI layout and a Dockerfile) at package
 * time and pushes it to any OCI registry before deploy; this target reports where it went.
 */
export const dockerTarget = defineTarget({
  name: 'docker',
  description: 'OCI image built without a Docker daemon (plus a Dockerfile), pushed to GHCR or any OCI registry.',
  configSchema,
  image: { optionalAtPackage: false, dir: '.', platform: (cfg) => cfg.platform, port: (cfg) => cfg.port },

  async package(_bundle, ctx) {
    const built = ctx.image!.built!
    const d = built.details as ImageDetails
    const image = dockerImages.repository({ project: ctx.project, flags: ctx.flags, credentials: ctx.credentials })
    const details: DockerDetails = { ...d, tags: built.tags, platform: built.platform, ...(image ? { image } : {}) }
    return { target: 'docker', version: ctx.project.version, digest: built.digest, paths: { ...built.paths }, details }
  },

  async plan(artifact, ctx) {
    const s = imageSettings(ctx.config, ctx.flags, ctx.credentials)
    const d = artifact.details!
    const repo = s.registry ? destination(s.registry, ctx.project) : undefined
    const where = repo ? `${repo.registry}/${repo.repository}` : '(no registry: pass --registry HOST[:PORT]/NAMESPACE)'
    const sameRegistry = repo && d.base.registry === repo.registry && d.base.repository
    return {
      target: 'docker',
      steps: [
        { action: 'check', detail: `HEAD ${d.layers.length + 1} blobs in ${where}; only missing ones are sent` },
        ...(sameRegistry ? [{ action: 'mount', detail: `base layers from ${d.base.repository} (same registry: no upload)` }] : []),
        { action: 'upload', detail: `missing blobs of ${d.layers.length} layers (${formatBytes(d.sizes.compressed)} at most; the mlx layers are ${formatBytes(d.sizes.added)})` },
        { action: 'tag', detail: `PUT manifest ${artifact.digest} as ${d.tags.map((t) => `${where}:${t}`).join(', ')}` },
      ],
    }
  },

  async deploy(artifact, ctx) {
    const pushed = ctx.image!.pushed!
    return ctx.record({ url: pushed.ref, version: artifact.version, digest: pushed.digest, details: { image: pushed.image, tags: pushed.tags, platform: pushed.platform, ...pushed.details, ...pushed.stats } })
  },

  async status(ctx) {
    const last = ctx.history.lastReady()
    if (!last?.digest || !last.details?.image) return last
    const image = String(last.details.image)
    const slash = image.indexOf('/')
    const registry = image.slice(0, slash)
    const s = imageSettings(ctx.config, ctx.flags, ctx.credentials)
    const client = new RegistryClient({ registry, insecure: s.insecure, credentials: await findCredentials(registry, ctx.credentials, { destination: true }), log: ctx.log, signal: ctx.signal, attempts: 2, timeoutMs: ctx.config.requestTimeoutSeconds * 1000 })
    const there = await client.hasManifest(image.slice(slash + 1), last.digest).catch(() => undefined)
    return { ...last, status: there ? 'ready' : 'unknown' }
  },
})

