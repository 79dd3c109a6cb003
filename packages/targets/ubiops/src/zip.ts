import { createWriteStream } from 'node:fs'
import { open } from 'node:fs/promises'
import zlib from 'node:zlib'
import { ZipArchive } from 'archiver'

/** One file in the archive: its path inside the zip (forward slashes) and where its bytes come from. */
export interface ZipEntry {
  readonly name: string
  readonly source: string | Buffer
  /** Unix permission bits (0o644 unless the source file is executable). */
  readonly mode?: number
}

export interface ZipResult {
  readonly bytes: number
  readonly entries: number
}

// Entries carry the zip epoch, not the build time, so the same input gives the same entries.
const ZIP_EPOCH = new Date(1980, 0, 1, 0, 0, 0)

/**
 * Writes a deflate archive with archiver, entries in the given order. File entries are opened
 * lazily (a bundle holds thousands of files); archiver switches to zip64 by itself past 4 GiB,
 * which Python's zipfile (UbiOps' unpacker) reads.
 */
export async function writeZip(file: string, entries: readonly ZipEntry[], opts: { level?: number; signal?: AbortSignal } = {}): Promise<ZipResult> {
  const archive = new ZipArchive({ zlib: { level: opts.level ?? 6 } })
  const out = createWriteStream(file)
  const written = new Promise<void>((resolve, reject) => {
    out.once('close', resolve)
    out.once('error', reject)
    archive.once('error', reject)
    // archiver warns on e.g. a file that vanished: a package missing a file is not a package.
    archive.once('warning', reject)
  })
  const onAbort = () => archive.abort()
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    archive.pipe(out)
    for (const e of entries) {
      const data = { name: e.name, date: ZIP_EPOCH, ...(e.mode !== undefined ? { mode: e.mode } : {}) }
      if (typeof e.source === 'string') archive.file(e.source, data)
      else archive.append(e.source, data)
    }
    await Promise.all([archive.finalize(), written])
    opts.signal?.throwIfAborted()
    return { bytes: archive.pointer(), entries: entries.length }
  } catch (err) {
    out.destroy()
    throw err
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
  }
}

export interface ZipListing {
  readonly name: string
  readonly size: number
  readonly compressedSize: number
  readonly offset: number
  readonly method: number
}

/** The central directory of a zip: what UbiOps will find in it, read without unpacking. */
export async function listZip(file: string): Promise<ZipListing[]> {
  const fh = await open(file, 'r')
  try {
    const { size } = await fh.stat()
    const tailLen = Math.min(size, 22 + 0xffff)
    const tail = Buffer.alloc(tailLen)
    await fh.read(tail, 0, tailLen, size - tailLen)
    let eocd = -1
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i
        break
      }
    }
    if (eocd < 0) throw new Error('not a zip file (no end of central directory)')
    const count = tail.readUInt16LE(eocd + 10)
    const cdSize = tail.readUInt32LE(eocd + 12)
    const cdOffset = tail.readUInt32LE(eocd + 16)
    const cd = Buffer.alloc(cdSize)
    await fh.read(cd, 0, cdSize, cdOffset)
    const out: ZipListing[] = []
    let p = 0
    for (let i = 0; i < count; i++) {
      if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error(`corrupt central directory at entry ${i}`)
      const nameLen = cd.readUInt16LE(p + 28)
      const extraLen = cd.readUInt16LE(p + 30)
      const commentLen = cd.readUInt16LE(p + 32)
      out.push({
        name: cd.toString('utf8', p + 46, p + 46 + nameLen),
        method: cd.readUInt16LE(p + 10),
        compressedSize: cd.readUInt32LE(p + 20),
        size: cd.readUInt32LE(p + 24),
        offset: cd.readUInt32LE(p + 42),
      })
      p += 46 + nameLen + extraLen + commentLen
    }
    return out
  } finally {
    await fh.close()
  }
}

/** One entry's bytes (for the small text files validation reads back). */
export async function readZipEntry(file: string, entry: ZipListing): Promise<Buffer> {
  const fh = await open(file, 'r')
  try {
    const head = Buffer.alloc(30)
    await fh.read(head, 0, 30, entry.offset)
    const start = entry.offset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28)
    const body = Buffer.alloc(entry.compressedSize)
    await fh.read(body, 0, entry.compressedSize, start)
    return entry.method === 8 ? zlib.inflateRawSync(body) : body
  } finally {
    await fh.close()
  }
}
