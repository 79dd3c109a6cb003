/**
 * buildImage: the bundle as an OCI image on top of a base image, without a Docker daemon, the way
 * ko and Jib do it. The base's manifest, config and layers are read from a registry or a local OCI
 * layout; three layers are appended, least to most often changed (node_modules, models, app code);
 * the config gets Env, Entrypoint/Cmd, ExposedPorts, WorkingDir, User and labels. Everything is
 * written as an OCI image layout. Fixed times, sorted entries and fixed gzip framing make the same
 * bundle give the same digest.
 */
import { link, copyFile, lstat, readFile, readdir, readlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Bundle, Logger } from '@mlx/core'
import { OciLayout, REF_NAME } from './layout.js'
import {
  isIndex,
  isManifest,
  MEDIA,
  platformMatches,
  platformString,
  sha256,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from './oci.js'
import { formatRef, type BaseSource } from './reference.js'
import type { RegistryClient } from './registry.js'
import { withParents, writeTarGz, type TarEntry } from './tar.js'

export const APP_DIR = 'app'

export interface LayerInfo {
  /** node_modules, models, app, or base for the base image's own layers. */
  readonly name: string
  readonly mediaType: string
  readonly digest: string
  readonly size: number
  readonly diffId?: string
  readonly uncompressedSize?: number
  readonly files?: number
}

export interface BaseImage {
  /** As the user gave it (pinned or not). */
  readonly ref: string
  /** Where the base blobs can be mounted from when pushing to the same registry. */
  readonly registry?: string
  readonly repository?: string
  /** Digest of the platform-specific manifest used. */
  readonly digest: string
  readonly manifest: ImageManifest
  readonly manifestMediaType: string
  readonly config: ImageConfig
}

export interface BuiltImage {
  readonly layoutDir: string
  readonly manifest: Descriptor
  readonly manifestBytes: Buffer
  readonly config: Descriptor
  readonly layers: readonly LayerInfo[]
  readonly base: BaseImage
  readonly platform: Platform
}

export interface ImageSettings {
  readonly base: BaseSource
  readonly platform: Platform
  readonly user: string
  readonly port: number
  readonly env: Readonly<Record<string, string>>
  readonly labels: Readonly<Record<string, string>>
  /** Seconds since the epoch for file times and the config's `created`. */
  readonly epoch: number
  /** Names written as org.opencontainers.image.ref.name in index.json (skopeo's oci:DIR:TAG). */
  readonly refNames: readonly string[]
}

export interface BuildContext {
  readonly log: Logger
  /** A client for the base image's registry (only asked for when the base is not cached). */
  readonly registry: (name: string) => RegistryClient
  /** Where the resolved base digest is pinned between runs. */
  readonly pinFile: string
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`
  return `${(n / 1024 ** 3).toFixed(2)} GB`
}

// ---- base image -------------------------------------------------------------------------------

interface Pin {
  ref: string
  platform: string
  digest: string
}

/** Reads manifest + config, and makes sure every base blob is in `layout`. */
export async function resolveBase(source: BaseSource, platform: Platform, layout: OciLayout, ctx: BuildContext): Promise<BaseImage> {
  if (source.kind === 'layout') {
    const from = await OciLayout.open(source.dir)
    const desc = await from.resolve(source.tag, platform)
    const manifestBytes = await from.readBlob(desc.digest)
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest
    await layout.writeBlob(manifestBytes)
    for (const d of [manifest.config, ...manifest.layers]) {
      if (await layout.hasBlob(d.digest, d.size)) continue
      // Hard link when both layouts share a filesystem, copy otherwise.
      await link(from.blobPath(d.digest), layout.blobPath(d.digest)).catch(() => copyFile(from.blobPath(d.digest), layout.blobPath(d.digest)))
    }
    const config = JSON.parse((await layout.readBlob(manifest.config.digest)).toString('utf8')) as ImageConfig
    return { ref: `oci:${source.dir}${source.tag ? `:${source.tag}` : ''}`, digest: desc.digest, manifest, manifestMediaType: manifest.mediaType ?? desc.mediaType, config }
  }

  const ref = source.ref
  const refText = formatRef(ref)
  const wanted = platformString(platform)
  const pin = await readFile(ctx.pinFile, 'utf8').then((t) => JSON.parse(t) as Pin, () => undefined)
  let digest = pin && pin.ref === refText && pin.platform === wanted ? pin.digest : undefined
  // Offline path: the pinned manifest and all its blobs are already in the layout.
  if (digest && (await layout.hasBlob(digest))) {
    const manifest = JSON.parse((await layout.readBlob(digest)).toString('utf8')) as ImageManifest
    let complete = true
    for (const d of [manifest.config, ...manifest.layers]) if (!(await layout.hasBlob(d.digest, d.size))) complete = false
    if (complete) {
      ctx.log.debug(`base ${refText} pinned at ${digest} (cached)`)
      const config = JSON.parse((await layout.readBlob(manifest.config.digest)).toString('utf8')) as ImageConfig
      return { ref: refText, registry: ref.registry, repository: ref.repository, digest, manifest, manifestMediaType: manifest.mediaType ?? MEDIA.ociManifest, config }
    }
  }

  const client = ctx.registry(ref.registry)
  let got = await client.getManifest(ref.repository, digest ?? ref.digest ?? ref.tag ?? 'latest')
  if (isIndex(got.mediaType)) {
    const index = JSON.parse(got.bytes.toString('utf8')) as ImageIndex
    const entry = index.manifests.find((d) => isManifest(d.mediaType) && platformMatches(d.platform, platform))
    if (!entry) {
      const have = index.manifests.map((d) => (d.platform ? platformString(d.platform) : '?')).join(', ')
      throw new Error(`${refText} has no image for ${wanted} (it has ${have})`)
    }
    got = await client.getManifest(ref.repository, entry.digest)
  }
  if (!isManifest(got.mediaType)) throw new Error(`${refText}: unsupported manifest type '${got.mediaType}'`)
  const manifest = JSON.parse(got.bytes.toString('utf8')) as ImageManifest
  await layout.writeBlob(got.bytes)
  if (!(await layout.hasBlob(manifest.config.digest, manifest.config.size))) await layout.writeBlob(await client.getBlob(ref.repository, manifest.config.digest))
  let i = 0
  for (const d of manifest.layers) {
    i++
    if (await layout.hasBlob(d.digest, d.size)) continue
    ctx.log.info(`  pulling base layer ${i}/${manifest.layers.length} ${d.digest.slice(7, 19)} (${formatBytes(d.size)})`)
    const tmp = layout.tempPath()
    await client.downloadBlob(ref.repository, d.digest, tmp)
    await layout.adopt(tmp, d.digest)
  }
  const config = JSON.parse((await layout.readBlob(manifest.config.digest)).toString('utf8')) as ImageConfig
  await writeFile(ctx.pinFile, JSON.stringify({ ref: refText, platform: wanted, digest: got.digest } satisfies Pin, null, 2) + '\n')
  if (!ref.digest && got.digest !== pin?.digest) ctx.log.info(`  base ${refText} resolved to ${got.digest} (pinned in ${path.basename(ctx.pinFile)})`)
  return { ref: refText, registry: ref.registry, repository: ref.repository, digest: got.digest, manifest, manifestMediaType: got.mediaType, config }
}

// ---- layers from the bundle -------------------------------------------------------------------

interface FileNode {
  rel: string
  type: 'file' | 'dir' | 'symlink'
  executable: boolean
  size: number
  abs: string
  linkname?: string
}

async function walk(root: string, rel = ''): Promise<FileNode[]> {
  const out: FileNode[] = []
  const abs = path.join(root, rel)
  for (const name of (await readdir(abs)).sort()) {
    const r = rel ? `${rel}/${name}` : name
    const full = path.join(root, r)
    const st = await lstat(full)
    if (st.isSymbolicLink()) out.push({ rel: r, type: 'symlink', executable: false, size: 0, abs: full, linkname: await readlink(full) })
    else if (st.isDirectory()) {
      out.push({ rel: r, type: 'dir', executable: true, size: 0, abs: full })
      out.push(...(await walk(root, r)))
    } else if (st.isFile()) out.push({ rel: r, type: 'file', executable: (st.mode & 0o111) !== 0, size: st.size, abs: full })
  }
  return out
}

/** Files are root-owned and read-only to the app user: the running server cannot rewrite itself. */
function toEntry(n: FileNode): TarEntry {
  const p = `${APP_DIR}/${n.rel}`
  if (n.type === 'dir') return { path: p, type: 'dir', mode: 0o755 }
  if (n.type === 'symlink') return { path: p, type: 'symlink', mode: 0o777, linkname: n.linkname }
  return { path: p, type: 'file', mode: n.executable ? 0o755 : 0o644, size: n.size, source: n.abs }
}

/** Splits the bundle into the three layers, by path: node_modules, model files, the rest. */
export async function bundleLayers(bundle: Bundle): Promise<{ name: string; comment: string; entries: TarEntry[] }[]> {
  const models = Object.values(bundle.project.models).map((m) => path.relative(bundle.project.root, m.path).split(path.sep).join('/'))
  const inModels = (rel: string) => models.some((m) => rel === m || rel.startsWith(`${m}/`))
  const nodes = await walk(bundle.dir)
  const deps: TarEntry[] = []
  const model: TarEntry[] = []
  const app: TarEntry[] = []
  for (const n of nodes) {
    if (n.rel === 'node_modules' || n.rel.startsWith('node_modules/')) deps.push(toEntry(n))
    else if (inModels(n.rel)) model.push(toEntry(n))
    // Directories on the way to a model stay out of the app layer (withParents adds them to the model layer).
    else if (n.type === 'dir' && models.some((m) => m.startsWith(`${n.rel}/`))) continue
    else app.push(toEntry(n))
  }
  const p = bundle.info.platform
  return [
    { name: 'node_modules', comment: `production node_modules for ${p.os}/${p.arch}`, entries: deps },
    { name: 'models', comment: `model files: ${models.join(', ')}`, entries: model },
    { name: 'app', comment: 'mlx.yaml, server.mjs, handlers, reference data', entries: app },
  ]
}

// ---- the image --------------------------------------------------------------------------------

function mergeEnv(base: readonly string[] | undefined, add: Readonly<Record<string, string>>): string[] {
  const order: string[] = []
  const values = new Map<string, string>()
  for (const kv of base ?? []) {
    const i = kv.indexOf('=')
    const k = i < 0 ? kv : kv.slice(0, i)
    if (!values.has(k)) order.push(k)
    values.set(k, i < 0 ? '' : kv.slice(i + 1))
  }
  if (!values.has('PATH')) {
    order.unshift('PATH')
    values.set('PATH', DEFAULT_PATH)
  }
  for (const [k, v] of Object.entries(add)) {
    if (!values.has(k)) order.push(k)
    values.set(k, v)
  }
  return order.map((k) => `${k}=${values.get(k)}`)
}

export async function buildImage(bundle: Bundle, layoutDir: string, s: ImageSettings, ctx: BuildContext): Promise<BuiltImage> {
  const layout = await OciLayout.open(layoutDir, { create: true })
  const base = await ctx.log.step(`Reading base image ${s.base.kind === 'layout' ? `oci:${s.base.dir}` : formatRef(s.base.ref)}`, () => resolveBase(s.base, s.platform, layout, ctx))
  if (base.config.os !== s.platform.os || base.config.architecture !== s.platform.architecture) {
    throw new Error(`the base image ${base.ref} is ${base.config.os}/${base.config.architecture}, not ${platformString(s.platform)}`)
  }
  const docker = base.manifestMediaType === MEDIA.dockerManifest
  const layerType = docker ? MEDIA.dockerLayerGzip : MEDIA.ociLayerGzip
  const created = new Date(s.epoch * 1000).toISOString().replace(/\.000Z$/, 'Z')

  const layers: LayerInfo[] = base.manifest.layers.map((d) => ({ name: 'base', mediaType: d.mediaType, digest: d.digest, size: d.size }))
  const added: LayerInfo[] = []
  const parts = await bundleLayers(bundle)
  for (const l of parts) {
    const entries = withParents(l.entries)
    const tmp = layout.tempPath()
    const d = await writeTarGz(entries, tmp, { mtime: s.epoch })
    await layout.adopt(tmp, d.digest)
    const info: LayerInfo = { name: l.name, mediaType: layerType, digest: d.digest, size: d.size, diffId: d.diffId, uncompressedSize: d.uncompressedSize, files: entries.filter((e) => e.type === 'file').length }
    added.push(info)
    layers.push(info)
  }

  const baseConfig = structuredClone(base.config)
  const cfg = baseConfig.config ?? {}
  const config: ImageConfig = {
    ...baseConfig,
    created,
    architecture: base.config.architecture,
    os: base.config.os,
    config: {
      ...cfg,
      User: s.user,
      ExposedPorts: { [`${s.port}/tcp`]: {} },
      Env: mergeEnv(cfg.Env, { ...s.env, NODE_ENV: 'production', PORT: String(s.port) }),
      Entrypoint: ['node'],
      Cmd: ['server.mjs'],
      WorkingDir: `/${APP_DIR}`,
      Labels: { ...cfg.Labels, ...s.labels },
      StopSignal: 'SIGTERM',
    },
    rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, ...added.map((l) => l.diffId!)] },
    history: [
      ...(baseConfig.history ?? []),
      ...added.map((l, i) => ({ created, created_by: `mlx: ${l.name}`, comment: parts[i]!.comment })),
    ],
  }
  delete config.author
  const configBlob = await layout.writeJson(config)
  const configDesc: Descriptor = { mediaType: docker ? MEDIA.dockerConfig : MEDIA.ociConfig, digest: configBlob.digest, size: configBlob.size }

  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: docker ? MEDIA.dockerManifest : MEDIA.ociManifest,
    config: configDesc,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(docker
      ? {}
      : {
          annotations: {
            'org.opencontainers.image.base.name': base.ref.replace(/@sha256:[a-f0-9]+$/, ''),
            'org.opencontainers.image.base.digest': base.digest,
            'org.opencontainers.image.created': created,
          },
        }),
  }
  const manifestBlob = await layout.writeJson(manifest)
  const manifestDesc: Descriptor = { mediaType: manifest.mediaType!, digest: manifestBlob.digest, size: manifestBlob.size }
  if (sha256(manifestBlob.bytes) !== manifestDesc.digest) throw new Error('manifest digest mismatch')

  // index.json last: until it is written, the layout still names the previous image.
  await layout.writeIndex({
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: s.refNames.map((t) => ({ ...manifestDesc, platform: { os: config.os, architecture: config.architecture }, annotations: { [REF_NAME]: t } })),
  })
  const keep = new Set([manifestDesc.digest, configDesc.digest, ...layers.map((l) => l.digest)])
  const removed = await layout.collectGarbage(keep)
  if (removed) ctx.log.debug(`removed ${removed} unreferenced blob(s) from ${layoutDir}`)
  return { layoutDir: layout.dir, manifest: manifestDesc, manifestBytes: manifestBlob.bytes, config: configDesc, layers, base, platform: s.platform }
}
