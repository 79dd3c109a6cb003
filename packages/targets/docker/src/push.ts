/**
 * pushImage: an image from an OCI layout to a registry. Every blob is HEADed first and only the
 * missing ones are sent (base layers mounted from the base's repository when it lives on the same
 * registry); the manifest goes last, so a push that fails half-way leaves no manifest pointing at
 * missing blobs, and the next run only sends what is still missing.
 */
import type { Logger } from '@mlx/core'
import { formatBytes } from './image.js'
import { OciLayout } from './layout.js'
import type { Descriptor, ImageManifest } from './oci.js'
import type { Destination } from './reference.js'
import type { PushStats, RegistryClient } from './registry.js'

export interface PushRequest {
  readonly layoutDir: string
  readonly manifest: Descriptor
  readonly dest: Destination
  readonly tags: readonly string[]
  /** The base image's repository on the destination registry, to mount its layers from. */
  readonly mountFrom?: string
  readonly concurrency?: number
}

export interface PushResult {
  readonly digest: string
  /** host/repo@sha256:… */
  readonly ref: string
  readonly tags: readonly string[]
  readonly stats: PushStats
}

async function pool<T>(items: readonly T[], n: number, work: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0
  let failed: unknown
  const runners = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length && failed === undefined) {
      const i = next++
      try {
        await work(items[i]!, i)
      } catch (err) {
        failed ??= err
      }
    }
  })
  await Promise.all(runners)
  if (failed !== undefined) throw failed
}

export async function pushImage(client: RegistryClient, req: PushRequest, log: Logger): Promise<PushResult> {
  const layout = await OciLayout.open(req.layoutDir)
  const manifestBytes = await layout.readBlob(req.manifest.digest)
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest
  const repo = req.dest.repository
  await client.ping()

  // Layers first, config after them, manifest last.
  const blobs = [...manifest.layers, manifest.config]
  for (const b of blobs) {
    if (!(await layout.hasBlob(b.digest, b.size))) throw new Error(`${req.layoutDir} lacks blob ${b.digest}: run \`mlx package --target docker\` again`)
  }
  await pool(blobs, req.concurrency ?? 3, async (b) => {
    const short = b.digest.slice(7, 19)
    if (await client.hasBlob(repo, b.digest)) {
      client.stats.existing++
      log.debug(`  ${short} already in ${repo}`)
      return
    }
    if (req.mountFrom && req.mountFrom !== repo && (await client.mountBlob(repo, b.digest, req.mountFrom))) {
      log.info(`  mounted  ${short} from ${req.mountFrom} (${formatBytes(b.size)})`)
      return
    }
    await client.uploadBlob(repo, b.digest, b.size, layout.blobPath(b.digest))
    log.info(`  uploaded ${short} (${formatBytes(b.size)})`)
  })

  let digest = ''
  for (const tag of req.tags) {
    digest = await client.putManifest(repo, tag, manifestBytes, manifest.mediaType ?? req.manifest.mediaType)
  }
  if (!req.tags.length) digest = await client.putManifest(repo, req.manifest.digest, manifestBytes, manifest.mediaType ?? req.manifest.mediaType)
  return { digest, ref: `${req.dest.registry}/${repo}@${digest}`, tags: req.tags, stats: client.stats }
}
