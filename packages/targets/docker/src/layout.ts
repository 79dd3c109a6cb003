/**
 * An OCI image layout on disk (image-spec image-layout.md): `oci-layout`, `index.json` and
 * content-addressed `blobs/sha256/<hex>`. Blobs are written to a temporary name and renamed into
 * place, so a blob file that exists is always complete.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import path from 'node:path'
import { checkDigest, isIndex, jsonBytes, MEDIA, platformMatches, sha256, type Descriptor, type ImageIndex, type Platform } from './oci.js'

export const REF_NAME = 'org.opencontainers.image.ref.name'

export class OciLayout {
  private constructor(readonly dir: string) {}

  /** Opens a layout, creating an empty one when `create` is set and none is there. */
  static async open(dir: string, opts: { create?: boolean } = {}): Promise<OciLayout> {
    const layout = new OciLayout(path.resolve(dir))
    const marker = path.join(layout.dir, 'oci-layout')
    const has = await stat(marker).then(() => true, () => false)
    if (!has) {
      if (!opts.create) throw new Error(`${dir} is not an OCI image layout (no oci-layout file)`)
      await mkdir(path.join(layout.dir, 'blobs', 'sha256'), { recursive: true })
      await writeFile(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }))
      await writeFile(path.join(layout.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [] }))
    } else {
      const v = JSON.parse(await readFile(marker, 'utf8')) as { imageLayoutVersion?: string }
      if (!v.imageLayoutVersion?.startsWith('1.')) throw new Error(`${marker}: unsupported imageLayoutVersion ${String(v.imageLayoutVersion)}`)
      await mkdir(path.join(layout.dir, 'blobs', 'sha256'), { recursive: true })
    }
    return layout
  }

  blobPath(digest: string): string {
    const [alg, hex] = checkDigest(digest).split(':') as [string, string]
    return path.join(this.dir, 'blobs', alg, hex)
  }

  async hasBlob(digest: string, size?: number): Promise<boolean> {
    const s = await stat(this.blobPath(digest)).catch(() => undefined)
    return !!s && s.isFile() && (size === undefined || s.size === size)
  }

  /** Reads a blob and checks that it hashes to its name. */
  async readBlob(digest: string): Promise<Buffer> {
    const bytes = await readFile(this.blobPath(digest))
    if (sha256(bytes) !== digest) throw new Error(`${this.blobPath(digest)} does not match its digest (corrupt layout)`)
    return bytes
  }

  /** Streams a blob file through sha256: for big layers, where readBlob would hold it all. */
  async verifyBlob(digest: string): Promise<boolean> {
    const h = createHash('sha256')
    for await (const chunk of createReadStream(this.blobPath(digest))) h.update(chunk as Buffer)
    return `sha256:${h.digest('hex')}` === digest
  }

  async writeBlob(bytes: Buffer): Promise<{ digest: string; size: number }> {
    const digest = sha256(bytes)
    if (!(await this.hasBlob(digest, bytes.length))) {
      const tmp = this.tempPath()
      await writeFile(tmp, bytes)
      await rename(tmp, this.blobPath(digest))
    }
    return { digest, size: bytes.length }
  }

  async writeJson(value: unknown): Promise<{ digest: string; size: number; bytes: Buffer }> {
    const bytes = jsonBytes(value)
    return { ...(await this.writeBlob(bytes)), bytes }
  }

  /** A file name inside the layout for a blob being written (same filesystem, so rename works). */
  tempPath(): string {
    return path.join(this.dir, 'blobs', `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
  }

  /** Moves a finished temporary file into place under its digest. */
  async adopt(tmp: string, digest: string): Promise<void> {
    await rename(tmp, this.blobPath(digest))
  }

  async readIndex(): Promise<ImageIndex> {
    return JSON.parse(await readFile(path.join(this.dir, 'index.json'), 'utf8')) as ImageIndex
  }

  async writeIndex(index: ImageIndex): Promise<void> {
    const tmp = path.join(this.dir, `.index.json.tmp-${process.pid}`)
    await writeFile(tmp, JSON.stringify(index, null, 2) + '\n')
    await rename(tmp, path.join(this.dir, 'index.json'))
  }

  /**
   * The image manifest for `tag` (matched against org.opencontainers.image.ref.name), or, without a
   * tag, the only image in the index; nested indexes are followed to the entry for `platform`.
   */
  async resolve(tag: string | undefined, platform: Platform): Promise<Descriptor> {
    const index = await this.readIndex()
    let candidates = index.manifests
    if (tag !== undefined) candidates = candidates.filter((d) => d.annotations?.[REF_NAME] === tag)
    if (!candidates.length) {
      const tags = index.manifests.map((d) => d.annotations?.[REF_NAME]).filter(Boolean)
      throw new Error(`${this.dir} has no image${tag ? ` tagged '${tag}'` : ''} (tags: ${tags.join(', ') || 'none'})`)
    }
    if (candidates.length > 1) {
      const fit = candidates.filter((d) => !d.platform || platformMatches(d.platform, platform))
      if (fit.length !== 1) throw new Error(`${this.dir} holds ${candidates.length} images; name one as oci:${this.dir}:TAG`)
      candidates = fit
    }
    let desc = candidates[0]!
    for (let depth = 0; isIndex(desc.mediaType); depth++) {
      if (depth > 4) throw new Error(`${this.dir}: index nesting too deep`)
      const nested = JSON.parse((await this.readBlob(desc.digest)).toString('utf8')) as ImageIndex
      const entry = nested.manifests.find((d) => platformMatches(d.platform, platform))
      if (!entry) throw new Error(`${this.dir}: no image for ${platform.os}/${platform.architecture} (has ${nested.manifests.map((d) => (d.platform ? `${d.platform.os}/${d.platform.architecture}` : '?')).join(', ')})`)
      desc = entry
    }
    return desc
  }

  /** Deletes blobs no longer referenced (and stray temporary files); returns how many went. */
  async collectGarbage(keep: ReadonlySet<string>): Promise<number> {
    let removed = 0
    const dir = path.join(this.dir, 'blobs', 'sha256')
    for (const name of await readdir(dir)) {
      if (!keep.has(`sha256:${name}`)) {
        await rm(path.join(dir, name), { force: true })
        removed++
      }
    }
    for (const name of await readdir(path.join(this.dir, 'blobs'))) if (name.startsWith('.tmp-')) await rm(path.join(this.dir, 'blobs', name), { force: true })
    return removed
  }
}
